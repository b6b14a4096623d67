-- audit.global_retention_days: its current definition (repeatable: re-applied when this file changes).
--
-- The longest any tenant keeps events: audit.retention_policy, written by `auditlog migrate`
-- from AUDITLOG_RETENTION_DAYS. The one source every instance reads (at start) for ingest's
-- age check, settings validation and the read window.
--
-- Until this file, the function was defined by 0006_retention.sql; from now on it changes here only.

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.global_retention_days()
 RETURNS integer
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$ SELECT global_days FROM audit.retention_policy $function$;

REVOKE ALL ON FUNCTION audit.global_retention_days() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.global_retention_days() TO auditlog_app;
