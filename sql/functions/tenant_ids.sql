-- audit.tenant_ids: its current definition (repeatable: re-applied when this file changes).
--
-- Every tenant key, for the maintenance pass to visit each tenant in its own context.
--
-- Until this file, the function was defined by 0007_digests.sql; from now on it changes here only.

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.tenant_ids()
 RETURNS SETOF text
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    RETURN QUERY SELECT t.tenant_id FROM audit.tenant AS t ORDER BY t.tenant_id;
END
$function$;

REVOKE ALL ON FUNCTION audit.tenant_ids() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.tenant_ids() TO auditlog_app;
