-- audit.register_digest_key: lists a digest signing key's public half (repeatable).
--
-- Run by the schema owner only (`auditlog migrate`, `auditlog digest-key rotate`): the service
-- role cannot execute it. A key id is derived from its public key; a listed key is never
-- changed. With `retire_others`, every other listed key is retired (a rotation).

SET LOCAL ROLE auditlog_owner;

DROP FUNCTION IF EXISTS audit.register_digest_key(text, text);

CREATE FUNCTION audit.register_digest_key(new_key_id text, new_public_key text, retire_others boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO audit.digest_key (key_id, public_key) VALUES (new_key_id, new_public_key)
    ON CONFLICT (key_id) DO UPDATE SET retired_at = NULL;
    IF retire_others THEN
        UPDATE audit.digest_key SET retired_at = now() WHERE key_id <> new_key_id AND retired_at IS NULL;
    END IF;
END
$$;

REVOKE ALL ON FUNCTION audit.register_digest_key(text, text, boolean) FROM PUBLIC;
