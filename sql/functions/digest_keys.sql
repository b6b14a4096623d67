-- audit.digest_keys: every public key that ever signed a digest (repeatable).
--
-- What GET /v1/digests/keys serves and verify checks signatures with. SECURITY DEFINER for the
-- same reason as audit.register_digest_key.

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.digest_keys()
 RETURNS TABLE(key_id text, algorithm text, public_key text, created_at timestamp with time zone)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT k.key_id, k.algorithm, k.public_key, k.created_at FROM audit.digest_key AS k ORDER BY k.created_at, k.key_id
$function$;

REVOKE ALL ON FUNCTION audit.digest_keys() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.digest_keys() TO auditlog_app;
