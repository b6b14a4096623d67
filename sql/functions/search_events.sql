-- audit.search_events (repeatable: re-applied when this file changes).
--
-- One page of a full-text or changed-field search, every filter, the position and the limit
-- applied inside, read in time slices newest first (the day, the week, the month, the rest)
-- so that a first page stops early. Runs as the owner so the GIN indexes serve under RLS, but
-- takes the tenant and role only from the transaction's SET LOCAL context. A small tenant
-- reuses one kept generic plan; a large one is planned per slice. Which one a tenant is comes
-- from its sealed hours' digests when they show 5,000 events, else from counting its events.
-- 0013_integrity.sql dropped the signature without only_late.

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.search_events(
    text_query tsquery, changed text[], since timestamptz, until timestamptz, categories text[], actor text,
    action_exact text, action_prefix text, outcome text, target_type text, target_id text,
    after_at timestamptz, after_id text, page_limit integer, only_late boolean
)
RETURNS SETOF audit.event
LANGUAGE plpgsql
STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tenant text := current_setting('auditlog.tenant', true);
    statement text;
    anchor timestamptz;
    upper_bound timestamptz := until;
    lower_bound timestamptz;
    cut interval;
    found integer := 0;
    fetched integer;
    by_target boolean := target_type IS NOT NULL AND target_id IS NOT NULL;
    by_cursor boolean := after_at IS NOT NULL AND after_id IS NOT NULL;
    small boolean;
BEGIN
    IF coalesce(tenant, '') = ''
       OR coalesce(current_setting('auditlog.role', true), '') NOT IN ('owner', 'admin', 'support', 'publisher') THEN
        RETURN;
    END IF;
    IF page_limit IS NULL OR page_limit NOT BETWEEN 1 AND 10001 THEN
        RAISE EXCEPTION 'page_limit must be 1 to 10001' USING ERRCODE = '22023';
    END IF;
    IF since IS NULL OR until IS NULL THEN
        RAISE EXCEPTION 'since and until are required' USING ERRCODE = '22023';
    END IF;
    IF by_target THEN
        -- From the target's index, one event lookup per target row (OFFSET 0 keeps it so).
        statement := 'SELECT e.* FROM audit.event_target AS t CROSS JOIN LATERAL (SELECT * FROM audit.event AS e'
            || ' WHERE e.tenant_id = t.tenant_id AND e.id = t.event_id AND e.occurred_at = t.occurred_at OFFSET 0) AS e'
            || ' WHERE t.tenant_id = $1 AND t.target_type = $11 AND t.target_id = $12'
            || ' AND t.occurred_at >= $2 AND t.occurred_at < $3';
    ELSE
        statement := 'SELECT e.* FROM audit.event AS e'
            || ' WHERE e.tenant_id = $1 AND e.occurred_at >= $2 AND e.occurred_at < $3';
    END IF;
    IF text_query IS NOT NULL THEN statement := statement || ' AND e.search @@ $4'; END IF;
    IF changed IS NOT NULL THEN statement := statement || ' AND e.changed_fields @> $5'; END IF;
    -- One category as an equality: then (tenant_id, category, occurred_at) serves the order and
    -- the text is checked on that category's rows only (`= ANY` of one element does not).
    IF cardinality(categories) = 1 THEN statement := statement || ' AND e.category = $6[1]';
    ELSIF categories IS NOT NULL THEN statement := statement || ' AND e.category = ANY ($6)'; END IF;
    IF actor IS NOT NULL THEN statement := statement || ' AND e.actor_id = $7'; END IF;
    IF action_exact IS NOT NULL THEN statement := statement || ' AND e.action = $8'; END IF;
    IF action_prefix IS NOT NULL THEN statement := statement || ' AND starts_with(e.action, $9)'; END IF;
    IF outcome IS NOT NULL THEN statement := statement || ' AND e.outcome = $10'; END IF;
    -- Late: received after the hour's first digest was cut (an hour is only sealed once it
    -- ended, so the cheap test first), see 0013_integrity.sql.
    IF only_late THEN
        statement := statement
            || ' AND e.received_at >= date_trunc(''hour'', e.occurred_at, ''UTC'') + interval ''1 hour'''
            || ' AND e.received_at >= (SELECT CASE WHEN d.hour <= e.occurred_at THEN d.covered_until END'
            || ' FROM audit.digest AS d'
            || ' WHERE d.tenant_id = $1 AND d.sequence = 0 AND d.hour_end > e.occurred_at ORDER BY d.hour_end LIMIT 1)';
    END IF;
    IF by_target THEN
        IF by_cursor THEN statement := statement || ' AND (t.occurred_at, t.event_id) < ($13, $14)'; END IF;
        statement := statement || ' ORDER BY t.occurred_at DESC, t.event_id DESC LIMIT $15';
    ELSE
        IF by_cursor THEN statement := statement || ' AND (e.occurred_at, e.id) < ($13, $14)'; END IF;
        statement := statement || ' ORDER BY e.occurred_at DESC, e.id DESC LIMIT $15';
    END IF;

    anchor := least(until, now(), coalesce(after_at, until));
    FOREACH cut IN ARRAY ARRAY[interval '1 day', interval '7 days', interval '30 days', NULL] LOOP
        lower_bound := CASE WHEN cut IS NULL THEN since ELSE greatest(since, anchor - cut) END;
        CONTINUE WHEN lower_bound >= upper_bound;
        IF small IS NULL AND cut IS DISTINCT FROM interval '1 day' AND NOT by_target THEN
            -- A busy tenant shows in the digests of its newest sealed hours in the window: 48
            -- rows of an index instead of counting 5,000 events. Only when they do not settle
            -- it (few events sealed, or no digests yet) are the events counted. Either way the
            -- answer only picks the plan; the rows are the same.
            SELECT coalesce(sum(sealed.event_count), 0) < 5000 INTO small FROM (
                SELECT d.event_count FROM audit.digest AS d
                 WHERE d.tenant_id = tenant AND d.hour >= since AND d.hour < upper_bound
                   AND d.hour_end <= upper_bound AND d.retention_removed_at IS NULL
                 ORDER BY d.hour DESC LIMIT 48) AS sealed;
            IF small THEN
                SELECT count(*) < 5000 INTO small FROM (
                    SELECT 1 FROM audit.event AS e
                     WHERE e.tenant_id = tenant AND e.occurred_at >= since AND e.occurred_at < upper_bound
                     LIMIT 5000) AS left_in_window;
            END IF;
        END IF;
        IF coalesce(small, false) THEN
            RETURN QUERY
                SELECT e.* FROM audit.event AS e
                 WHERE e.tenant_id = tenant AND e.occurred_at >= lower_bound AND e.occurred_at < upper_bound
                   AND (text_query IS NULL OR e.search @@ text_query)
                   AND (changed IS NULL OR e.changed_fields @> changed)
                   AND (categories IS NULL OR e.category = ANY (categories))
                   AND (actor IS NULL OR e.actor_id = actor)
                   AND (action_exact IS NULL OR e.action = action_exact)
                   AND (action_prefix IS NULL OR starts_with(e.action, action_prefix))
                   AND (search_events.outcome IS NULL OR e.outcome = search_events.outcome)
                   AND (NOT by_cursor OR (e.occurred_at, e.id) < (after_at, after_id))
                   AND (NOT coalesce(only_late, false) OR (
                        e.received_at >= date_trunc('hour', e.occurred_at, 'UTC') + interval '1 hour'
                        AND e.received_at >= (
                            SELECT CASE WHEN d.hour <= e.occurred_at THEN d.covered_until END
                            FROM audit.digest AS d
                            WHERE d.tenant_id = tenant AND d.sequence = 0 AND d.hour_end > e.occurred_at
                            ORDER BY d.hour_end LIMIT 1)))
                 ORDER BY e.occurred_at DESC, e.id DESC
                 LIMIT page_limit - found;
        ELSE
            RETURN QUERY EXECUTE statement
                USING tenant, lower_bound, upper_bound, text_query, changed, categories, actor, action_exact,
                      action_prefix, outcome, target_type, target_id, after_at, after_id, page_limit - found;
        END IF;
        GET DIAGNOSTICS fetched = ROW_COUNT;
        found := found + fetched;
        EXIT WHEN found >= page_limit;
        upper_bound := lower_bound;
    END LOOP;
END
$$;

REVOKE ALL ON FUNCTION audit.search_events(
    tsquery, text[], timestamptz, timestamptz, text[], text, text, text, text, text, text, timestamptz, text,
    integer, boolean
) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.search_events(
    tsquery, text[], timestamptz, timestamptz, text[], text, text, text, text, text, text, timestamptz, text,
    integer, boolean
) TO auditlog_app;
