-- audit.tenants_to_seal: its current definition (repeatable: re-applied when this file changes).
--
-- Every tenant with the hour its chain starts from when it has none yet: the oldest hour its
-- retention reaches back to from its creation, so every hour a backdated event could land in
-- is sealed (as part of one empty run) and such an event shows as a late arrival.
-- Values are read into variables first: on Citus the tenant query runs on the workers, where
-- audit.retention_policy's function does not exist.

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.tenants_to_seal()
 RETURNS TABLE (tenant_id text, origin timestamptz)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    global_days integer := audit.global_retention_days();
BEGIN
    RETURN QUERY
        SELECT t.tenant_id,
               date_trunc('hour', least(t.created_at, now()) - make_interval(days => least(t.retention_days, global_days)), 'UTC')
        FROM audit.tenant AS t ORDER BY t.tenant_id;
END
$function$;

REVOKE ALL ON FUNCTION audit.tenants_to_seal() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.tenants_to_seal() TO auditlog_app;
