-- Row-level security policies of audit.event (repeatable: re-applied when this file changes).
--
-- The service role (auditlog_app) sees and writes only the rows of the tenant its transaction
-- names with SET LOCAL auditlog.tenant, under the role it names with SET LOCAL auditlog.role;
-- the schema owner sees everything. Dropped and created again in one transaction, so no
-- moment exists in which a table has no policy (FORCE ROW LEVEL SECURITY stays on throughout).

SET LOCAL ROLE auditlog_owner;

DROP POLICY IF EXISTS event_maintenance_read ON audit.event;
CREATE POLICY event_maintenance_read ON audit.event FOR SELECT TO auditlog_app
    USING (tenant_id = current_setting('auditlog.tenant', true)
           AND current_setting('auditlog.role', true) = 'maintenance');

DROP POLICY IF EXISTS event_owner ON audit.event;
CREATE POLICY event_owner ON audit.event FOR ALL TO auditlog_owner
    USING (true)
    WITH CHECK (true);

DROP POLICY IF EXISTS event_read ON audit.event;
CREATE POLICY event_read ON audit.event FOR SELECT TO auditlog_app
    USING (tenant_id = current_setting('auditlog.tenant', true)
           AND current_setting('auditlog.role', true) IN ('owner', 'admin', 'support', 'publisher'));

DROP POLICY IF EXISTS event_write ON audit.event;
CREATE POLICY event_write ON audit.event FOR INSERT TO auditlog_app
    WITH CHECK (tenant_id = current_setting('auditlog.tenant', true)
                AND current_setting('auditlog.role', true) = 'publisher'
                AND received_at <= clock_timestamp() + interval '5 seconds'
                AND received_at >= now() - interval '1 minute');

-- Privileges: the service role writes every column but received_at, whose default the database
-- sets (0013_integrity.sql), and event_write bounds received_at to the moment of the insert.
-- On Citus the coordinator evaluates that default and names the column in the statement it
-- sends to the shard, so there the service role holds INSERT on received_at too (CitusLayout)
-- and the policy's bound is what holds. Stated here as well because Citus gives a shard only
-- the column privileges granted after create_distributed_table, and these scripts run after it.
REVOKE INSERT ON audit.event FROM auditlog_app;
GRANT INSERT (tenant_id, id, occurred_at, action, category, actor_type, actor_id, actor_name, actor_email,
              targets, message, changes, changed_fields, context, metadata, outcome, hash)
    ON audit.event TO auditlog_app;
