-- Late arrivals found by index, not by scanning (issue 17). Every sealing pass (each minute in
-- serve, and every `auditlog retention run`) asks each tenant which sealed hours received
-- events since the chain's last digest. Without an index on received_at that read every event
-- of the tenant's window: on the 5 M-event benchmark dataset, seconds of database CPU per pass,
-- which took the CPU ingest needed (ingest p99 9x while a pass ran).
--
-- Only an event received after its own hour ended can be late, so only those are indexed: the
-- index stays a tiny fraction of the table and ingest pays for it only on such events. The
-- predicate is the UTC hour end in immutable form (date_trunc with a zone argument is only
-- stable); DigestWriter's query states it word for word, so the planner can prove it.

SET LOCAL ROLE auditlog_owner;

CREATE INDEX event_late_idx ON audit.event (tenant_id, received_at)
    WHERE (received_at AT TIME ZONE 'UTC') >= date_trunc('hour', occurred_at AT TIME ZONE 'UTC') + interval '1 hour';
