-- The integrity chain (the CloudTrail digest idea), per tenant.
--
-- A digest covers one closed hour of a tenant's events (by occurred_at): their number and the
-- SHA-256 over their hashes in (occurred_at, id) order, for the events received before its
-- `covered_until`. Each digest carries the signature of the tenant's previous digest and its
-- own HMAC-SHA-256 signature; `position` numbers the chain. Events that arrive later for an
-- hour already digested get a follow-up digest for that hour (sequence 1, 2, …): history is
-- appended, never rewritten. Digests outlive the events they cover; retention stamps
-- `retention_removed_at` instead of deleting them.

SET LOCAL ROLE auditlog_owner;

ALTER TABLE audit.digest ADD COLUMN position bigint NOT NULL;
ALTER TABLE audit.digest ADD COLUMN covered_until timestamptz NOT NULL;
ALTER TABLE audit.digest ADD CONSTRAINT digest_position_key UNIQUE (tenant_id, position);
ALTER TABLE audit.digest ADD CONSTRAINT digest_signature_format CHECK (signature ~ '^[0-9a-f]{64}$');
ALTER TABLE audit.digest ADD CONSTRAINT digest_events_sha256_format CHECK (events_sha256 ~ '^[0-9a-f]{64}$');

-- The maintenance pass writes digests in a tenant's context with role 'maintenance', which
-- may read that tenant's events and append to its chain, nothing else.
CREATE POLICY event_maintenance_read ON audit.event FOR SELECT TO auditlog_app
    USING (tenant_id = current_setting('auditlog.tenant', true)
           AND current_setting('auditlog.role', true) = 'maintenance');
CREATE POLICY digest_maintenance_read ON audit.digest FOR SELECT TO auditlog_app
    USING (tenant_id = current_setting('auditlog.tenant', true)
           AND current_setting('auditlog.role', true) = 'maintenance');
CREATE POLICY digest_append ON audit.digest FOR INSERT TO auditlog_app
    WITH CHECK (tenant_id = current_setting('auditlog.tenant', true)
                AND current_setting('auditlog.role', true) = 'maintenance');
GRANT INSERT ON audit.digest TO auditlog_app;

-- Every tenant key, for the maintenance pass to visit each tenant in its own context.
CREATE FUNCTION audit.tenant_ids() RETURNS SETOF text
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY SELECT t.tenant_id FROM audit.tenant AS t ORDER BY t.tenant_id;
END
$$;
REVOKE EXECUTE ON FUNCTION audit.tenant_ids() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.tenant_ids() TO auditlog_app;

-- Stamps the digests whose hour now lies wholly outside the tenant's retention: their events
-- are gone by design, and `auditlog verify` reports them as removed by retention.
CREATE FUNCTION audit.mark_digests_past_retention() RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    marked integer;
BEGIN
    UPDATE audit.digest AS d SET retention_removed_at = now()
    FROM audit.tenant AS t
    WHERE d.tenant_id = t.tenant_id AND d.retention_removed_at IS NULL AND NOT t.legal_hold
      AND d.hour + interval '1 hour' <= now() - make_interval(days => least(t.retention_days, audit.global_retention_days()));
    GET DIAGNOSTICS marked = ROW_COUNT;
    RETURN marked;
END
$$;
REVOKE EXECUTE ON FUNCTION audit.mark_digests_past_retention() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.mark_digests_past_retention() TO auditlog_app;
