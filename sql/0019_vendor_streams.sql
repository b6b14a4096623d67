-- Vendor-wide log streams (issue 16): a stream of every tenant's events, for the vendor's own
-- SIEM, configured by a publisher key without a tenant restriction. Such a stream is stored
-- with the context key '*' in tenant_id, which no tenant can have (tenant keys are
-- [A-Za-z0-9_.:-]), so the stream policies apply unchanged: it is read and moved only in the
-- context '*', and no tenant context sees it.
--
-- Its feed reads across tenants through audit.vendor_feed (sql/functions/vendor_feed.sql), in
-- the order of this index. The index is the price of the scope: one more btree entry per event
-- (paid by COPY into this schema as well).

SET LOCAL ROLE auditlog_owner;

CREATE INDEX event_xid_idx ON audit.event (xid, occurred_at, id COLLATE "C");
