-- The snowball schema is a public interface: reporting SQL is written against
-- these names. Change it only with new migrations.
CREATE SCHEMA IF NOT EXISTS snowball;

CREATE TABLE snowball.sync_runs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    -- 'running', 'succeeded', 'failed' or 'abandoned' (left running by a killed process).
    status        text        NOT NULL DEFAULT 'running',
    regions       text[]      NOT NULL,
    pages         integer     NOT NULL DEFAULT 0,
    jobs_seen     integer     NOT NULL DEFAULT 0,
    jobs_new      integer     NOT NULL DEFAULT 0,
    jobs_changed  integer     NOT NULL DEFAULT 0,
    transitions   integer     NOT NULL DEFAULT 0,
    error         text,
    tool_version  text        NOT NULL,
    host          text
);

-- Enum-like columns are plain text: the service adds values, and an unknown
-- value is stored exactly as sent.
CREATE TABLE snowball.jobs (
    job_id           text        PRIMARY KEY,
    job_state        text        NOT NULL,
    job_type         text,
    snowball_type    text,
    is_master        boolean,
    creation_date    timestamptz,
    description      text,
    region           text        NOT NULL,
    first_seen_at    timestamptz NOT NULL,
    last_seen_at     timestamptz NOT NULL,
    state_since      timestamptz NOT NULL,
    last_sync_run_id bigint
);

CREATE INDEX jobs_job_state_idx ON snowball.jobs (job_state);

CREATE TABLE snowball.job_state_history (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id                  text        NOT NULL REFERENCES snowball.jobs,
    from_state              text,
    to_state                text        NOT NULL,
    observed_at             timestamptz NOT NULL,
    from_state_last_seen_at timestamptz,
    sync_run_id             bigint      NOT NULL REFERENCES snowball.sync_runs
);

CREATE INDEX job_state_history_job_id_observed_at_idx
    ON snowball.job_state_history (job_id, observed_at);

-- The history is an audit trail: the database itself refuses to rewrite it.
CREATE FUNCTION snowball.refuse_history_rewrite() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'snowball.job_state_history is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER job_state_history_append_only_rows
    BEFORE UPDATE OR DELETE ON snowball.job_state_history
    FOR EACH ROW EXECUTE FUNCTION snowball.refuse_history_rewrite();

CREATE TRIGGER job_state_history_append_only_truncate
    BEFORE TRUNCATE ON snowball.job_state_history
    FOR EACH STATEMENT EXECUTE FUNCTION snowball.refuse_history_rewrite();
