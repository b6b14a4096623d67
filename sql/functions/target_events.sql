-- audit.target_events (repeatable: re-applied when this file changes).
--
-- One page of the events naming one target, newest first, read in the same time slices as
-- every other page (the day before `anchor`, the week, the month, the rest), in one call.
--
-- Why a function: a target's events are usually few and spread over the whole window, so its
-- page reads every slice. Joined from audit.event_target to audit.event, each slice's
-- statement started one index scan per daily partition on both tables: about 180 of them for
-- a 90-day window, 2-3 ms of executor start-up per page that no index could save (measured on
-- the 5 M-event benchmark dataset: 3.6-4.2 ms a page, of which PostgreSQL's statistics counted
-- about 1 ms). Here the last day is read joined as before (a busy target fills its page there);
-- the older slices read the target's own index only, and each event found is then looked up
-- by its key, a statement whose generic plan prunes to the one partition its time names.
--
-- SECURITY INVOKER: it runs as the service role, so row-level security applies to every row
-- it reads; the tenant comes from the transaction's context, as in every other read.

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.target_events(
    target_type text, target_id text, since timestamptz, until timestamptz, anchor timestamptz,
    after_at timestamptz, after_id text, page_limit integer)
RETURNS SETOF audit.event
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tenant text := current_setting('auditlog.tenant', true);
    -- The position as a condition of the target's index, also on a first page: every finite
    -- time is before 'infinity'.
    position_at timestamptz := coalesce(after_at, 'infinity');
    position_id text := coalesce(after_id, '');
    upper_bound timestamptz := until;
    lower_bound timestamptz;
    cut interval;
    found integer;
    ids text[] := '{}';
    times timestamptz[] := '{}';
    slice_ids text[];
    slice_times timestamptz[];
BEGIN
    IF page_limit IS NULL OR page_limit NOT BETWEEN 1 AND 10001 THEN
        RAISE EXCEPTION 'page_limit must be 1 to 10001' USING ERRCODE = '22023';
    END IF;
    IF since IS NULL OR until IS NULL OR anchor IS NULL THEN
        RAISE EXCEPTION 'since, until and anchor are required' USING ERRCODE = '22023';
    END IF;
    IF (after_at IS NULL) <> (after_id IS NULL) THEN
        RAISE EXCEPTION 'after_at and after_id go together' USING ERRCODE = '22023';
    END IF;

    -- The day before the anchor, joined: from the target's index, one event lookup per row.
    lower_bound := greatest(since, anchor - interval '1 day');
    found := 0;
    IF lower_bound < upper_bound THEN
        RETURN QUERY
            SELECT e.* FROM audit.event_target AS t
            CROSS JOIN LATERAL (SELECT * FROM audit.event AS e
                WHERE e.tenant_id = t.tenant_id AND e.id = t.event_id AND e.occurred_at = t.occurred_at
                  AND e.tenant_id = tenant AND e.occurred_at >= lower_bound AND e.occurred_at < upper_bound
                OFFSET 0) AS e
            WHERE t.tenant_id = tenant
              AND t.target_type = target_events.target_type AND t.target_id = target_events.target_id
              AND t.occurred_at >= lower_bound AND t.occurred_at < upper_bound
              AND (t.occurred_at, t.event_id) < (position_at, position_id)
            ORDER BY t.occurred_at DESC, t.event_id DESC
            LIMIT page_limit;
        GET DIAGNOSTICS found = ROW_COUNT;
        upper_bound := lower_bound;
    END IF;
    IF found >= page_limit THEN
        RETURN;
    END IF;

    -- The older slices: the keys from the target's index alone, newest first.
    FOREACH cut IN ARRAY ARRAY[interval '7 days', interval '30 days', NULL] LOOP
        lower_bound := CASE WHEN cut IS NULL THEN since ELSE greatest(since, anchor - cut) END;
        CONTINUE WHEN lower_bound >= upper_bound;
        SELECT array_agg(k.event_id), array_agg(k.occurred_at) INTO slice_ids, slice_times FROM (
            SELECT t.event_id, t.occurred_at FROM audit.event_target AS t
             WHERE t.tenant_id = tenant AND t.target_type = target_events.target_type
               AND t.target_id = target_events.target_id
               AND t.occurred_at >= lower_bound AND t.occurred_at < upper_bound
               AND (t.occurred_at, t.event_id) < (position_at, position_id)
             ORDER BY t.occurred_at DESC, t.event_id DESC
             LIMIT page_limit - found - cardinality(ids)) AS k;
        ids := ids || coalesce(slice_ids, '{}');
        times := times || coalesce(slice_times, '{}');
        EXIT WHEN found + cardinality(ids) >= page_limit;
        upper_bound := lower_bound;
    END LOOP;

    -- Each event by its key: the generic plan prunes to the partition of its time.
    FOR i IN 1 .. cardinality(ids) LOOP
        RETURN QUERY SELECT e.* FROM audit.event AS e
                      WHERE e.tenant_id = tenant AND e.id = ids[i] AND e.occurred_at = times[i];
    END LOOP;
END
$$;

REVOKE ALL ON FUNCTION audit.target_events(
    text, text, timestamptz, timestamptz, timestamptz, timestamptz, text, integer)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.target_events(
    text, text, timestamptz, timestamptz, timestamptz, timestamptz, text, integer)
    TO auditlog_app;
