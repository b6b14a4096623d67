-- audit.claim_streams: the streams this replica delivers next (repeatable).
--
-- Takes (or renews) the lease of every unpaused stream whose lease is free, expired or already
-- this replica's, for `lease_seconds`, and returns them. A replica that dies stops renewing; its
-- streams go to another within one lease. SECURITY DEFINER because it looks across tenants,
-- which the service role cannot; it changes nothing but the lease.

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.claim_streams(owner text, lease_seconds integer)
RETURNS TABLE (tenant_id text, stream_id text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    stamp timestamptz := now();
    until timestamptz;
BEGIN
    IF owner IS NULL OR length(owner) NOT BETWEEN 1 AND 200 OR lease_seconds NOT BETWEEN 1 AND 3600 THEN
        RAISE EXCEPTION 'owner must be 1-200 characters and lease_seconds 1 to 3600' USING ERRCODE = '22023';
    END IF;
    until := stamp + make_interval(secs => lease_seconds);
    RETURN QUERY
        UPDATE audit.stream AS s SET lease_owner = owner, lease_until = until
        WHERE NOT s.paused AND (s.lease_until IS NULL OR s.lease_until < stamp OR s.lease_owner = owner)
        RETURNING s.tenant_id, s.stream_id;
END
$$;

REVOKE ALL ON FUNCTION audit.claim_streams(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.claim_streams(text, integer) TO auditlog_app;
