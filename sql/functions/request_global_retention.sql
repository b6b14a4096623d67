-- audit.request_global_retention: what `auditlog migrate` does with AUDITLOG_RETENTION_DAYS (repeatable).
--
-- Longer than (or equal to) the retention in force: in force at once, and any pending cut is
-- withdrawn. Shorter: pending until the grace period ends; asking for the same cut again keeps
-- its date, a different cut replaces it. Returns 'applied', 'pending' or 'unchanged'. The
-- schema owner only: the service role cannot execute it.

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.request_global_retention(days integer)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    policy audit.retention_policy;
BEGIN
    SELECT * INTO policy FROM audit.retention_policy FOR UPDATE;
    IF days >= policy.global_days THEN
        UPDATE audit.retention_policy
        SET global_days = days, pending_days = NULL, pending_requested_at = NULL, pending_effective_at = NULL,
            pending_recorded = false;
        RETURN CASE WHEN days = policy.global_days AND policy.pending_days IS NULL THEN 'unchanged' ELSE 'applied' END;
    END IF;
    IF policy.pending_days = days THEN
        RETURN 'pending';
    END IF;
    UPDATE audit.retention_policy
    SET pending_days = days, pending_requested_at = now(),
        pending_effective_at = now() + make_interval(secs => policy.grace_seconds), pending_recorded = false;
    RETURN 'pending';
END
$$;

REVOKE ALL ON FUNCTION audit.request_global_retention(integer) FROM PUBLIC;
