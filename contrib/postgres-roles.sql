-- Least-privilege roles for snowball-sync. Run as a superuser in the
-- database snowball-sync writes to, before or after its migrations, and
-- again after a `migrate` that adds tables (it is idempotent):
--   psql -v ON_ERROR_STOP=1 -d snowball -f contrib/postgres-roles.sql
-- then give the login roles passwords:
--   ALTER ROLE snowball_owner PASSWORD '...';  (for `migrate` only)
--   ALTER ROLE snowball_writer PASSWORD '...'; (for `sync`)
--   ALTER ROLE snowball_reader PASSWORD '...'; (for report, history, watch,
--                                               verify, evidence)
--
-- snowball_owner owns the schema and everything in it. Only `snowball-sync
-- migrate` runs as it; no scheduled job holds its password.
-- snowball_writer syncs: it reads every table, inserts into every table,
-- and updates only the tables that are not append-only (the current state:
-- sync_runs, jobs, job_details, clusters, long_term_pricing). It owns
-- nothing, so it can neither grant itself more nor alter a table or disable
-- its triggers: the history (every table with an append-only trigger) is
-- insert-only for it. `sync` as the writer applies no migration; it stops
-- and says so when the schema is behind.
-- snowball_reader reads every table and view, and writes nothing.
-- Nobody rewrites the history: besides the privileges, a trigger refuses
-- UPDATE, DELETE and TRUNCATE on every history table for everyone but a
-- superuser (who can do anything; see "Verifying the history").

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'snowball_owner') THEN
        CREATE ROLE snowball_owner LOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'snowball_writer') THEN
        CREATE ROLE snowball_writer LOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'snowball_reader') THEN
        CREATE ROLE snowball_reader LOGIN;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO snowball_owner, snowball_writer, snowball_reader',
                   current_database());
    -- The first migration says CREATE SCHEMA IF NOT EXISTS, which PostgreSQL
    -- checks against the database's CREATE privilege even when the schema exists.
    EXECUTE format('GRANT CREATE ON DATABASE %I TO snowball_owner', current_database());
    -- An earlier version of this script let the writer own the schema.
    EXECUTE format('REVOKE CREATE ON DATABASE %I FROM snowball_writer', current_database());
END
$$;

-- sqlx records applied migrations in public._sqlx_migrations, which the
-- owner creates at its first migration; the writer and the reader read it
-- to check that the schema is up to date.
GRANT USAGE, CREATE ON SCHEMA public TO snowball_owner;
REVOKE CREATE ON SCHEMA public FROM snowball_writer;
GRANT USAGE ON SCHEMA public TO snowball_writer, snowball_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE snowball_owner IN SCHEMA public
    GRANT SELECT ON TABLES TO snowball_writer, snowball_reader;

CREATE SCHEMA IF NOT EXISTS snowball AUTHORIZATION snowball_owner;
ALTER SCHEMA snowball OWNER TO snowball_owner;

-- Hand what another role made (a superuser running the migrations first, or
-- the writer, which owned the schema before) to the owner, and take from the
-- writer every privilege it held, to grant back only what it needs below.
DO $$
DECLARE
    object record;
BEGIN
    FOR object IN
        SELECT c.relname, c.relkind FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'snowball' AND c.relkind IN ('r', 'v', 'm', 'S')
           AND NOT EXISTS (SELECT FROM pg_depend d
                            WHERE d.objid = c.oid AND d.deptype = 'i')
    LOOP
        EXECUTE format('ALTER %s snowball.%I OWNER TO snowball_owner',
                       CASE object.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                           WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
                       object.relname);
    END LOOP;
    FOR object IN
        SELECT p.oid::regprocedure AS signature FROM pg_proc p
          JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = 'snowball'
    LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO snowball_owner', object.signature);
    END LOOP;
    IF to_regclass('public._sqlx_migrations') IS NOT NULL THEN
        ALTER TABLE public._sqlx_migrations OWNER TO snowball_owner;
        REVOKE ALL ON public._sqlx_migrations FROM snowball_writer;
        GRANT SELECT ON public._sqlx_migrations TO snowball_writer, snowball_reader;
    END IF;
END
$$;

REVOKE ALL ON ALL TABLES IN SCHEMA snowball FROM snowball_writer, snowball_reader;
REVOKE ALL ON SCHEMA snowball FROM snowball_writer, snowball_reader;
GRANT USAGE ON SCHEMA snowball TO snowball_writer, snowball_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA snowball TO snowball_reader;
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA snowball TO snowball_writer;
ALTER DEFAULT PRIVILEGES FOR ROLE snowball_owner IN SCHEMA snowball
    GRANT SELECT ON TABLES TO snowball_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE snowball_owner IN SCHEMA snowball
    GRANT SELECT, INSERT ON TABLES TO snowball_writer;

-- UPDATE on the tables that hold the current state, and on nothing else.
DO $$
DECLARE
    current_state text;
BEGIN
    FOREACH current_state IN ARRAY ARRAY['sync_runs', 'jobs', 'job_details', 'clusters',
                                         'long_term_pricing'] LOOP
        IF to_regclass('snowball.' || current_state) IS NOT NULL THEN
            EXECUTE format('GRANT UPDATE ON snowball.%I TO snowball_writer', current_state);
        END IF;
    END LOOP;
END
$$;
