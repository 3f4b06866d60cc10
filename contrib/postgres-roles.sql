-- Least-privilege roles for snowball-sync. Run as a superuser in the
-- database snowball-sync writes to, before or after its first migration:
--   psql -v ON_ERROR_STOP=1 -d snowball -f contrib/postgres-roles.sql
-- then give the roles passwords: ALTER ROLE snowball_writer PASSWORD '...';
--
-- snowball_writer owns the schema: it runs migrations and syncs.
-- snowball_reader is for reporting: it reads every table and view, including
-- those later migrations add, and writes nothing.
-- Nobody rewrites the history: UPDATE, DELETE and TRUNCATE on
-- snowball.job_state_history are revoked from its owner and refused by a
-- trigger for everyone.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'snowball_writer') THEN
        CREATE ROLE snowball_writer LOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'snowball_reader') THEN
        CREATE ROLE snowball_reader LOGIN;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO snowball_writer, snowball_reader', current_database());
    -- The first migration says CREATE SCHEMA IF NOT EXISTS, which PostgreSQL
    -- checks against the database's CREATE privilege even when the schema exists.
    EXECUTE format('GRANT CREATE ON DATABASE %I TO snowball_writer', current_database());
END
$$;

-- sqlx records applied migrations in public._sqlx_migrations, which the
-- writer creates at its first migration. The reader's commands (report,
-- history, watch, verify) read it to check the schema is up to date.
GRANT USAGE, CREATE ON SCHEMA public TO snowball_writer;
GRANT USAGE ON SCHEMA public TO snowball_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE snowball_writer IN SCHEMA public
    GRANT SELECT ON TABLES TO snowball_reader;

CREATE SCHEMA IF NOT EXISTS snowball AUTHORIZATION snowball_writer;
ALTER SCHEMA snowball OWNER TO snowball_writer;

-- When a superuser ran the migrations first, hand what they made to the writer.
DO $$
DECLARE
    object record;
BEGIN
    FOR object IN
        SELECT c.relname, c.relkind FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'snowball' AND c.relkind IN ('r', 'v', 'm')
    LOOP
        EXECUTE format('ALTER %s snowball.%I OWNER TO snowball_writer',
                       CASE object.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
                       object.relname);
    END LOOP;
    FOR object IN
        SELECT p.oid::regprocedure AS signature FROM pg_proc p
          JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = 'snowball'
    LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO snowball_writer', object.signature);
    END LOOP;
    IF to_regclass('public._sqlx_migrations') IS NOT NULL THEN
        ALTER TABLE public._sqlx_migrations OWNER TO snowball_writer;
        GRANT SELECT ON public._sqlx_migrations TO snowball_reader;
    END IF;
    IF to_regclass('snowball.job_state_history') IS NOT NULL THEN
        REVOKE UPDATE, DELETE, TRUNCATE ON snowball.job_state_history FROM snowball_writer;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA snowball TO snowball_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA snowball TO snowball_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE snowball_writer IN SCHEMA snowball
    GRANT SELECT ON TABLES TO snowball_reader;
