-- audit.set_redact_keys (repeatable: re-applied when this file changes).
--
-- The publisher sets the tenant's own sensitive keys (0015_tenant_redact_keys.sql); returns the
-- keys before. The tenant and role come from the transaction's SET LOCAL context.

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.set_redact_keys(keys text[])
RETURNS text[]
LANGUAGE plpgsql
VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tenant text := current_setting('auditlog.tenant', true);
    before text[];
BEGIN
    IF coalesce(tenant, '') = '' OR current_setting('auditlog.role', true) IS DISTINCT FROM 'publisher' THEN
        RAISE EXCEPTION 'only the publisher sets a tenant''s redaction keys' USING ERRCODE = '42501';
    END IF;
    IF keys IS NULL OR cardinality(keys) > 100
       OR EXISTS (SELECT 1 FROM unnest(keys) AS k WHERE length(k) NOT BETWEEN 1 AND 128) THEN
        RAISE EXCEPTION 'redact_keys is up to 100 keys of 1 to 128 characters' USING ERRCODE = '22023';
    END IF;
    INSERT INTO audit.tenant AS t (tenant_id) VALUES (tenant) ON CONFLICT DO NOTHING;
    SELECT t.redact_keys INTO before FROM audit.tenant AS t WHERE t.tenant_id = tenant FOR UPDATE;
    UPDATE audit.tenant AS t SET redact_keys = keys, updated_at = now() WHERE t.tenant_id = tenant;
    RETURN before;
END
$$;

REVOKE ALL ON FUNCTION audit.set_redact_keys(keys text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.set_redact_keys(keys text[]) TO auditlog_app;
