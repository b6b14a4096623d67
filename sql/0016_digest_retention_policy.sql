-- Each digest signs the retention policy in force when it was written (issue 14): the tenant's
-- effective retention in days (the shorter of its own and the global one), whether a legal
-- hold was in force, and the database time it read them at. `verify` — online and offline from
-- an export bundle — then judges every "removed by retention" stamp by the signed policy of its
-- time, not by settings or a change history that whoever controls the database could rewrite.
--
-- Digests from here on are format 3; earlier ones keep their format and are judged by the
-- recorded setting changes (audit.setting_change) as before.

SET LOCAL ROLE auditlog_owner;

ALTER TABLE audit.digest ADD COLUMN retention_days integer;
ALTER TABLE audit.digest ADD COLUMN legal_hold boolean;
ALTER TABLE audit.digest ADD COLUMN policy_at timestamptz;
ALTER TABLE audit.digest DROP CONSTRAINT digest_format;
ALTER TABLE audit.digest ADD CONSTRAINT digest_format CHECK (
    (format = 3 AND retention_days BETWEEN 1 AND 36500 AND legal_hold IS NOT NULL AND policy_at IS NOT NULL)
    OR (format = 2 AND retention_days IS NULL AND legal_hold IS NULL AND policy_at IS NULL)
    OR (format = 1 AND hour_end = hour + interval '1 hour' AND late_count = 0
        AND retention_days IS NULL AND legal_hold IS NULL AND policy_at IS NULL));
