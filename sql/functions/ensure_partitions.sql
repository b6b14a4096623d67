-- audit.ensure_partitions (repeatable: re-applied when this file changes).
--
-- Creates the daily partitions of audit.event and audit.event_target covering
-- [first_day, last_day] (UTC days) that do not exist yet; returns how many it made.

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.ensure_partitions(first_day date, last_day date)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    day date;
    parent text;
    partition text;
    made integer := 0;
BEGIN
    IF first_day IS NULL OR last_day IS NULL OR last_day < first_day THEN
        RAISE EXCEPTION 'ensure_partitions needs first_day <= last_day' USING ERRCODE = '22023';
    END IF;
    IF last_day - first_day > 4000 OR last_day > current_date + 60 THEN
        RAISE EXCEPTION 'ensure_partitions range is out of bounds' USING ERRCODE = '22023';
    END IF;
    FOR day IN SELECT d::date FROM generate_series(first_day, last_day, interval '1 day') AS d LOOP
        FOREACH parent IN ARRAY ARRAY['event', 'event_target'] LOOP
            partition := format('%s_p%s', parent, to_char(day, 'YYYYMMDD'));
            IF to_regclass(format('audit.%I', partition)) IS NULL THEN
                EXECUTE format(
                    'CREATE TABLE IF NOT EXISTS audit.%I PARTITION OF audit.%I FOR VALUES FROM (%L) TO (%L)',
                    partition, parent, day::text || ' 00:00:00+00', (day + 1)::text || ' 00:00:00+00');
                -- No grants on partitions: rows are reached only through the parent's policies.
                EXECUTE format('ALTER TABLE audit.%I ENABLE ROW LEVEL SECURITY', partition);
                made := made + 1;
            END IF;
        END LOOP;
    END LOOP;
    RETURN made;
END
$$;

REVOKE ALL ON FUNCTION audit.ensure_partitions(first_day date, last_day date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.ensure_partitions(first_day date, last_day date) TO auditlog_app;
