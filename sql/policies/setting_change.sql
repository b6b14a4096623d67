-- Row-level security policies of audit.setting_change (repeatable: re-applied when this file changes).
--
-- The tenant's readers see its setting changes, pending and past; nobody but the definer
-- functions of sql/functions/change_setting.sql writes them.

SET LOCAL ROLE auditlog_owner;

DROP POLICY IF EXISTS setting_change_owner ON audit.setting_change;
CREATE POLICY setting_change_owner ON audit.setting_change FOR ALL TO auditlog_owner
    USING (true)
    WITH CHECK (true);

DROP POLICY IF EXISTS setting_change_read ON audit.setting_change;
CREATE POLICY setting_change_read ON audit.setting_change FOR SELECT TO auditlog_app
    USING (tenant_id = current_setting('auditlog.tenant', true)
           AND current_setting('auditlog.role', true) IN ('owner', 'admin', 'support', 'publisher', 'maintenance'));
