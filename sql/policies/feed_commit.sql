-- Row-level security policies of audit.feed_commit (repeatable: re-applied when this file changes).
--
-- A tenant's numbered ingest commits (sql/0027_commit_ordered_feed.sql): written by the publisher
-- with its events, read by every role that reads the tenant's feed, and removed by the
-- maintenance pass once their events are gone.

SET LOCAL ROLE auditlog_owner;

DROP POLICY IF EXISTS feed_commit_owner ON audit.feed_commit;
CREATE POLICY feed_commit_owner ON audit.feed_commit FOR ALL TO auditlog_owner
    USING (true)
    WITH CHECK (true);

DROP POLICY IF EXISTS feed_commit_read ON audit.feed_commit;
CREATE POLICY feed_commit_read ON audit.feed_commit FOR SELECT TO auditlog_app
    USING (tenant_id = current_setting('auditlog.tenant', true)
           AND current_setting('auditlog.role', true) IN ('owner', 'admin', 'support', 'publisher', 'maintenance'));

DROP POLICY IF EXISTS feed_commit_write ON audit.feed_commit;
CREATE POLICY feed_commit_write ON audit.feed_commit FOR INSERT TO auditlog_app
    WITH CHECK (tenant_id = current_setting('auditlog.tenant', true)
                AND current_setting('auditlog.role', true) = 'publisher');

DROP POLICY IF EXISTS feed_commit_prune ON audit.feed_commit;
CREATE POLICY feed_commit_prune ON audit.feed_commit FOR DELETE TO auditlog_app
    USING (tenant_id = current_setting('auditlog.tenant', true)
           AND current_setting('auditlog.role', true) = 'maintenance');

-- Privileges: the transaction id and the time are the database's (on Citus the coordinator
-- evaluates those defaults and names the columns, so there CitusLayout grants them too).
REVOKE INSERT ON audit.feed_commit FROM auditlog_app;
GRANT SELECT, DELETE ON audit.feed_commit TO auditlog_app;
GRANT INSERT (tenant_id, seq) ON audit.feed_commit TO auditlog_app;
