-- Keys a publisher marks sensitive for one tenant, beyond the built-in vocabulary and
-- AUDITLOG_REDACT_KEYS (README "Redaction"). Written only through audit.set_redact_keys (the
-- publisher); read with the tenant's settings.

SET LOCAL ROLE auditlog_owner;

ALTER TABLE audit.tenant ADD COLUMN redact_keys text[] NOT NULL DEFAULT '{}';
ALTER TABLE audit.tenant ADD CONSTRAINT tenant_redact_keys_bounds CHECK (cardinality(redact_keys) <= 100);
