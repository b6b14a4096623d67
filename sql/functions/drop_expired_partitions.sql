-- audit.drop_expired_partitions (repeatable: re-applied when this file changes).
--
-- Drops the daily partitions (events and targets) that ended more than the global retention
-- ago and hold no row of a tenant on legal hold; returns the dropped partitions' names.

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.drop_expired_partitions()
RETURNS SETOF text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    day date;
    events text;
    targets text;
    lower_bound timestamptz;
    upper_bound timestamptz;
    cutoff timestamptz := now() - make_interval(days => audit.global_retention_days());
BEGIN
    FOR events IN
        SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'audit.event'::regclass AND c.relname ~ '^event_p[0-9]{8}$'
        ORDER BY c.relname
    LOOP
        day := to_date(substring(events FROM 8), 'YYYYMMDD');
        CONTINUE WHEN (day + 1)::timestamp AT TIME ZONE 'UTC' > cutoff;
        CONTINUE WHEN EXISTS (
            SELECT 1 FROM audit.tenant AS t
            WHERE t.legal_hold AND EXISTS (
                SELECT 1 FROM audit.event AS e
                WHERE e.tenant_id = t.tenant_id
                  AND e.occurred_at >= day::timestamp AT TIME ZONE 'UTC'
                  AND e.occurred_at < (day + 1)::timestamp AT TIME ZONE 'UTC'));
        targets := 'event_target_p' || to_char(day, 'YYYYMMDD');
        -- The day's id claims go with its events (no held tenant has events that day).
        lower_bound := day::timestamp AT TIME ZONE 'UTC';
        upper_bound := (day + 1)::timestamp AT TIME ZONE 'UTC';
        DELETE FROM audit.event_id AS i WHERE i.occurred_at >= lower_bound AND i.occurred_at < upper_bound;
        EXECUTE format('DROP TABLE audit.%I', events);
        IF to_regclass(format('audit.%I', targets)) IS NOT NULL THEN
            EXECUTE format('DROP TABLE audit.%I', targets);
        END IF;
        RETURN NEXT events;
    END LOOP;
END
$$;

REVOKE ALL ON FUNCTION audit.drop_expired_partitions() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.drop_expired_partitions() TO auditlog_app;
