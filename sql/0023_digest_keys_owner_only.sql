-- Only the schema owner lists a digest signing key. A key the service role could list would let
-- a stolen service credential sign whatever history it likes and have it called trusted by any
-- customer who does not pin the public key. `auditlog migrate` lists the configured key and
-- `auditlog digest-key rotate` a new one, both as the owner (DATABASE_ADMIN_URL); the service
-- refuses to sign with a key that is not listed.
--
-- A rotation retires the key it replaces: retired keys stay listed, so the digests they signed
-- stay verifiable, but the service no longer signs with them.

SET LOCAL ROLE auditlog_owner;

ALTER TABLE audit.digest_key ADD COLUMN retired_at timestamptz;
REVOKE INSERT ON audit.digest_key FROM auditlog_app;
