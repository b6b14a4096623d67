-- Row-level security policies of audit.retention_policy (repeatable: re-applied when this file changes).
--
-- The service role (auditlog_app) sees and writes only the rows of the tenant its transaction
-- names with SET LOCAL auditlog.tenant, under the role it names with SET LOCAL auditlog.role;
-- the schema owner sees everything. Dropped and created again in one transaction, so no
-- moment exists in which a table has no policy (FORCE ROW LEVEL SECURITY stays on throughout).

SET LOCAL ROLE auditlog_owner;

DROP POLICY IF EXISTS retention_policy_owner ON audit.retention_policy;
CREATE POLICY retention_policy_owner ON audit.retention_policy FOR ALL TO auditlog_owner
    USING (true)
    WITH CHECK (true);
