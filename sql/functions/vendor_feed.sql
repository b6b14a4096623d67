-- audit.vendor_feed: the feed across every tenant, for a vendor-wide stream (repeatable).
--
-- The rows of the transactions visible in `upto` and not in `previous`, after the position
-- (after_xid, after_at, after_id) when one is given, in (xid, occurred_at, id) order — the same
-- page as a tenant's feed (EventReader.feed) without the tenant condition.
--
-- SECURITY DEFINER because it reads across tenants, which the service role cannot do in one
-- statement. It adds no power the role lacks: the role may already name any tenant's context
-- (audit.tenant_ids lists them for the maintenance pass). It answers only in the context that
-- delivers vendor streams: tenant '*' and role 'maintenance'.

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.vendor_feed(
    previous pg_snapshot, upto pg_snapshot, after_xid xid8, after_at timestamptz, after_id text, max_rows integer
)
RETURNS SETOF audit.event
LANGUAGE plpgsql
STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF current_setting('auditlog.tenant', true) IS DISTINCT FROM '*'
       OR current_setting('auditlog.role', true) IS DISTINCT FROM 'maintenance' THEN
        RAISE EXCEPTION 'the vendor-wide feed is read only by the delivery of vendor-wide streams'
            USING ERRCODE = '42501';
    END IF;
    IF previous IS NULL OR upto IS NULL OR max_rows IS NULL OR max_rows NOT BETWEEN 1 AND 10001 THEN
        RAISE EXCEPTION 'previous and upto are required and max_rows is 1 to 10001' USING ERRCODE = '22023';
    END IF;
    IF after_xid IS NULL THEN
        RETURN QUERY
            SELECT e.* FROM audit.event AS e
            WHERE e.xid >= pg_snapshot_xmin(previous) AND e.xid < pg_snapshot_xmax(upto)
              AND pg_visible_in_snapshot(e.xid, upto) AND NOT pg_visible_in_snapshot(e.xid, previous)
            ORDER BY e.xid, e.occurred_at, e.id COLLATE "C"
            LIMIT max_rows;
    ELSE
        RETURN QUERY
            SELECT e.* FROM audit.event AS e
            WHERE e.xid >= pg_snapshot_xmin(previous) AND e.xid < pg_snapshot_xmax(upto)
              AND pg_visible_in_snapshot(e.xid, upto) AND NOT pg_visible_in_snapshot(e.xid, previous)
              AND (e.xid, e.occurred_at, e.id COLLATE "C") > (after_xid, after_at, after_id COLLATE "C")
            ORDER BY e.xid, e.occurred_at, e.id COLLATE "C"
            LIMIT max_rows;
    END IF;
END
$$;

REVOKE ALL ON FUNCTION audit.vendor_feed(pg_snapshot, pg_snapshot, xid8, timestamptz, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.vendor_feed(pg_snapshot, pg_snapshot, xid8, timestamptz, text, integer) TO auditlog_app;
