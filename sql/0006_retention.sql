-- Retention: whole days are dropped; shorter tenant retention is pruned in small batches;
-- legal hold loses nothing.
--
-- Legal hold design: a partition older than the global retention is dropped only when no
-- tenant on legal hold has a row in it. Otherwise it is kept, and the rows of the tenants
-- that are not on hold are removed from it by the same batched prune that enforces short
-- retentions. Held rows therefore never move, stay readable through the usual path and keep
-- their place in the integrity chain; the cost is deletes instead of a drop for the (rare)
-- partitions a held tenant still occupies.
--
-- All three functions are SECURITY DEFINER (owner, fixed search_path) so that the service
-- role, which may not DELETE events, can run retention and nothing else. Callers serialise
-- passes with pg_try_advisory_lock (see AuditStore/RetentionPass.swift).

SET LOCAL ROLE auditlog_owner;

-- AUDITLOG_RETENTION_DAYS, written by `auditlog migrate` (as the owner). The functions below
-- read it here rather than trusting a caller's cutoff, so the service role cannot remove
-- anything younger than the retention, whatever it asks.
CREATE TABLE audit.retention_policy (
    singleton   boolean NOT NULL DEFAULT true,
    global_days integer NOT NULL,
    CONSTRAINT retention_policy_pkey PRIMARY KEY (singleton),
    CONSTRAINT retention_policy_singleton CHECK (singleton),
    CONSTRAINT retention_policy_days_range CHECK (global_days BETWEEN 1 AND 3650)
);
ALTER TABLE audit.retention_policy ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.retention_policy FORCE ROW LEVEL SECURITY;
CREATE POLICY retention_policy_owner ON audit.retention_policy TO auditlog_owner USING (true) WITH CHECK (true);
INSERT INTO audit.retention_policy (global_days) VALUES (90);

CREATE FUNCTION audit.global_retention_days() RETURNS integer
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$ SELECT global_days FROM audit.retention_policy $$;

-- Per tenant: its retention, hold, how many rows a pass at `as_of` would remove, and the
-- oldest event it would keep.
CREATE FUNCTION audit.retention_plan(as_of timestamptz)
    RETURNS TABLE (tenant_id text, retention_days integer, legal_hold boolean, expired bigint, oldest_kept timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    global_days integer := audit.global_retention_days();
BEGIN
    RETURN QUERY
        SELECT t.tenant_id, least(t.retention_days, global_days), t.legal_hold,
               CASE WHEN t.legal_hold THEN 0 ELSE (
                   SELECT count(*) FROM audit.event AS e
                   WHERE e.tenant_id = t.tenant_id
                     AND e.occurred_at < as_of - make_interval(days => least(t.retention_days, global_days)))
               END,
               (SELECT min(e.occurred_at) FROM audit.event AS e
                WHERE e.tenant_id = t.tenant_id
                  AND (t.legal_hold OR e.occurred_at >= as_of - make_interval(days => least(t.retention_days, global_days))))
        FROM audit.tenant AS t
        ORDER BY t.tenant_id;
END
$$;

-- Drops the daily partitions (events and targets) that ended more than the global retention
-- ago and hold no row of a tenant on legal hold; returns the dropped partitions' names.
CREATE FUNCTION audit.drop_expired_partitions()
    RETURNS SETOF text
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    day date;
    events text;
    targets text;
    cutoff timestamptz := now() - make_interval(days => audit.global_retention_days());
BEGIN
    FOR events IN
        SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'audit.event'::regclass AND c.relname ~ '^event_p[0-9]{8}$'
        ORDER BY c.relname
    LOOP
        day := to_date(substring(events FROM 8), 'YYYYMMDD');
        CONTINUE WHEN (day + 1)::timestamp AT TIME ZONE 'UTC' > cutoff;
        CONTINUE WHEN EXISTS (
            SELECT FROM audit.tenant AS t
            WHERE t.legal_hold AND EXISTS (
                SELECT FROM audit.event AS e
                WHERE e.tenant_id = t.tenant_id
                  AND e.occurred_at >= day::timestamp AT TIME ZONE 'UTC'
                  AND e.occurred_at < (day + 1)::timestamp AT TIME ZONE 'UTC'));
        targets := 'event_target_p' || to_char(day, 'YYYYMMDD');
        EXECUTE format('DROP TABLE audit.%I', events);
        IF to_regclass(format('audit.%I', targets)) IS NOT NULL THEN
            EXECUTE format('DROP TABLE audit.%I', targets);
        END IF;
        RETURN NEXT events;
    END LOOP;
END
$$;

-- Removes at most `batch` of one tenant's events older than its retention (the shorter of
-- its own and the global one), with their target rows; nothing for a tenant on legal hold.
-- Returns how many events it removed.
CREATE FUNCTION audit.prune_tenant(tenant text, batch integer)
    RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    removed integer;
    held boolean;
    days integer;
    cutoff timestamptz;
BEGIN
    IF batch NOT BETWEEN 1 AND 10000 THEN
        RAISE EXCEPTION 'batch must be 1 to 10000' USING ERRCODE = '22023';
    END IF;
    SELECT t.legal_hold, least(t.retention_days, audit.global_retention_days()) INTO held, days
    FROM audit.tenant AS t WHERE t.tenant_id = tenant;
    IF held IS NULL OR held THEN
        RETURN 0;
    END IF;
    cutoff := now() - make_interval(days => days);
    WITH doomed AS (
        SELECT e.occurred_at, e.id FROM audit.event AS e
        WHERE e.tenant_id = tenant AND e.occurred_at < cutoff
        ORDER BY e.occurred_at
        LIMIT batch
    ), gone AS (
        DELETE FROM audit.event AS e USING doomed AS d
        WHERE e.tenant_id = tenant AND e.occurred_at = d.occurred_at AND e.id = d.id
        RETURNING e.occurred_at, e.id
    ), unlinked AS (
        DELETE FROM audit.event_target AS t USING gone AS g
        WHERE t.tenant_id = tenant AND t.occurred_at = g.occurred_at AND t.event_id = g.id
    )
    SELECT count(*) INTO removed FROM gone;
    RETURN removed;
END
$$;

REVOKE EXECUTE ON FUNCTION audit.global_retention_days() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit.retention_plan(timestamptz) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit.drop_expired_partitions() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION audit.prune_tenant(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.global_retention_days() TO auditlog_app;
GRANT EXECUTE ON FUNCTION audit.retention_plan(timestamptz) TO auditlog_app;
GRANT EXECUTE ON FUNCTION audit.drop_expired_partitions() TO auditlog_app;
GRANT EXECUTE ON FUNCTION audit.prune_tenant(text, integer) TO auditlog_app;
