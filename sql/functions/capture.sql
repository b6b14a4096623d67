-- Capture of the SaaS's own tables (repeatable): the trigger functions and attach/detach
-- (sql/0028_capture.sql, SPEC §10).
--
-- audit.capture_row runs in the writer's transaction, after each row change: no hashing, no
-- rendering, no network; one INSERT into audit.capture. It is SECURITY DEFINER with a pinned
-- search_path, so the SaaS's roles need no right on audit.capture (and get none). Its arguments
-- are fixed when the table is attached: the tenant column, the key columns, the excluded
-- columns, the table's name and the ignored columns.
--
-- The actor is what the application set for its transaction:
--   SELECT set_config('auditlog.actor', '{"type":"user","id":"u_7","name":"Alice"}', true);
-- (and optionally auditlog.context); the service validates it when it turns the capture into an
-- event, and without it the actor is the database role (session_user, application_name).
--
-- A row without a tenant is refused (the write fails, naming the table and column): a change
-- nobody's log would hold is never dropped silently. A row moved to another tenant is recorded
-- as leaving the first (deleted) and entering the second (created). An update that changes only
-- ignored or excluded columns is not recorded.

SET LOCAL ROLE auditlog_owner;

-- A row's primary key as text: its one column, or its columns joined with ','.
CREATE OR REPLACE FUNCTION audit.capture_key(row_value jsonb, key_columns text[])
RETURNS text
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN cardinality(key_columns) = 1 THEN row_value ->> key_columns[1]
                ELSE array_to_string(ARRAY(SELECT row_value ->> k FROM unnest(key_columns) AS k), ',') END
$$;

CREATE OR REPLACE FUNCTION audit.capture_row()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tenant_column text := TG_ARGV[0];
    key_columns text[] := TG_ARGV[1]::text[];
    excluded text[] := TG_ARGV[2]::text[];
    attached text := TG_ARGV[3];
    ignored text[] := TG_ARGV[4]::text[];
    before_row jsonb;
    after_row jsonb;
    before_tenant text;
    after_tenant text;
    actor text := nullif(current_setting('auditlog.actor', true), '');
    context text := nullif(current_setting('auditlog.context', true), '');
    application text := nullif(current_setting('application_name', true), '');
BEGIN
    IF TG_OP <> 'INSERT' THEN
        before_row := to_jsonb(OLD) - excluded;
        before_tenant := before_row ->> tenant_column;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        after_row := to_jsonb(NEW) - excluded;
        after_tenant := after_row ->> tenant_column;
    END IF;
    IF (TG_OP <> 'INSERT' AND before_tenant !~ '^[A-Za-z0-9_.:-]{1,128}$')
       OR (TG_OP <> 'DELETE' AND after_tenant !~ '^[A-Za-z0-9_.:-]{1,128}$') THEN
        RAISE EXCEPTION 'auditlog: this row of % has the tenant % in column %, which is not a tenant id (1-128 of A-Z a-z 0-9 _ . : -); it was not written',
            attached, coalesce(after_tenant, before_tenant), tenant_column USING ERRCODE = '22023';
    END IF;
    IF (TG_OP <> 'INSERT' AND before_tenant IS NULL) OR (TG_OP <> 'DELETE' AND after_tenant IS NULL) THEN
        RAISE EXCEPTION 'auditlog: this row of % has no tenant in column %, so no tenant''s audit log could hold the change; it was not written',
            attached, tenant_column USING ERRCODE = '23502';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF (before_row - ignored) = (after_row - ignored) THEN
            RETURN NULL;  -- nothing a reader would see changed
        END IF;
        IF before_tenant <> after_tenant THEN
            INSERT INTO audit.capture (tenant_id, table_name, operation, row_key, old_row, new_row, actor, context, application_name)
            VALUES (before_tenant, attached, 'DELETE',
                    audit.capture_key(before_row, key_columns), before_row, NULL,
                    actor, context, application),
                   (after_tenant, attached, 'INSERT',
                    audit.capture_key(after_row, key_columns), NULL, after_row,
                    actor, context, application);
            RETURN NULL;
        END IF;
    END IF;
    INSERT INTO audit.capture (tenant_id, table_name, operation, row_key, old_row, new_row, actor, context, application_name)
    VALUES (coalesce(after_tenant, before_tenant), attached, TG_OP,
            audit.capture_key(coalesce(after_row, before_row), key_columns),
            before_row, after_row, actor, context, application);
    RETURN NULL;
END
$$;

-- Before a TRUNCATE: one capture for each tenant that had rows (attach grants the schema owner
-- USAGE on the table's schema and SELECT on its tenant column for this; detach takes the
-- column back).
CREATE OR REPLACE FUNCTION audit.capture_truncate()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('INSERT INTO audit.capture (tenant_id, table_name, operation, actor, context, application_name)
                    SELECT DISTINCT %I::text, $1, ''TRUNCATE'', $2, $3, $4 FROM %s WHERE %I IS NOT NULL',
                   TG_ARGV[0], TG_RELID::regclass, TG_ARGV[0])
        USING TG_ARGV[1], nullif(current_setting('auditlog.actor', true), ''),
              nullif(current_setting('auditlog.context', true), ''), nullif(current_setting('application_name', true), '');
    RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION audit.capture_key(jsonb, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit.capture_row() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit.capture_truncate() FROM PUBLIC;

-- Attaches capture to `target` (run by `auditlog attach` as the schema owner or a superuser,
-- who must be able to put a trigger on the table). Idempotent: attaching again replaces the
-- settings. Every identifier reaches the trigger's definition through format's %I, %L and
-- regclass output, never by concatenation.
CREATE OR REPLACE FUNCTION audit.attach_table(
    target regclass, tenant_column text, entity text, category text, display_column text,
    ignore_columns text[], exclude_columns text[]
)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    attached text := target::text;
    kind "char";
    columns text[];
    keys text[];
    missing text;
BEGIN
    SELECT c.relkind INTO kind FROM pg_class AS c WHERE c.oid = target;
    IF kind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'auditlog: % is not a table', attached USING ERRCODE = '42809';
    END IF;
    IF target::text LIKE 'audit.%' THEN
        RAISE EXCEPTION 'auditlog: % is one of auditlog''s own tables', attached USING ERRCODE = '42809';
    END IF;
    IF entity IS NULL OR entity !~ '^[a-z][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'auditlog: the entity must be 1-63 characters of a-z, 0-9 and _, starting with a letter (it names the actions, %.created)', entity
            USING ERRCODE = '22023';
    END IF;
    IF category IS NULL OR category !~ '^[a-z][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'auditlog: the category must be 1-63 characters of a-z, 0-9 and _, starting with a letter' USING ERRCODE = '22023';
    END IF;
    SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO columns
    FROM pg_attribute AS a WHERE a.attrelid = target AND a.attnum > 0 AND NOT a.attisdropped;
    SELECT array_agg(a.attname::text ORDER BY k.ordinality) INTO keys
    FROM pg_index AS i
    CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ordinality)
    JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    WHERE i.indrelid = target AND i.indisprimary;
    IF keys IS NULL THEN
        RAISE EXCEPTION 'auditlog: % has no primary key; a captured change names its row by it', attached USING ERRCODE = '42P10';
    END IF;
    SELECT string_agg(DISTINCT c, ', ') INTO missing
    FROM unnest(ARRAY[tenant_column, display_column] || coalesce(ignore_columns, '{}') || coalesce(exclude_columns, '{}')) AS c
    WHERE c IS NOT NULL AND NOT c = ANY(columns);
    IF tenant_column IS NULL OR missing IS NOT NULL THEN
        RAISE EXCEPTION 'auditlog: % has no column %', attached, coalesce(missing, '(no tenant column given)') USING ERRCODE = '42703';
    END IF;
    IF tenant_column = ANY(coalesce(exclude_columns, '{}')) OR keys && coalesce(exclude_columns, '{}')
       OR display_column = ANY(coalesce(exclude_columns, '{}')) THEN
        RAISE EXCEPTION 'auditlog: the tenant, key and display columns of % cannot be excluded', attached USING ERRCODE = '22023';
    END IF;
    EXECUTE format('CREATE OR REPLACE TRIGGER auditlog_capture AFTER INSERT OR UPDATE OR DELETE ON %s
                    FOR EACH ROW EXECUTE FUNCTION audit.capture_row(%L, %L, %L, %L, %L)',
                   target, tenant_column, keys::text, coalesce(exclude_columns, '{}')::text, attached,
                   coalesce(ignore_columns, '{}')::text);
    IF kind = 'r' THEN
        -- The truncate trigger reads which tenants had rows, as the schema owner: that column
        -- only (and the table's schema, to reach it).
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO auditlog_owner',
                       (SELECT n.nspname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE c.oid = target));
        EXECUTE format('GRANT SELECT (%I) ON %s TO auditlog_owner', tenant_column, target);
        EXECUTE format('CREATE OR REPLACE TRIGGER auditlog_capture_truncate BEFORE TRUNCATE ON %s
                        FOR EACH STATEMENT EXECUTE FUNCTION audit.capture_truncate(%L, %L)',
                       target, tenant_column, attached);
    END IF;
    INSERT INTO audit.attached_table (table_name, entity, category, tenant_column, key_columns, display_column,
                                      ignore_columns, exclude_columns)
    VALUES (attached, entity, category, tenant_column, keys, display_column,
            coalesce(ignore_columns, '{}'), coalesce(exclude_columns, '{}'))
    ON CONFLICT (table_name) DO UPDATE
    SET entity = excluded.entity, category = excluded.category, tenant_column = excluded.tenant_column,
        key_columns = excluded.key_columns, display_column = excluded.display_column,
        ignore_columns = excluded.ignore_columns, exclude_columns = excluded.exclude_columns, attached_at = now();
    RETURN attached;
END
$$;

-- Removes capture from `target`; false when it was not attached. Captures not yet turned into
-- events stay and are still turned into events.
CREATE OR REPLACE FUNCTION audit.detach_table(target regclass)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    removed integer;
BEGIN
    EXECUTE format('DROP TRIGGER IF EXISTS auditlog_capture ON %s', target);
    EXECUTE format('DROP TRIGGER IF EXISTS auditlog_capture_truncate ON %s', target);
    EXECUTE format('REVOKE SELECT ON %s FROM auditlog_owner', target);
    DELETE FROM audit.attached_table WHERE table_name = target::text;
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed > 0;
END
$$;

REVOKE ALL ON FUNCTION audit.attach_table(regclass, text, text, text, text, text[], text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit.detach_table(regclass) FROM PUBLIC;

-- The captures still to become events, oldest first, with how their table is attached (a table
-- detached meanwhile has no row: its name gives the entity). For the service's drain, in the
-- maintenance role; SECURITY DEFINER because it reads every tenant's captures, which the
-- service role cannot.
CREATE OR REPLACE FUNCTION audit.pending_captures(max_rows integer)
RETURNS TABLE (capture_id bigint, tenant_id text, xid text, captured_at timestamptz, table_name text, operation text,
               row_key text, old_row text, new_row text, actor text, context text, db_user text, application_name text,
               entity text, category text, display_column text, ignore_columns text[])
LANGUAGE plpgsql
STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF current_setting('auditlog.role', true) IS DISTINCT FROM 'maintenance' THEN
        RAISE EXCEPTION 'captures are read only by the service''s drain' USING ERRCODE = '42501';
    END IF;
    IF max_rows IS NULL OR max_rows NOT BETWEEN 1 AND 10000 THEN
        RAISE EXCEPTION 'max_rows is 1 to 10000' USING ERRCODE = '22023';
    END IF;
    RETURN QUERY
        SELECT c.capture_id, c.tenant_id, c.xid::text, c.captured_at, c.table_name, c.operation, c.row_key,
               c.old_row::text, c.new_row::text, c.actor, c.context, c.db_user, c.application_name,
               a.entity, a.category, a.display_column, a.ignore_columns
        FROM audit.capture AS c
        LEFT JOIN audit.attached_table AS a ON a.table_name = c.table_name
        ORDER BY c.capture_id
        LIMIT max_rows;
END
$$;

-- Removes captures that are events now (or that no event can hold, which the drain logs).
CREATE OR REPLACE FUNCTION audit.forget_captures(ids bigint[])
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    removed integer;
BEGIN
    IF current_setting('auditlog.role', true) IS DISTINCT FROM 'maintenance' THEN
        RAISE EXCEPTION 'captures are removed only by the service''s drain' USING ERRCODE = '42501';
    END IF;
    DELETE FROM audit.capture AS c WHERE c.capture_id = ANY(ids);
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END
$$;

REVOKE ALL ON FUNCTION audit.pending_captures(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.pending_captures(integer) TO auditlog_app;
REVOKE ALL ON FUNCTION audit.forget_captures(bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.forget_captures(bigint[]) TO auditlog_app;
