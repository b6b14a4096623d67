-- Integrity that holds against the service's own role (issue 13).
--
-- 1. received_at is the database's: the service role may insert every column of an event but
--    that one, so its DEFAULT clock_timestamp() always applies and no row can claim to have
--    arrived at another time (in a sealed past, or in a future no digest reaches). The event
--    hash therefore no longer covers received_at (it covers what the publisher sent).
-- 2. One event per (tenant, id), across partitions: audit.event_id holds each id once with its
--    event's time and hash; ingest claims the id there first (ON CONFLICT DO NOTHING) and
--    writes the event only when the claim is new. A retry of the same event finds the same
--    hash (a duplicate); any other event with that id is refused (409 id_conflict).
-- 3. Every closed hour is sealed: a digest covers [hour, hour_end), one hour with its events
--    or a run of empty hours together (event_count 0). late_count says how many of the hour's
--    events arrived after the hour was first sealed. Digests from here on are format 2 (their
--    signed text names hour_end and late_count); earlier ones stay format 1.

SET LOCAL ROLE auditlog_owner;

REVOKE INSERT ON audit.event FROM auditlog_app;
GRANT INSERT (tenant_id, id, occurred_at, action, category, actor_type, actor_id, actor_name, actor_email,
              targets, message, changes, changed_fields, context, metadata, outcome, hash)
    ON audit.event TO auditlog_app;

CREATE TABLE audit.event_id (
    tenant_id   text        NOT NULL,
    id          text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    hash        text        NOT NULL,
    CONSTRAINT event_id_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT event_id_hash_format CHECK (hash ~ '^[0-9a-f]{64}$')
);
-- Retention removes ids with their events; ids arrive roughly in time order, so a BRIN index
-- finds a dropped day's ids for almost nothing at ingest.
CREATE INDEX event_id_occurred_brin ON audit.event_id USING brin (occurred_at);
ALTER TABLE audit.event_id ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.event_id FORCE ROW LEVEL SECURITY;
GRANT SELECT, INSERT ON audit.event_id TO auditlog_app;

-- The ids already stored; where one id was stored twice before, the first event keeps it.
INSERT INTO audit.event_id (tenant_id, id, occurred_at, hash)
SELECT DISTINCT ON (tenant_id, id) tenant_id, id, occurred_at, hash
FROM audit.event ORDER BY tenant_id, id, occurred_at, received_at;

ALTER TABLE audit.digest ADD COLUMN hour_end timestamptz;
UPDATE audit.digest SET hour_end = hour + interval '1 hour';
ALTER TABLE audit.digest ALTER COLUMN hour_end SET NOT NULL;
ALTER TABLE audit.digest ADD COLUMN late_count integer NOT NULL DEFAULT 0;
ALTER TABLE audit.digest ADD COLUMN format smallint NOT NULL DEFAULT 1;
ALTER TABLE audit.digest ADD CONSTRAINT digest_range CHECK (
    hour_end > hour AND date_trunc('hour', hour_end, 'UTC') = hour_end
    AND (hour_end = hour + interval '1 hour' OR event_count = 0));
ALTER TABLE audit.digest ADD CONSTRAINT digest_late_count CHECK (late_count BETWEEN 0 AND event_count);
ALTER TABLE audit.digest ADD CONSTRAINT digest_format CHECK (
    format = 2 OR (format = 1 AND hour_end = hour + interval '1 hour' AND late_count = 0));
-- A digest's end, for the writer's "sealed through" and the reader's "first seal of this hour".
CREATE INDEX digest_hour_end_idx ON audit.digest (tenant_id, hour_end);

-- search_events gains a late-arrivals filter; the old signature goes (sql/functions recreates it).
DROP FUNCTION audit.search_events(tsquery, text[], timestamptz, timestamptz, text[], text, text, text, text, text, text,
                                  timestamptz, text, integer);
