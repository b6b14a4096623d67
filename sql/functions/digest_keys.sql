-- audit.digest_keys: every public key that ever signed a digest, current and retired (repeatable).
--
-- What GET /v1/digests/keys serves and verify checks signatures with. SECURITY DEFINER: on Citus,
-- grants made on a reference table do not reach its shards reliably, and the owner's rights do.

SET LOCAL ROLE auditlog_owner;

DROP FUNCTION IF EXISTS audit.digest_keys();

CREATE FUNCTION audit.digest_keys()
RETURNS TABLE (key_id text, algorithm text, public_key text, created_at timestamptz, retired_at timestamptz)
LANGUAGE sql
STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT k.key_id, k.algorithm, k.public_key, k.created_at, k.retired_at
    FROM audit.digest_key AS k
    ORDER BY k.created_at, k.key_id
$$;

REVOKE ALL ON FUNCTION audit.digest_keys() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.digest_keys() TO auditlog_app;
