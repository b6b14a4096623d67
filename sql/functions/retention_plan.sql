-- audit.retention_plan (repeatable: re-applied when this file changes).
--
-- Per tenant: its retention, hold, how many rows a pass at `as_of` would remove, and the
-- oldest event it would keep.

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.retention_plan(as_of timestamp with time zone)
RETURNS TABLE (tenant_id text, retention_days integer, legal_hold boolean, expired bigint, oldest_kept timestamptz)
LANGUAGE plpgsql
STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    global_days integer := audit.global_retention_days();
    tenant record;
    cutoff timestamptz;
BEGIN
    -- Tenant by tenant, each count bound to one tenant: on Citus every statement is then a
    -- single-shard router query (one correlated statement over all tenants took seconds there).
    FOR tenant IN SELECT t.tenant_id, t.retention_days, t.legal_hold FROM audit.tenant AS t ORDER BY t.tenant_id LOOP
        tenant_id := tenant.tenant_id;
        retention_days := least(tenant.retention_days, global_days);
        legal_hold := tenant.legal_hold;
        cutoff := as_of - make_interval(days => retention_days);
        expired := 0;
        IF NOT tenant.legal_hold THEN
            SELECT count(*) INTO expired FROM audit.event AS e
            WHERE e.tenant_id = tenant.tenant_id AND e.occurred_at < cutoff;
        END IF;
        SELECT min(e.occurred_at) INTO oldest_kept FROM audit.event AS e
        WHERE e.tenant_id = tenant.tenant_id AND (tenant.legal_hold OR e.occurred_at >= cutoff);
        RETURN NEXT;
    END LOOP;
END
$$;

REVOKE ALL ON FUNCTION audit.retention_plan(as_of timestamp with time zone) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.retention_plan(as_of timestamp with time zone) TO auditlog_app;
