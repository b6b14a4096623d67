-- audit.tenants_to_seal: every tenant whose chain the maintenance pass extends (repeatable).
--
-- Each tenant with a settings row, and each tenant with an event but no row (written outside the
-- ingest path, or its row removed): an event no digest covers would otherwise stay unsigned.
-- With each, the hour its chain starts from when it has none yet: the oldest hour its retention
-- reaches back to from its creation, so every hour a backdated event could land in is sealed
-- (as part of one empty run) and such an event shows as a late arrival.
--
-- The tenants of audit.event are found by a skip scan (one index descent per tenant) rather
-- than a DISTINCT over every row. Values are read into variables first: on Citus the tenant
-- query runs on the workers, where audit.retention_policy's function does not exist.

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.tenants_to_seal()
RETURNS TABLE (tenant_id text, origin timestamptz)
LANGUAGE plpgsql
STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    global_days integer := audit.global_retention_days();
    default_origin timestamptz := date_trunc('hour', now() - make_interval(days => global_days), 'UTC');
    seen text[];
    next_tenant text;
BEGIN
    SELECT array_agg(t.tenant_id ORDER BY t.tenant_id) INTO seen FROM audit.tenant AS t;
    RETURN QUERY
        SELECT t.tenant_id,
               date_trunc('hour',
                          least(t.created_at, now()) - make_interval(days => least(t.retention_days, global_days)),
                          'UTC')
        FROM audit.tenant AS t;
    next_tenant := (SELECT min(e.tenant_id) FROM audit.event AS e);
    WHILE next_tenant IS NOT NULL LOOP
        IF seen IS NULL OR NOT next_tenant = ANY (seen) THEN
            tenant_id := next_tenant;
            origin := default_origin;
            RETURN NEXT;
        END IF;
        next_tenant := (SELECT min(e.tenant_id) FROM audit.event AS e WHERE e.tenant_id > next_tenant);
    END LOOP;
END
$$;

REVOKE ALL ON FUNCTION audit.tenants_to_seal() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.tenants_to_seal() TO auditlog_app;
