-- Row-level security policies of audit.tenant (repeatable: re-applied when this file changes).
--
-- The service role (auditlog_app) sees and writes only the rows of the tenant its transaction
-- names with SET LOCAL auditlog.tenant, under the role it names with SET LOCAL auditlog.role;
-- the schema owner sees everything. Dropped and created again in one transaction, so no
-- moment exists in which a table has no policy (FORCE ROW LEVEL SECURITY stays on throughout).

SET LOCAL ROLE auditlog_owner;

-- A tenant row the service role creates (with its first event) has the default settings: on
-- Citus the coordinator names every column in the shard's INSERT, so the bound is stated here
-- as well as by the column privilege (CitusLayout).

-- No UPDATE policy: settings change only through audit.change_setting (0014_governed_settings.sql).
DROP POLICY IF EXISTS tenant_change ON audit.tenant;

DROP POLICY IF EXISTS tenant_create ON audit.tenant;
CREATE POLICY tenant_create ON audit.tenant FOR INSERT TO auditlog_app
    WITH CHECK (tenant_id = current_setting('auditlog.tenant', true)
                AND current_setting('auditlog.role', true) = 'publisher'
                AND retention_days >= 90 AND NOT legal_hold);

DROP POLICY IF EXISTS tenant_owner ON audit.tenant;
CREATE POLICY tenant_owner ON audit.tenant FOR ALL TO auditlog_owner
    USING (true)
    WITH CHECK (true);

DROP POLICY IF EXISTS tenant_read ON audit.tenant;
CREATE POLICY tenant_read ON audit.tenant FOR SELECT TO auditlog_app
    USING (tenant_id = current_setting('auditlog.tenant', true)
           AND current_setting('auditlog.role', true) IN ('owner', 'admin', 'support', 'publisher', 'maintenance'));
