-- Full-text and changed-field search that can use its indexes.
--
-- PostgreSQL applies row-level security quals before any qual with a non-leakproof
-- operator, so `search @@ q` or `changed_fields @> …` cannot drive a GIN index for the
-- service role: a rare word in a 565k-event tenant took 250 ms that way against 4 ms
-- without RLS. This function runs as the owner (USING (true)) but takes the tenant and
-- role only from the transaction's own SET LOCAL context, so it can never return another
-- tenant's keys; the caller then reads the rows themselves through the RLS policies.

SET LOCAL ROLE auditlog_owner;

CREATE FUNCTION audit.matching_event_keys(text_query tsquery, changed text[], since timestamptz, until timestamptz)
    RETURNS TABLE (occurred_at timestamptz, id text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
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
REVOKE EXECUTE ON FUNCTION audit.matching_event_keys(tsquery, text[], timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.matching_event_keys(tsquery, text[], timestamptz, timestamptz) TO auditlog_app;

-- A page of the log for full-text and changed-field searches, with every other filter,
-- the keyset position and the limit applied inside, so that a common word stops after
-- one page instead of returning every match. The statement is assembled only from the
-- fixed fragments below; every value travels in USING, and is planned with its value.
CREATE FUNCTION audit.search_events(
    text_query tsquery, changed text[], since timestamptz, until timestamptz,
    categories text[], actor text, action_exact text, action_prefix text, outcome text,
    target_type text, target_id text, after_at timestamptz, after_id text, page_limit integer)
    RETURNS SETOF audit.event
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tenant text := current_setting('auditlog.tenant', true);
    statement text := 'SELECT e.* FROM audit.event AS e WHERE e.tenant_id = $1 AND e.occurred_at >= $2 AND e.occurred_at < $3';
BEGIN
    IF coalesce(tenant, '') = ''
       OR coalesce(current_setting('auditlog.role', true), '') NOT IN ('owner', 'admin', 'support', 'publisher') THEN
        RETURN;
    END IF;
    IF page_limit IS NULL OR page_limit NOT BETWEEN 1 AND 1001 THEN
        RAISE EXCEPTION 'page_limit must be 1 to 1001' USING ERRCODE = '22023';
    END IF;
    IF text_query IS NOT NULL THEN statement := statement || ' AND e.search @@ $4'; END IF;
    IF changed IS NOT NULL THEN statement := statement || ' AND e.changed_fields @> $5'; END IF;
    IF categories IS NOT NULL THEN statement := statement || ' AND e.category = ANY ($6)'; END IF;
    IF actor IS NOT NULL THEN statement := statement || ' AND e.actor_id = $7'; END IF;
    IF action_exact IS NOT NULL THEN statement := statement || ' AND e.action = $8'; END IF;
    IF action_prefix IS NOT NULL THEN statement := statement || ' AND starts_with(e.action, $9)'; END IF;
    IF outcome IS NOT NULL THEN statement := statement || ' AND e.outcome = $10'; END IF;
    IF target_type IS NOT NULL AND target_id IS NOT NULL THEN
        statement := statement || ' AND (e.occurred_at, e.id) IN (SELECT t.occurred_at, t.event_id FROM audit.event_target AS t'
            || ' WHERE t.tenant_id = $1 AND t.target_type = $11 AND t.target_id = $12 AND t.occurred_at >= $2 AND t.occurred_at < $3)';
    END IF;
    IF after_at IS NOT NULL AND after_id IS NOT NULL THEN
        statement := statement || ' AND (e.occurred_at, e.id) < ($13, $14)';
    END IF;
    statement := statement || ' ORDER BY e.occurred_at DESC, e.id DESC LIMIT $15';
    RETURN QUERY EXECUTE statement
        USING tenant, since, until, text_query, changed, categories, actor, action_exact, action_prefix, outcome,
              target_type, target_id, after_at, after_id, page_limit;
END
$$;
REVOKE EXECUTE ON FUNCTION audit.search_events(tsquery, text[], timestamptz, timestamptz, text[], text, text, text, text,
    text, text, timestamptz, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.search_events(tsquery, text[], timestamptz, timestamptz, text[], text, text, text, text,
    text, text, timestamptz, text, integer) TO auditlog_app;
