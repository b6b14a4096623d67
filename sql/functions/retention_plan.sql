-- audit.retention_plan: its current definition (repeatable: re-applied when this file changes).
--
-- Per tenant: its retention, hold, how many rows a pass at `as_of` would remove, and the
-- oldest event it would keep.
--
-- Until this file, the function was defined by 0006_retention.sql; from now on it changes here only.

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.retention_plan(as_of timestamp with time zone)
 RETURNS TABLE(tenant_id text, retention_days integer, legal_hold boolean, expired bigint, oldest_kept timestamp with time zone)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    global_days integer := audit.global_retention_days();
BEGIN
    RETURN QUERY
        SELECT t.tenant_id, least(t.retention_days, global_days), t.legal_hold,
               CASE WHEN t.legal_hold THEN 0 ELSE (
                   SELECT count(*) FROM audit.event AS e
                   WHERE e.tenant_id = t.tenant_id
                     AND e.occurred_at < as_of - make_interval(days => least(t.retention_days, global_days)))
               END,
               (SELECT min(e.occurred_at) FROM audit.event AS e
                WHERE e.tenant_id = t.tenant_id
                  AND (t.legal_hold OR e.occurred_at >= as_of - make_interval(days => least(t.retention_days, global_days))))
        FROM audit.tenant AS t
        ORDER BY t.tenant_id;
END
$function$;

REVOKE ALL ON FUNCTION audit.retention_plan(as_of timestamp with time zone) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.retention_plan(as_of timestamp with time zone) TO auditlog_app;
