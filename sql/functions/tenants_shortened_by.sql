-- audit.tenants_shortened_by: the tenants a global cut from `from_days` to `to_days` shortens (repeatable).
--
-- Those whose effective retention under `from_days` (their own, capped by it) is longer than
-- `to_days`: the ones whose logs record the cut. With that effective retention.

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.tenants_shortened_by(from_days integer, to_days integer)
RETURNS TABLE (tenant_id text, retention_days integer)
LANGUAGE plpgsql
STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
        SELECT t.tenant_id, least(t.retention_days, from_days)
        FROM audit.tenant AS t
        WHERE least(t.retention_days, from_days) > to_days
        ORDER BY t.tenant_id;
END
$$;

REVOKE ALL ON FUNCTION audit.tenants_shortened_by(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.tenants_shortened_by(integer, integer) TO auditlog_app;
