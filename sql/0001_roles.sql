-- Roles: who owns the schema and who the service connects as.
--
-- auditlog_owner owns every object in schema audit. It is the only role that may
-- bypass tenant isolation (through an explicit USING (true) policy), and it is used
-- only by migrations and by SECURITY DEFINER functions with a fixed search_path.
-- It can log in because Citus connects to worker nodes as a function's owner.
--
-- auditlog_app is what `auditlog serve` connects as. It owns nothing, cannot bypass
-- row-level security, may INSERT and SELECT events but never UPDATE, DELETE or
-- TRUNCATE them. Set its password with `ALTER ROLE auditlog_app PASSWORD …` (or let
-- `auditlog migrate` copy it from DATABASE_URL).
--
-- Runs as the migrating administrator (DATABASE_ADMIN_URL). Roles are cluster-wide,
-- so every statement tolerates roles that already exist.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'auditlog_owner') THEN
        CREATE ROLE auditlog_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'auditlog_app') THEN
        CREATE ROLE auditlog_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT;
    END IF;
END
$$;

-- Whatever the roles were before, the service role gets no way around isolation.
ALTER ROLE auditlog_app NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION;
ALTER ROLE auditlog_owner NOSUPERUSER NOBYPASSRLS;

-- The migrator must be able to SET ROLE auditlog_owner (a superuser already can).
GRANT auditlog_owner TO CURRENT_USER;

DO $$
BEGIN
    EXECUTE format('GRANT CONNECT, CREATE ON DATABASE %I TO auditlog_owner', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO auditlog_app', current_database());
END
$$;

-- /readyz compares the applied migrations with the binary's.
GRANT SELECT ON public.auditlog_migration TO auditlog_app;

-- btree_gin lets a GIN index lead with tenant_id (trusted extension, PostgreSQL 13+).
CREATE EXTENSION IF NOT EXISTS btree_gin;
