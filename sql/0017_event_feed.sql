-- The gap-free feed (GET /v1/events/feed, issue 16): each event records the id of the
-- transaction that wrote it (xid8, never wraps), so a reader can tell, against two
-- snapshots, which transactions committed between them (the technique of PgQ's ticks).
--
-- Rows stored before this migration read as transaction 1 (committed before every snapshot):
-- a constant default needs no table rewrite, and the first page of a new feed holds them.
-- New rows get the writing transaction's id; the service role cannot insert the column (its
-- INSERT is granted column by column, without this one), so the default always applies.

SET LOCAL ROLE auditlog_owner;

ALTER TABLE audit.event ADD COLUMN xid xid8 NOT NULL DEFAULT '1';
ALTER TABLE audit.event ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
-- A page reads a tenant's events of the transactions committed between two snapshots, in
-- (xid, occurred_at, id) order.
CREATE INDEX event_feed_idx ON audit.event (tenant_id, xid, occurred_at, id COLLATE "C");
