-- Row-level security policies of audit.capture and audit.attached_table (repeatable).
--
-- Only the schema owner reads or writes them: the trigger functions and attach/detach run as
-- the owner (sql/functions/capture.sql). The service role and the SaaS's roles have no policy,
-- so no row, and no privilege either.

SET LOCAL ROLE auditlog_owner;

DROP POLICY IF EXISTS capture_owner ON audit.capture;
CREATE POLICY capture_owner ON audit.capture FOR ALL TO auditlog_owner
    USING (true)
    WITH CHECK (true);

DROP POLICY IF EXISTS attached_table_owner ON audit.attached_table;
CREATE POLICY attached_table_owner ON audit.attached_table FOR ALL TO auditlog_owner
    USING (true)
    WITH CHECK (true);

REVOKE ALL ON audit.capture, audit.attached_table FROM PUBLIC;
