-- audit.prune_feed_commits (repeatable: re-applied when this file changes).
--
-- Removes a tenant's numbered commits (sql/0027_commit_ordered_feed.sql, Citus) whose events are
-- all gone, by time rather than by looking each one up: a commit's events were received when it
-- was recorded (both times are the transaction's now()) and none occurred more than five minutes
-- after it was received (EventValidator.maxFutureSkew), so a commit recorded more than an hour
-- before the tenant's oldest retained event has none left. A feed position past such a commit
-- is unaffected (positions compare numbers, they do not look the commit up). SECURITY DEFINER
-- because the maintenance pass runs without a tenant context; it removes nothing else.

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.prune_feed_commits(tenant text)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    oldest timestamptz;
    removed integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM audit.feed_commit AS c WHERE c.tenant_id = tenant) THEN
        RETURN 0;  -- one PostgreSQL node: the feed does not number commits
    END IF;
    -- Into a variable first: on Citus the statements below run on the tenant's worker.
    SELECT min(e.occurred_at) INTO oldest FROM audit.event AS e WHERE e.tenant_id = tenant;
    oldest := coalesce(oldest, now()) - interval '1 hour';
    DELETE FROM audit.feed_commit AS c WHERE c.tenant_id = tenant AND c.committed_at < oldest;
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END
$$;

REVOKE ALL ON FUNCTION audit.prune_feed_commits(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.prune_feed_commits(text) TO auditlog_app;
