-- audit.authenticate_api_key: its current definition (repeatable: re-applied when this file changes).
--
-- Looks up a publisher key by the SHA-256 of its text. The service role cannot list
-- keys; it can only ask whether the one it holds is valid and what it may do.
--
-- Until this file, the function was defined by 0004_maintenance_functions.sql; from now on it changes here only.

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.authenticate_api_key(candidate_hash bytea)
 RETURNS TABLE(key_id bigint, key_name text, key_tenant text)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    RETURN QUERY
        SELECT k.id, k.name, k.tenant_id
        FROM audit.api_key AS k
        WHERE k.key_hash = candidate_hash AND k.revoked_at IS NULL;
END
$function$;

REVOKE ALL ON FUNCTION audit.authenticate_api_key(candidate_hash bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.authenticate_api_key(candidate_hash bytea) TO auditlog_app;
