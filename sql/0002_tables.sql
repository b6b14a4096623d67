-- The tables: tenants, events (partitioned by day), event targets, API keys, digests.
--
-- audit.event has no foreign key to audit.tenant: ingest creates the tenant row in the
-- same transaction as its first event, and the per-row RI check cost 10 µs an insert.
--
-- Every primary key, unique constraint and index leads with or contains tenant_id,
-- so the schema can be distributed by tenant (Citus: create_distributed_table on
-- tenant_id). Events are partitioned by occurred_at so that retention drops whole
-- days instead of deleting rows; the partitions themselves are created by
-- audit.ensure_partitions (0004).

SET LOCAL ROLE auditlog_owner;

CREATE SCHEMA audit;
GRANT USAGE ON SCHEMA audit TO auditlog_app;

-- One row per organisation, created on its first event.
CREATE TABLE audit.tenant (
    tenant_id      text        NOT NULL,
    retention_days integer     NOT NULL DEFAULT 90,
    legal_hold     boolean     NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenant_pkey PRIMARY KEY (tenant_id),
    CONSTRAINT tenant_id_format CHECK (tenant_id ~ '^[A-Za-z0-9_.:-]{1,128}$'),
    CONSTRAINT tenant_retention_days_range CHECK (retention_days BETWEEN 1 AND 3650)
);

-- The audit log itself. Append-only: the service role has no UPDATE or DELETE.
CREATE TABLE audit.event (
    tenant_id   text        NOT NULL,
    id          text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    action      text        NOT NULL,
    category    text        NOT NULL,
    actor_type  text        NOT NULL,
    actor_id    text        NOT NULL,
    actor_name  text,
    actor_email text,
    targets     jsonb       NOT NULL DEFAULT '[]',
    message     text        NOT NULL,
    changes     jsonb       NOT NULL DEFAULT '{}',
    context     jsonb       NOT NULL DEFAULT '{}',
    metadata    jsonb       NOT NULL DEFAULT '{}',
    outcome     text        NOT NULL DEFAULT 'success',
    hash        text        NOT NULL,
    -- Every dotted path that changed, with all its prefixes ({"plan.name": …} gives
    -- {plan, plan.name}), so `changed:plan` finds nested changes too (GIN, containment).
    -- Written by the service with the diff; a generated column doing this in SQL
    -- cost 30 µs a row, 40% of an insert.
    changed_fields text[]   NOT NULL DEFAULT '{}',
    -- Full-text search over message, action words, actor name, target names and
    -- changed field names; `simple` configuration (no stemming, any language).
    search tsvector GENERATED ALWAYS AS (
        to_tsvector('simple'::regconfig,
            message
            || ' ' || translate(action, '._', '  ')
            || ' ' || coalesce(actor_name, '')
            || ' ' || jsonb_path_query_array(targets, '$[*].name')::text
            || ' ' || translate(jsonb_path_query_array(changes, '$.keyvalue().key')::text, '._', '  '))
    ) STORED,
    CONSTRAINT event_pkey PRIMARY KEY (tenant_id, id, occurred_at),
    CONSTRAINT event_id_format CHECK (id ~ '^[A-Za-z0-9_.:-]{1,128}$'),
    CONSTRAINT event_action_format CHECK (action ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$' AND length(action) <= 128),
    CONSTRAINT event_category_format CHECK (category ~ '^[a-z][a-z0-9_]*$' AND length(category) <= 64),
    CONSTRAINT event_outcome_value CHECK (outcome IN ('success', 'failure')),
    CONSTRAINT event_hash_format CHECK (hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT event_targets_array CHECK (jsonb_typeof(targets) = 'array'),
    CONSTRAINT event_changes_object CHECK (jsonb_typeof(changes) = 'object'),
    CONSTRAINT event_context_object CHECK (jsonb_typeof(context) = 'object'),
    CONSTRAINT event_metadata_object CHECK (jsonb_typeof(metadata) = 'object')
) PARTITION BY RANGE (occurred_at);

-- The dashboard's filter shapes, each ordered for keyset pages (newest first).
CREATE INDEX event_time_idx     ON audit.event (tenant_id, occurred_at DESC, id DESC);
CREATE INDEX event_actor_idx    ON audit.event (tenant_id, actor_id, occurred_at DESC, id DESC);
CREATE INDEX event_category_idx ON audit.event (tenant_id, category, occurred_at DESC, id DESC);
CREATE INDEX event_action_idx   ON audit.event (tenant_id, action text_pattern_ops, occurred_at DESC);
CREATE INDEX event_search_idx   ON audit.event USING gin (tenant_id, search);
CREATE INDEX event_changed_idx  ON audit.event USING gin (tenant_id, changed_fields);

-- One row per (event, target): "this customer's activity" is then a btree range scan
-- already in page order, where a GIN on targets would fetch every match and sort.
CREATE TABLE audit.event_target (
    tenant_id   text        NOT NULL,
    target_type text        NOT NULL,
    target_id   text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    event_id    text        NOT NULL,
    CONSTRAINT event_target_pkey PRIMARY KEY (tenant_id, target_type, target_id, occurred_at, event_id)
) PARTITION BY RANGE (occurred_at);

-- Publisher API keys: only the SHA-256 of the key is kept.
CREATE TABLE audit.api_key (
    id         bigint      GENERATED ALWAYS AS IDENTITY,
    name       text        NOT NULL,
    key_hash   bytea       NOT NULL,
    key_prefix text        NOT NULL,
    tenant_id  text,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    CONSTRAINT api_key_pkey PRIMARY KEY (id),
    CONSTRAINT api_key_hash_key UNIQUE (key_hash),
    CONSTRAINT api_key_hash_length CHECK (octet_length(key_hash) = 32),
    CONSTRAINT api_key_name_length CHECK (length(name) BETWEEN 1 AND 200),
    CONSTRAINT api_key_tenant_format CHECK (tenant_id IS NULL OR tenant_id ~ '^[A-Za-z0-9_.:-]{1,128}$')
);

-- The signed, chained integrity digests: one per tenant and closed hour (sequence > 0
-- for follow-ups covering events that arrived late). They outlive the events they cover.
CREATE TABLE audit.digest (
    tenant_id          text        NOT NULL,
    hour               timestamptz NOT NULL,
    sequence           integer     NOT NULL DEFAULT 0,
    event_count        integer     NOT NULL,
    events_sha256      text        NOT NULL,
    previous_signature text,
    signature          text        NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    retention_removed_at timestamptz,
    CONSTRAINT digest_pkey PRIMARY KEY (tenant_id, hour, sequence),
    CONSTRAINT digest_hour_aligned CHECK (date_trunc('hour', hour, 'UTC') = hour),
    CONSTRAINT digest_event_count_positive CHECK (event_count >= 0)
);
