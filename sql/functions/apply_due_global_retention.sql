-- audit.apply_due_global_retention: the retention pass's step for the global policy (repeatable).
--
-- Returns what the pass must record in the logs of the tenants a pending cut shortens: the
-- request, once (kind 'requested'), and its taking effect once its grace has ended (kind
-- 'applied': the cut is then in force). No row when there is nothing to record. The service role
-- may run it: it applies only a cut the owner requested, and never before its date.

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.apply_due_global_retention()
RETURNS TABLE (kind text, old_days integer, new_days integer, requested_at timestamptz, effective_at timestamptz)
LANGUAGE plpgsql
VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    policy audit.retention_policy;
BEGIN
    SELECT * INTO policy FROM audit.retention_policy FOR UPDATE;
    IF policy.pending_days IS NULL THEN
        RETURN;
    END IF;
    old_days := policy.global_days;
    new_days := policy.pending_days;
    requested_at := policy.pending_requested_at;
    effective_at := policy.pending_effective_at;
    IF NOT policy.pending_recorded THEN
        UPDATE audit.retention_policy SET pending_recorded = true;
        kind := 'requested';
        RETURN NEXT;
    END IF;
    IF policy.pending_effective_at <= now() THEN
        UPDATE audit.retention_policy
        SET global_days = policy.pending_days, pending_days = NULL, pending_requested_at = NULL,
            pending_effective_at = NULL, pending_recorded = false;
        kind := 'applied';
        RETURN NEXT;
    END IF;
END
$$;

REVOKE ALL ON FUNCTION audit.apply_due_global_retention() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.apply_due_global_retention() TO auditlog_app;
