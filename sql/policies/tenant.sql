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

-- Settings change only through audit.change_setting (0014_governed_settings.sql): the service
-- role may update one column, feed_seq, which numbers the tenant's ingest commits on Citus
-- (sql/0027_commit_ordered_feed.sql), as the publisher of that tenant.
DROP POLICY IF EXISTS tenant_change ON audit.tenant;

DROP POLICY IF EXISTS tenant_feed_seq ON audit.tenant;
CREATE POLICY tenant_feed_seq ON audit.tenant FOR UPDATE TO auditlog_app
    USING (tenant_id = current_setting('auditlog.tenant', true)
           AND current_setting('auditlog.role', true) = 'publisher')
    WITH CHECK (tenant_id = current_setting('auditlog.tenant', true)
                AND current_setting('auditlog.role', true) = 'publisher');
GRANT UPDATE (feed_seq) ON audit.tenant TO auditlog_app;

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

-- The vendor-wide context '*' (sql/0019_vendor_streams.sql) reads every tenant's row: a
-- vendor-wide stream on Citus follows each tenant's commit number (sql/0027_commit_ordered_feed.sql).
-- It is the context of the vendor's unrestricted publisher key, which may act in any tenant.
DROP POLICY IF EXISTS tenant_vendor_read ON audit.tenant;
CREATE POLICY tenant_vendor_read ON audit.tenant FOR SELECT TO auditlog_app
    USING (current_setting('auditlog.tenant', true) = '*'
           AND current_setting('auditlog.role', true) IN ('publisher', 'maintenance'));
