-- audit.global_retention_days (repeatable: re-applied when this file changes).
--
-- The longest any tenant keeps events: audit.retention_policy, written by `auditlog migrate`
-- from AUDITLOG_RETENTION_DAYS. The one source every instance reads (at start) for ingest's
-- age check, settings validation and the read window.

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.global_retention_days()
RETURNS integer
LANGUAGE sql
STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT global_days FROM audit.retention_policy $$;

REVOKE ALL ON FUNCTION audit.global_retention_days() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.global_retention_days() TO auditlog_app;
