-- audit.mark_digests_past_retention (repeatable: re-applied when this file changes).
--
-- Stamps the digests whose hour now lies wholly outside the tenant's retention: their events
-- are gone by design, and `auditlog verify` reports them as removed by retention.

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.mark_digests_past_retention()
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    marked integer := 0;
    counted integer;
    global_days integer := audit.global_retention_days();
    stamp timestamptz := now();
    tenant record;
    last_hour timestamptz;
BEGIN
    -- One tenant at a time, with the cutoff computed here: on Citus each UPDATE then goes to one
    -- shard, and no time arithmetic on a column (a STABLE function) runs inside it.
    FOR tenant IN SELECT t.tenant_id, t.retention_days FROM audit.tenant AS t WHERE NOT t.legal_hold LOOP
        last_hour := stamp - make_interval(days => least(tenant.retention_days, global_days));
        UPDATE audit.digest AS d SET retention_removed_at = stamp
        WHERE d.tenant_id = tenant.tenant_id AND d.retention_removed_at IS NULL AND d.hour_end <= last_hour;
        GET DIAGNOSTICS counted = ROW_COUNT;
        marked := marked + counted;
    END LOOP;
    RETURN marked;
END
$$;

REVOKE ALL ON FUNCTION audit.mark_digests_past_retention() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.mark_digests_past_retention() TO auditlog_app;
