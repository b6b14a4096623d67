-- audit.register_digest_key: lists a digest signing key's public half (repeatable).
--
-- The maintenance pass calls it before it signs with a key. SECURITY DEFINER, as the other
-- functions the service role reaches tables through: on Citus, grants made on a table do not
-- reach the shards of a reference table reliably, and the owner's rights do. A key id is
-- derived from its public key; a listed key is never changed.

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.register_digest_key(new_key_id text, new_public_key text)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    INSERT INTO audit.digest_key (key_id, public_key) VALUES (new_key_id, new_public_key)
    ON CONFLICT (key_id) DO NOTHING;
END
$function$;

REVOKE ALL ON FUNCTION audit.register_digest_key(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.register_digest_key(text, text) TO auditlog_app;
