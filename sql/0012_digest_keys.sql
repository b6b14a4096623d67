-- Digests are signed with Ed25519 under a key of their own (AUDITLOG_DIGEST_KEY), never the
-- viewer-token key: a customer checks them with the public key alone.
--
-- audit.digest_key lists every public key that ever signed a digest, current and retired, so
-- old digests stay verifiable after a rotation; GET /v1/digests/keys serves it. Public keys are
-- not secret and not tenant data: no row-level security, readable by the service role, which
-- adds its current key when it first signs with it. Each digest names its key; digests written
-- before this migration have none and stay checkable with the old HMAC key.

SET LOCAL ROLE auditlog_owner;

CREATE TABLE audit.digest_key (
    key_id     text        NOT NULL,
    algorithm  text        NOT NULL DEFAULT 'ed25519',
    public_key text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT digest_key_pkey PRIMARY KEY (key_id),
    CONSTRAINT digest_key_algorithm CHECK (algorithm = 'ed25519'),
    CONSTRAINT digest_key_public_key_format CHECK (public_key ~ '^[0-9a-f]{64}$'),
    CONSTRAINT digest_key_id_format CHECK (key_id ~ '^ed25519:[0-9a-f]{16}$')
);
GRANT SELECT, INSERT ON audit.digest_key TO auditlog_app;

ALTER TABLE audit.digest ADD COLUMN key_id text;
ALTER TABLE audit.digest ADD CONSTRAINT digest_key_id_format CHECK (key_id IS NULL OR key_id ~ '^ed25519:[0-9a-f]{16}$');

-- An HMAC signature is 32 bytes (64 hex digits), an Ed25519 one 64 bytes (128): which one a
-- digest carries follows from whether it names a key.
ALTER TABLE audit.digest DROP CONSTRAINT digest_signature_format;
ALTER TABLE audit.digest ADD CONSTRAINT digest_signature_format CHECK (
    (key_id IS NULL AND signature ~ '^[0-9a-f]{64}$') OR (key_id IS NOT NULL AND signature ~ '^[0-9a-f]{128}$'));
