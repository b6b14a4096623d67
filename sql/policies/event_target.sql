-- Row-level security policies of audit.event_target (repeatable: re-applied when this file changes).
--
-- The service role (auditlog_app) sees and writes only the rows of the tenant its transaction
-- names with SET LOCAL auditlog.tenant, under the role it names with SET LOCAL auditlog.role;
-- the schema owner sees everything. Dropped and created again in one transaction, so no
-- moment exists in which a table has no policy (FORCE ROW LEVEL SECURITY stays on throughout).

SET LOCAL ROLE auditlog_owner;

DROP POLICY IF EXISTS event_target_owner ON audit.event_target;
CREATE POLICY event_target_owner ON audit.event_target FOR ALL TO auditlog_owner
    USING (true)
    WITH CHECK (true);

DROP POLICY IF EXISTS event_target_read ON audit.event_target;
CREATE POLICY event_target_read ON audit.event_target FOR SELECT TO auditlog_app
    USING (tenant_id = current_setting('auditlog.tenant', true)
           AND current_setting('auditlog.role', true) IN ('owner', 'admin', 'support', 'publisher', 'maintenance'));

DROP POLICY IF EXISTS event_target_write ON audit.event_target;
CREATE POLICY event_target_write ON audit.event_target FOR INSERT TO auditlog_app
    WITH CHECK (tenant_id = current_setting('auditlog.tenant', true)
                AND current_setting('auditlog.role', true) = 'publisher');
