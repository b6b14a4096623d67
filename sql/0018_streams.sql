-- Log streams (issue 16): a tenant's events delivered to its SIEM or webhook, at least once and
-- in commit order. A stream's position is a feed token (sql/0017_event_feed.sql), moved only
-- after the destination acknowledged a batch. One serve replica at a time delivers a stream: it
-- holds the lease (lease_owner until lease_until), taken through audit.claim_streams.
--
-- The webhook secret and the Splunk/Datadog token are kept here to sign and authenticate each
-- delivery; the API shows the secret once, at creation, and never the token.

SET LOCAL ROLE auditlog_owner;

CREATE TABLE audit.stream (
    tenant_id         text        NOT NULL,
    stream_id         text        NOT NULL,
    kind              text        NOT NULL,
    url               text        NOT NULL,
    token             text,
    secret            text,
    categories        text[]      NOT NULL DEFAULT '{}',
    actions           text[]      NOT NULL DEFAULT '{}',
    paused            boolean     NOT NULL DEFAULT false,
    failing           boolean     NOT NULL DEFAULT false,
    position          text        NOT NULL,
    delivered         bigint      NOT NULL DEFAULT 0,
    last_delivered_at timestamptz,
    caught_up_at      timestamptz,
    last_error        text,
    last_error_at     timestamptz,
    failing_since     timestamptz,
    lease_owner       text,
    lease_until       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT stream_pkey PRIMARY KEY (tenant_id, stream_id),
    CONSTRAINT stream_kind CHECK (kind IN ('webhook', 'splunk_hec', 'datadog')),
    CONSTRAINT stream_bounds CHECK (length(url) <= 2048 AND length(position) <= 8192 AND cardinality(categories) <= 50
                                    AND cardinality(actions) <= 50 AND length(coalesce(last_error, '')) <= 1000)
);
ALTER TABLE audit.stream ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.stream FORCE ROW LEVEL SECURITY;
GRANT SELECT, INSERT, UPDATE, DELETE ON audit.stream TO auditlog_app;
