-- audit.authenticate_api_key: looks up a publisher key by the SHA-256 of its text (repeatable).
--
-- The service role cannot list keys; it can only ask whether the one it holds is valid and what
-- it may do. A revoked key, or a rotated one past its grace (expires_at), is not. A match
-- stamps last_used_at, at most once a minute.

SET LOCAL ROLE auditlog_owner;

DROP FUNCTION IF EXISTS audit.authenticate_api_key(bytea);

CREATE FUNCTION audit.authenticate_api_key(candidate_hash bytea)
RETURNS TABLE (key_id bigint, key_name text, key_tenant text)
LANGUAGE plpgsql
VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    matched audit.api_key;
BEGIN
    SELECT * INTO matched
    FROM audit.api_key AS k
    WHERE k.key_hash = candidate_hash AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now());
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF matched.last_used_at IS NULL OR matched.last_used_at < now() - interval '1 minute' THEN
        UPDATE audit.api_key SET last_used_at = now() WHERE id = matched.id;
    END IF;
    key_id := matched.id;
    key_name := matched.name;
    key_tenant := matched.tenant_id;
    RETURN NEXT;
END
$$;

REVOKE ALL ON FUNCTION audit.authenticate_api_key(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.authenticate_api_key(bytea) TO auditlog_app;
