-- audit.pending_global_retention: the cut of the global retention waiting for its grace (repeatable).
--
-- No row when none is pending. Every tenant's settings show it when it shortens that tenant.

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.pending_global_retention()
RETURNS TABLE (current_days integer, pending_days integer, requested_at timestamptz, effective_at timestamptz)
LANGUAGE sql
STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p.global_days, p.pending_days, p.pending_requested_at, p.pending_effective_at
    FROM audit.retention_policy AS p
    WHERE p.pending_days IS NOT NULL
$$;

REVOKE ALL ON FUNCTION audit.pending_global_retention() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.pending_global_retention() TO auditlog_app;
