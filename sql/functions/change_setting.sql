-- audit.change_setting (repeatable: re-applied when this file changes).
--
-- The one way a tenant's retention or legal hold changes (0014_governed_settings.sql). The tenant
-- and the role come from the transaction's SET LOCAL context, like every policy. Whatever role the
-- caller claims, nothing here removes history sooner than the grace period: lifting a hold and
-- shortening a retention are only ever recorded as pending. Values are read into variables
-- first: on Citus, statements on the tenant tables run on a worker, where audit.retention_policy's
-- functions do not exist.

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.change_setting(setting_name text, value text, reason text, actor text)
RETURNS TABLE (change_id text, old_value text, new_value text, effective_at timestamptz, applied boolean)
LANGUAGE plpgsql
VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tenant text := current_setting('auditlog.tenant', true);
    role text := current_setting('auditlog.role', true);
    global_days integer := audit.global_retention_days();
    grace integer;
    current_days integer;
    current_hold boolean;
    days integer;
    hold boolean;
    immediate boolean;
    stamp timestamptz := now();
    id text := gen_random_uuid()::text;
    old_text text;
BEGIN
    IF coalesce(tenant, '') = '' THEN
        RAISE EXCEPTION 'no tenant in this transaction' USING ERRCODE = '42501';
    END IF;
    SELECT p.grace_seconds INTO grace FROM audit.retention_policy AS p;
    IF setting_name = 'legal_hold' THEN
        IF role IS DISTINCT FROM 'publisher' THEN
            RAISE EXCEPTION 'only the publisher places or lifts a legal hold' USING ERRCODE = '42501';
        END IF;
        IF value NOT IN ('true', 'false') THEN
            RAISE EXCEPTION 'legal_hold is true or false' USING ERRCODE = '22023';
        END IF;
        IF coalesce(btrim(reason), '') = '' OR length(reason) > 1000 THEN
            RAISE EXCEPTION 'a legal hold change needs a reason (1 to 1000 characters)' USING ERRCODE = '22023';
        END IF;
        hold := value::boolean;
    ELSIF setting_name = 'retention_days' THEN
        IF role IS DISTINCT FROM 'publisher' AND role IS DISTINCT FROM 'owner' THEN
            RAISE EXCEPTION 'only an owner or the publisher changes the retention' USING ERRCODE = '42501';
        END IF;
        IF value !~ '^[0-9]{1,4}$' OR value::integer NOT BETWEEN 1 AND global_days THEN
            RAISE EXCEPTION 'retention_days must be a whole number from 1 to %', global_days USING ERRCODE = '22023';
        END IF;
        days := value::integer;
    ELSE
        RAISE EXCEPTION 'unknown setting %', setting_name USING ERRCODE = '22023';
    END IF;
    IF reason IS NOT NULL AND length(reason) > 1000 THEN
        RAISE EXCEPTION 'a reason is at most 1000 characters' USING ERRCODE = '22023';
    END IF;

    INSERT INTO audit.tenant AS t (tenant_id) VALUES (tenant) ON CONFLICT DO NOTHING;
    SELECT t.retention_days, t.legal_hold INTO current_days, current_hold
    FROM audit.tenant AS t WHERE t.tenant_id = tenant FOR UPDATE;

    IF setting_name = 'legal_hold' THEN
        old_text := current_hold::text;
        immediate := hold OR NOT current_hold;       -- placing (or keeping off) is at once
    ELSE
        old_text := current_days::text;
        immediate := days >= current_days;           -- lengthening is at once
    END IF;

    -- A new request supersedes what was pending for the same setting.
    UPDATE audit.setting_change AS c SET cancelled_at = stamp, cancelled_by = 'superseded'
    WHERE c.tenant_id = tenant AND c.setting = setting_name AND c.applied_at IS NULL AND c.cancelled_at IS NULL;

    IF immediate THEN
        IF setting_name = 'legal_hold' THEN
            UPDATE audit.tenant AS t SET legal_hold = hold, updated_at = stamp WHERE t.tenant_id = tenant;
        ELSE
            UPDATE audit.tenant AS t SET retention_days = days, updated_at = stamp WHERE t.tenant_id = tenant;
        END IF;
    END IF;
    INSERT INTO audit.setting_change AS c (
        tenant_id, change_id, setting, old_value, new_value, requested_by, requested_role,
        reason, requested_at, effective_at, applied_at)
    VALUES (tenant, id, setting_name, old_text, value, coalesce(actor, ''), role, reason, stamp,
            CASE WHEN immediate THEN stamp ELSE stamp + make_interval(secs => grace) END,
            CASE WHEN immediate THEN stamp END);
    RETURN QUERY SELECT id, old_text, value,
        CASE WHEN immediate THEN stamp ELSE stamp + make_interval(secs => grace) END, immediate;
END
$$;

REVOKE ALL ON FUNCTION audit.change_setting(setting_name text, value text, reason text, actor text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.change_setting(setting_name text, value text, reason text, actor text) TO auditlog_app;
