-- audit.mark_digests_past_retention: its current definition (repeatable: re-applied when this file changes).
--
-- Stamps the digests whose hour now lies wholly outside the tenant's retention: their events
-- are gone by design, and `auditlog verify` reports them as removed by retention.
--
-- Until this file, the function was defined by 0007_digests.sql; from now on it changes here only.

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.mark_digests_past_retention()
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    marked integer;
BEGIN
    UPDATE audit.digest AS d SET retention_removed_at = now()
    FROM audit.tenant AS t
    WHERE d.tenant_id = t.tenant_id AND d.retention_removed_at IS NULL AND NOT t.legal_hold
      AND d.hour + interval '1 hour' <= now() - make_interval(days => least(t.retention_days, audit.global_retention_days()));
    GET DIAGNOSTICS marked = ROW_COUNT;
    RETURN marked;
END
$function$;

REVOKE ALL ON FUNCTION audit.mark_digests_past_retention() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.mark_digests_past_retention() TO auditlog_app;
