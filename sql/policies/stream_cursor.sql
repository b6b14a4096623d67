-- Row-level security policies of audit.stream_cursor (repeatable: re-applied when this file changes).
--
-- A vendor-wide stream's position in each tenant's commits, on Citus (sql/0027_commit_ordered_feed.sql).
-- The rows belong to the vendor-wide context '*' (where vendor-wide streams live,
-- sql/0019_vendor_streams.sql), not to the tenant whose shard holds them: the publisher sets
-- them when it creates or deletes such a stream, the delivery loop moves them; no tenant
-- context sees them.

SET LOCAL ROLE auditlog_owner;

DROP POLICY IF EXISTS stream_cursor_owner ON audit.stream_cursor;
CREATE POLICY stream_cursor_owner ON audit.stream_cursor FOR ALL TO auditlog_owner
    USING (true)
    WITH CHECK (true);

DROP POLICY IF EXISTS stream_cursor_vendor ON audit.stream_cursor;
CREATE POLICY stream_cursor_vendor ON audit.stream_cursor FOR ALL TO auditlog_app
    USING (current_setting('auditlog.tenant', true) = '*'
           AND current_setting('auditlog.role', true) IN ('publisher', 'maintenance'))
    WITH CHECK (current_setting('auditlog.tenant', true) = '*'
                AND current_setting('auditlog.role', true) IN ('publisher', 'maintenance'));

GRANT SELECT, INSERT, UPDATE, DELETE ON audit.stream_cursor TO auditlog_app;
