-- The feed on Citus (issue 33). One snapshot cannot order a cluster's commits: a distributed
-- transaction is visible on the coordinator before its rows are committed on the workers. A
-- tenant's rows all live on one shard, so the order is kept per tenant, on that shard:
--
-- * audit.tenant.feed_seq numbers a tenant's ingest commits. An ingest transaction on Citus
--   increments it as its last write for the tenant (EventWriter), which holds the tenant row's
--   lock until that transaction has committed on the worker: a later transaction gets the next
--   number only after the earlier one is visible, so the numbers follow commit order, and a
--   rolled-back transaction gives its number back (no gaps, nothing numbered twice).
-- * audit.feed_commit records each numbered commit with its transaction id on the coordinator,
--   which the writer also binds as the `xid` of the events it wrote.
--   A feed page joins the two: events in (seq, occurred_at, id) order.
-- * audit.stream_cursor holds a vendor-wide stream's position per tenant, on that tenant's shard.
--
-- On one PostgreSQL node the feed keeps its snapshot order (0017_event_feed.sql) and these tables
-- stay empty. On a cluster that already holds events, each tenant's existing transactions are
-- numbered here in the order they were received, so a feed from the start has them first.

SET LOCAL ROLE auditlog_owner;

ALTER TABLE audit.tenant ADD COLUMN feed_seq bigint NOT NULL DEFAULT 0;

CREATE TABLE audit.feed_commit (
    tenant_id    text        NOT NULL,
    seq          bigint      NOT NULL,
    xid          xid8        NOT NULL DEFAULT pg_current_xact_id(),
    committed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT feed_commit_pkey PRIMARY KEY (tenant_id, seq),
    CONSTRAINT feed_commit_seq CHECK (seq >= 1)
);

CREATE TABLE audit.stream_cursor (
    tenant_id   text        NOT NULL,
    stream_id   text        NOT NULL,
    seq         bigint      NOT NULL,
    occurred_at timestamptz,
    event_id    text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT stream_cursor_pkey PRIMARY KEY (tenant_id, stream_id),
    CONSTRAINT stream_cursor_event CHECK ((occurred_at IS NULL) = (event_id IS NULL))
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
        INSERT INTO audit.feed_commit (tenant_id, seq, xid, committed_at)
        SELECT tenant_id, row_number() OVER (PARTITION BY tenant_id ORDER BY min(received_at), xid), xid, min(received_at)
        FROM audit.event
        GROUP BY tenant_id, xid;
        UPDATE audit.tenant AS t SET feed_seq = c.seq
        FROM (SELECT tenant_id, max(seq) AS seq FROM audit.feed_commit GROUP BY tenant_id) AS c
        WHERE c.tenant_id = t.tenant_id;
    END IF;
END
$$;

-- Row-level security once the existing commits are numbered (the policies: sql/policies/).
ALTER TABLE audit.feed_commit ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.feed_commit FORCE ROW LEVEL SECURITY;
ALTER TABLE audit.stream_cursor ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.stream_cursor FORCE ROW LEVEL SECURITY;
