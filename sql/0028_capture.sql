-- Capturing the SaaS's own tables (SPEC §10, issue 34): `auditlog attach` puts a trigger on a
-- table in this database; each change is written, in the writer's own transaction, as one row
-- of audit.capture, which the service later turns into an ordinary event of that tenant's log.
--
-- * audit.attached_table: what is attached and how (the trigger's own arguments repeat what it
--   needs per row, so a change reads nothing but its row).
-- * audit.capture: one small row per change; the old and new rows as JSONB without the excluded
--   columns, which are never stored anywhere. Owned by the schema owner, written only by the
--   trigger function (SECURITY DEFINER, sql/functions/capture.sql); the SaaS's roles get no
--   right on either table, and the service role none but what the drain functions give it.

SET LOCAL ROLE auditlog_owner;

CREATE TABLE audit.attached_table (
    table_name      text        NOT NULL,
    entity          text        NOT NULL,
    category        text        NOT NULL,
    tenant_column   text        NOT NULL,
    key_columns     text[]      NOT NULL,
    display_column  text,
    ignore_columns  text[]      NOT NULL DEFAULT '{}',
    exclude_columns text[]      NOT NULL DEFAULT '{}',
    attached_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT attached_table_pkey PRIMARY KEY (table_name)
);

CREATE TABLE audit.capture (
    tenant_id        text        NOT NULL,
    capture_id       bigint      GENERATED ALWAYS AS IDENTITY,
    xid              xid8        NOT NULL DEFAULT pg_current_xact_id(),
    captured_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    table_name       text        NOT NULL,
    operation        text        NOT NULL,
    row_key          text,
    old_row          jsonb,
    new_row          jsonb,
    actor            text,
    context          text,
    db_user          text        NOT NULL DEFAULT session_user,
    application_name text,
    -- One index, in the drain's order (the tenant in the key for a table distributed by it).
    CONSTRAINT capture_pkey PRIMARY KEY (capture_id, tenant_id),
    CONSTRAINT capture_operation CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'))
);

ALTER TABLE audit.attached_table ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.attached_table FORCE ROW LEVEL SECURITY;
ALTER TABLE audit.capture ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.capture FORCE ROW LEVEL SECURITY;
