-- A publisher key can be listed, revoked and rotated without hand-written SQL.
--
-- last_used_at: when the key last authenticated (kept to the minute, so a busy key does not
-- write a row per request). expires_at: a rotated key works until then, and is refused after.
-- replaced_by: the key a rotation made in its place.
--
-- audit.api_key_change records every create, revoke and rotate with who made it (the database
-- session's user) and when: the keys' own audit trail. Like the keys, only the schema owner
-- reads or writes it.

SET LOCAL ROLE auditlog_owner;

ALTER TABLE audit.api_key ADD COLUMN last_used_at timestamptz;
ALTER TABLE audit.api_key ADD COLUMN expires_at timestamptz;
ALTER TABLE audit.api_key ADD COLUMN replaced_by bigint;

CREATE TABLE audit.api_key_change (
    key_id  bigint      NOT NULL,
    change  text        NOT NULL,
    detail  text        NOT NULL DEFAULT '',
    made_by text        NOT NULL DEFAULT session_user,
    made_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT api_key_change_pkey PRIMARY KEY (key_id, made_at, change),
    CONSTRAINT api_key_change_kind CHECK (change IN ('created', 'revoked', 'rotated'))
);
ALTER TABLE audit.api_key_change ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.api_key_change FORCE ROW LEVEL SECURITY;
CREATE POLICY api_key_change_owner ON audit.api_key_change FOR ALL TO auditlog_owner USING (true) WITH CHECK (true);
