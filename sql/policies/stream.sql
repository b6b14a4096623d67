-- Row-level security policies of audit.stream (repeatable: re-applied when this file changes).
--
-- The publisher manages a tenant's streams; owners and admins read their status; the delivery
-- loop (role maintenance, in the stream's tenant) moves their position.

SET LOCAL ROLE auditlog_owner;

DROP POLICY IF EXISTS stream_owner ON audit.stream;
CREATE POLICY stream_owner ON audit.stream FOR ALL TO auditlog_owner
    USING (true)
    WITH CHECK (true);

DROP POLICY IF EXISTS stream_read ON audit.stream;
CREATE POLICY stream_read ON audit.stream FOR SELECT TO auditlog_app
    USING (tenant_id = current_setting('auditlog.tenant', true)
           AND current_setting('auditlog.role', true) IN ('owner', 'admin', 'publisher', 'maintenance'));

DROP POLICY IF EXISTS stream_write ON audit.stream;
CREATE POLICY stream_write ON audit.stream FOR ALL TO auditlog_app
    USING (tenant_id = current_setting('auditlog.tenant', true)
           AND current_setting('auditlog.role', true) IN ('publisher', 'maintenance'))
    WITH CHECK (tenant_id = current_setting('auditlog.tenant', true)
                AND current_setting('auditlog.role', true) IN ('publisher', 'maintenance'));
