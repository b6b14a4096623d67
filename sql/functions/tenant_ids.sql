-- audit.tenant_ids (repeatable: re-applied when this file changes).
--
-- Every tenant key, for the maintenance pass to visit each tenant in its own context.

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.tenant_ids()
RETURNS SETOF text
LANGUAGE plpgsql
STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY SELECT t.tenant_id FROM audit.tenant AS t ORDER BY t.tenant_id;
END
$$;

REVOKE ALL ON FUNCTION audit.tenant_ids() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.tenant_ids() TO auditlog_app;
