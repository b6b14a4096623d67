-- Lowering AUDITLOG_RETENTION_DAYS is governed like a tenant's own cut: `auditlog migrate` records
-- it as pending (audit.request_global_retention), every tenant it shortens sees it among its
-- pending changes and gets an entry in its log, and it takes effect only after the grace period
-- (audit.apply_due_global_retention, run by the retention pass). Lengthening takes effect at once.
-- The service role cannot write the policy, so it cannot make a cut come sooner.

SET LOCAL ROLE auditlog_owner;

ALTER TABLE audit.retention_policy ADD COLUMN pending_days integer;
ALTER TABLE audit.retention_policy ADD COLUMN pending_requested_at timestamptz;
ALTER TABLE audit.retention_policy ADD COLUMN pending_effective_at timestamptz;
-- Whether the tenants it shortens have the request in their logs yet.
ALTER TABLE audit.retention_policy ADD COLUMN pending_recorded boolean NOT NULL DEFAULT false;
ALTER TABLE audit.retention_policy ADD CONSTRAINT retention_policy_pending_range CHECK (
    (pending_days IS NULL AND pending_effective_at IS NULL)
    OR (pending_days BETWEEN 1 AND 3650 AND pending_days < global_days AND pending_effective_at IS NOT NULL));
