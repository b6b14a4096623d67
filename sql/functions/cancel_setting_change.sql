-- audit.cancel_setting_change (repeatable: re-applied when this file changes).
--
-- The publisher withdraws a pending setting change before it takes effect (0014_governed_settings.sql).

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.cancel_setting_change(pending_id text, actor text)
RETURNS TABLE (setting text, old_value text, new_value text)
LANGUAGE plpgsql
VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tenant text := current_setting('auditlog.tenant', true);
BEGIN
    IF coalesce(tenant, '') = '' OR current_setting('auditlog.role', true) IS DISTINCT FROM 'publisher' THEN
        RAISE EXCEPTION 'only the publisher cancels a pending setting change' USING ERRCODE = '42501';
    END IF;
    RETURN QUERY
        UPDATE audit.setting_change AS c SET cancelled_at = now(), cancelled_by = coalesce(actor, '')
        WHERE c.tenant_id = tenant AND c.change_id = pending_id AND c.applied_at IS NULL AND c.cancelled_at IS NULL
        RETURNING c.setting, c.old_value, c.new_value;
END
$$;

REVOKE ALL ON FUNCTION audit.cancel_setting_change(pending_id text, actor text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.cancel_setting_change(pending_id text, actor text) TO auditlog_app;
