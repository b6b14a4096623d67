-- audit.matching_event_keys (repeatable: re-applied when this file changes).
--
-- Full-text and changed-field search that can use its indexes.
--
-- PostgreSQL applies row-level security quals before any qual with a non-leakproof
-- operator, so `search @@ q` or `changed_fields @> …` cannot drive a GIN index for the
-- service role. This function runs as the owner (USING (true)) but takes the tenant and
-- role only from the transaction's own SET LOCAL context, so it can never return another
-- tenant's keys; the caller then reads the rows themselves through the RLS policies.

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.matching_event_keys(
    text_query tsquery, changed text[], since timestamptz, until timestamptz
)
RETURNS TABLE(occurred_at timestamp with time zone, id text)
LANGUAGE plpgsql
STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tenant text := current_setting('auditlog.tenant', true);
BEGIN
    IF coalesce(tenant, '') = ''
       OR coalesce(current_setting('auditlog.role', true), '') NOT IN ('owner', 'admin', 'support', 'publisher') THEN
        RETURN;
    END IF;
    IF text_query IS NOT NULL AND changed IS NOT NULL THEN
        RETURN QUERY SELECT e.occurred_at, e.id FROM audit.event AS e
            WHERE e.tenant_id = tenant AND e.search @@ text_query AND e.changed_fields @> changed
              AND e.occurred_at >= since AND e.occurred_at < until;
    ELSIF text_query IS NOT NULL THEN
        RETURN QUERY SELECT e.occurred_at, e.id FROM audit.event AS e
            WHERE e.tenant_id = tenant AND e.search @@ text_query
              AND e.occurred_at >= since AND e.occurred_at < until;
    ELSIF changed IS NOT NULL THEN
        RETURN QUERY SELECT e.occurred_at, e.id FROM audit.event AS e
            WHERE e.tenant_id = tenant AND e.changed_fields @> changed
              AND e.occurred_at >= since AND e.occurred_at < until;
    END IF;
END
$$;

REVOKE ALL ON FUNCTION audit.matching_event_keys(tsquery, text[], timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.matching_event_keys(tsquery, text[], timestamptz, timestamptz) TO auditlog_app;
