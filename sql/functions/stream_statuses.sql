-- audit.stream_statuses: every stream's status, for /metrics (repeatable).
--
-- Each serve replica shows every stream's status in its /metrics, whichever replica delivers
-- it, so a paused or failing stream shows wherever Prometheus looks. SECURITY DEFINER because it
-- looks across tenants, which the service role cannot; it returns no destination, token or
-- secret.

SET LOCAL ROLE auditlog_owner;

CREATE OR REPLACE FUNCTION audit.stream_statuses()
RETURNS TABLE (tenant_id text, stream_id text, status text, delivered bigint, caught_up_at timestamptz)
LANGUAGE plpgsql
STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
        SELECT s.tenant_id, s.stream_id,
               CASE WHEN s.paused THEN 'paused' WHEN s.failing THEN 'failing' ELSE 'active' END,
               s.delivered, s.caught_up_at
        FROM audit.stream AS s
        ORDER BY s.tenant_id, s.stream_id
        LIMIT 10000;
END
$$;

REVOKE ALL ON FUNCTION audit.stream_statuses() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.stream_statuses() TO auditlog_app;
