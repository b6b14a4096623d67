-- Tenant isolation, enforced by PostgreSQL rather than by the HTTP layer.
--
-- Each transaction of the service says whom it acts for:
--     BEGIN; SET LOCAL auditlog.tenant = 'org_42'; SET LOCAL auditlog.role = 'admin';
-- (SET LOCAL, not set_config(): only SET LOCAL reaches Citus worker shards, with
-- citus.propagate_set_commands = 'local'.) With no tenant set, current_setting(…, true)
-- is NULL or '' and matches no row, so a forgotten context reads nothing instead of
-- everything. Readers: owner, admin, support, and publisher (the SaaS backend's key);
-- member reads nothing. Writes need the publisher role and the matching tenant.
--
-- FORCE makes the policies apply to the table owner too; auditlog_owner's own
-- USING (true) policies exist for the SECURITY DEFINER maintenance functions.

SET LOCAL ROLE auditlog_owner;

ALTER TABLE audit.tenant ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.tenant FORCE ROW LEVEL SECURITY;
ALTER TABLE audit.event ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.event FORCE ROW LEVEL SECURITY;
ALTER TABLE audit.event_target ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.event_target FORCE ROW LEVEL SECURITY;
ALTER TABLE audit.api_key ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.api_key FORCE ROW LEVEL SECURITY;
ALTER TABLE audit.digest ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.digest FORCE ROW LEVEL SECURITY;

-- Tenants: readers see their own row; the publisher creates it; owner or publisher change settings.
CREATE POLICY tenant_read ON audit.tenant FOR SELECT TO auditlog_app
    USING (tenant_id = current_setting('auditlog.tenant', true)
           AND current_setting('auditlog.role', true) IN ('owner', 'admin', 'support', 'publisher'));
CREATE POLICY tenant_create ON audit.tenant FOR INSERT TO auditlog_app
    WITH CHECK (tenant_id = current_setting('auditlog.tenant', true)
                AND current_setting('auditlog.role', true) = 'publisher');
CREATE POLICY tenant_change ON audit.tenant FOR UPDATE TO auditlog_app
    USING (tenant_id = current_setting('auditlog.tenant', true)
           AND current_setting('auditlog.role', true) IN ('owner', 'publisher'))
    WITH CHECK (tenant_id = current_setting('auditlog.tenant', true)
                AND current_setting('auditlog.role', true) IN ('owner', 'publisher'));
CREATE POLICY tenant_owner ON audit.tenant TO auditlog_owner USING (true) WITH CHECK (true);

-- Events and their targets: read by readers of the tenant, written by its publisher.
CREATE POLICY event_read ON audit.event FOR SELECT TO auditlog_app
    USING (tenant_id = current_setting('auditlog.tenant', true)
           AND current_setting('auditlog.role', true) IN ('owner', 'admin', 'support', 'publisher'));
CREATE POLICY event_write ON audit.event FOR INSERT TO auditlog_app
    WITH CHECK (tenant_id = current_setting('auditlog.tenant', true)
                AND current_setting('auditlog.role', true) = 'publisher');
CREATE POLICY event_owner ON audit.event TO auditlog_owner USING (true) WITH CHECK (true);

CREATE POLICY event_target_read ON audit.event_target FOR SELECT TO auditlog_app
    USING (tenant_id = current_setting('auditlog.tenant', true)
           AND current_setting('auditlog.role', true) IN ('owner', 'admin', 'support', 'publisher'));
CREATE POLICY event_target_write ON audit.event_target FOR INSERT TO auditlog_app
    WITH CHECK (tenant_id = current_setting('auditlog.tenant', true)
                AND current_setting('auditlog.role', true) = 'publisher');
CREATE POLICY event_target_owner ON audit.event_target TO auditlog_owner USING (true) WITH CHECK (true);

-- Digests: readable by the tenant's readers; written only by the maintenance functions.
CREATE POLICY digest_read ON audit.digest FOR SELECT TO auditlog_app
    USING (tenant_id = current_setting('auditlog.tenant', true)
           AND current_setting('auditlog.role', true) IN ('owner', 'admin', 'support', 'publisher'));
CREATE POLICY digest_owner ON audit.digest TO auditlog_owner USING (true) WITH CHECK (true);

-- API keys: no policy for the service role at all; it authenticates through
-- audit.authenticate_api_key (0004), which returns only the matching key.
CREATE POLICY api_key_owner ON audit.api_key TO auditlog_owner USING (true) WITH CHECK (true);

-- Privileges: no UPDATE, DELETE or TRUNCATE on events for the service role.
GRANT SELECT, INSERT ON audit.tenant TO auditlog_app;
GRANT UPDATE (retention_days, legal_hold, updated_at) ON audit.tenant TO auditlog_app;
GRANT SELECT, INSERT ON audit.event TO auditlog_app;
GRANT SELECT, INSERT ON audit.event_target TO auditlog_app;
GRANT SELECT ON audit.digest TO auditlog_app;
