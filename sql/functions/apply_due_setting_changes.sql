-- audit.apply_due_setting_changes (repeatable: re-applied when this file changes).
--
-- Run by the maintenance pass before anything is pruned: every pending setting change whose
-- effective time has come takes effect, tenant by tenant (0014_governed_settings.sql).

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.apply_due_setting_changes()
RETURNS TABLE (tenant_id text, change_id text, setting text, old_value text, new_value text, requested_by text)
LANGUAGE plpgsql
VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    due record;
    stamp timestamptz := now();
BEGIN
    FOR due IN
        SELECT c.tenant_id, c.change_id, c.setting, c.old_value, c.new_value, c.requested_by
        FROM audit.setting_change AS c
        WHERE c.applied_at IS NULL AND c.cancelled_at IS NULL AND c.effective_at <= stamp
        ORDER BY c.effective_at
    LOOP
        IF due.setting = 'legal_hold' THEN
            UPDATE audit.tenant AS t SET legal_hold = due.new_value::boolean, updated_at = stamp
            WHERE t.tenant_id = due.tenant_id;
        ELSE
            UPDATE audit.tenant AS t SET retention_days = due.new_value::integer, updated_at = stamp
            WHERE t.tenant_id = due.tenant_id;
        END IF;
        UPDATE audit.setting_change AS c SET applied_at = stamp
        WHERE c.tenant_id = due.tenant_id AND c.change_id = due.change_id;
        tenant_id := due.tenant_id; change_id := due.change_id; setting := due.setting;
        old_value := due.old_value; new_value := due.new_value; requested_by := due.requested_by;
        RETURN NEXT;
    END LOOP;
END
$$;

REVOKE ALL ON FUNCTION audit.apply_due_setting_changes() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.apply_due_setting_changes() TO auditlog_app;
