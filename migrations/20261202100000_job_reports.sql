-- The evidence AWS deletes: each job's completion report and success and
-- failure logs, kept byte for byte (`sync --include reports`). Both tables
-- are append-only like the history; a report's rows are written in one
-- transaction, so a file is there whole or not at all.

-- One row per job and kind, ever: what was fetched, its size and SHA-256,
-- and whether its content is kept (false: larger than --report-max-bytes,
-- only hashed). Chained per job like the history rows (prev_hash, row_hash;
-- snowball.job_report_row_hash), and counted in the digest of the run that
-- fetched it.
CREATE TABLE snowball.job_reports (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id       text        NOT NULL REFERENCES snowball.jobs,
    kind         text        NOT NULL
                 CHECK (kind IN ('completion_report', 'success_log', 'failure_log')),
    bytes        bigint      NOT NULL CHECK (bytes >= 0),
    sha256       bytea       NOT NULL CHECK (length(sha256) = 32),
    content_type text,
    stored       boolean     NOT NULL,
    fetched_at   timestamptz NOT NULL,
    sync_run_id  bigint      NOT NULL REFERENCES snowball.sync_runs,
    prev_hash    bytea,
    row_hash     bytea       NOT NULL,
    UNIQUE (job_id, kind)
);

CREATE INDEX job_reports_sync_run_id_id_idx ON snowball.job_reports (sync_run_id, id);

-- A stored report's content, in order, at most 1 MiB a row. The report's
-- row is written after its chunks, in the same transaction: the reference
-- is checked at commit.
CREATE TABLE snowball.job_report_chunks (
    job_id text    NOT NULL,
    kind   text    NOT NULL,
    seq    integer NOT NULL CHECK (seq >= 0),
    data   bytea   NOT NULL CHECK (length(data) <= 1048576),
    PRIMARY KEY (job_id, kind, seq),
    FOREIGN KEY (job_id, kind) REFERENCES snowball.job_reports (job_id, kind)
        DEFERRABLE INITIALLY DEFERRED
);

CREATE TRIGGER job_reports_append_only_rows
    BEFORE UPDATE OR DELETE ON snowball.job_reports
    FOR EACH ROW EXECUTE FUNCTION snowball.refuse_history_rewrite();
CREATE TRIGGER job_reports_append_only_truncate
    BEFORE TRUNCATE ON snowball.job_reports
    FOR EACH STATEMENT EXECUTE FUNCTION snowball.refuse_history_rewrite();
CREATE TRIGGER job_report_chunks_append_only_rows
    BEFORE UPDATE OR DELETE ON snowball.job_report_chunks
    FOR EACH ROW EXECUTE FUNCTION snowball.refuse_history_rewrite();
CREATE TRIGGER job_report_chunks_append_only_truncate
    BEFORE TRUNCATE ON snowball.job_report_chunks
    FOR EACH STATEMENT EXECUTE FUNCTION snowball.refuse_history_rewrite();
REVOKE UPDATE, DELETE, TRUNCATE ON snowball.job_reports, snowball.job_report_chunks FROM CURRENT_USER;

-- The kinds DescribeJob last offered for a job (NULL: never described by a
-- run that archives reports), so a run knows which are still to fetch
-- without asking again for jobs that have them all.
ALTER TABLE snowball.job_details ADD COLUMN report_kinds text[];

-- An export's part: its main job, as the main job's DescribeJob answer
-- (SubJobMetadata) says; NULL for every other job. An evidence packet for
-- a main job holds its parts' timelines and reports too.
ALTER TABLE snowball.job_details ADD COLUMN main_job_id text;

-- What a run archived; NULL when it did not archive reports.
ALTER TABLE snowball.sync_runs ADD COLUMN reports_archived integer, ADD COLUMN report_bytes bigint;

-- A report row's hash: the prefix (table, run, fetched_at), then its values
-- in column order, then prev_hash; `stored` as the text 'true' or 'false'.
CREATE FUNCTION snowball.job_report_row_hash(
    prefix bytea, job_id text, kind text, bytes bigint, sha256 bytea,
    content_type text, stored boolean, prev_hash bytea
) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT sha256(prefix
                  || snowball.chain_field(job_id)
                  || snowball.chain_field(kind)
                  || snowball.chain_field(bytes)
                  || snowball.chain_field(sha256)
                  || snowball.chain_field(content_type)
                  || snowball.chain_field(CASE WHEN stored THEN 'true' ELSE 'false' END)
                  || snowball.chain_field(prev_hash))
$$;

-- A run's rows hash: the SHA-256 of the row_hash of every chained row the
-- run wrote, table by table in a fixed order (job_state_history,
-- job_detail_history, job_reports), each in id order. A table added later
-- is appended by replacing this function alone; runs before it wrote no row
-- there, so their digests are unchanged.
CREATE FUNCTION snowball.run_rows_hash(run_id bigint) RETURNS bytea
LANGUAGE sql STABLE AS $$
    SELECT sha256(coalesce(string_agg(h.row_hash, ''::bytea ORDER BY h.part, h.id), ''::bytea))
      FROM (SELECT 1 AS part, s.id, s.row_hash FROM snowball.job_state_history s
             WHERE s.sync_run_id = run_id
             UNION ALL
            SELECT 2, d.id, d.row_hash FROM snowball.job_detail_history d
             WHERE d.sync_run_id = run_id
             UNION ALL
            SELECT 3, p.id, p.row_hash FROM snowball.job_reports p
             WHERE p.sync_run_id = run_id) h
$$;

-- As in 20261201130000_history_chain.sql, the rows hash now from
-- snowball.run_rows_hash.
CREATE OR REPLACE FUNCTION snowball.seal_run(run_id bigint) RETURNS bytea
LANGUAGE plpgsql AS $$
DECLARE
    run      snowball.sync_runs;
    previous snowball.sync_runs;
    rows     bytea;
    result   bytea;
BEGIN
    SELECT * INTO run FROM snowball.sync_runs r WHERE r.id = run_id;
    IF NOT FOUND OR run.status = 'running' OR run.digest IS NOT NULL THEN
        RAISE EXCEPTION 'run % cannot be sealed: %', run_id,
            coalesce('its status is ' || run.status || CASE WHEN run.digest IS NOT NULL THEN ', sealed' ELSE '' END, 'no such run');
    END IF;
    -- An ended run writes no more rows: they are hashed before the lock.
    rows := snowball.run_rows_hash(run_id);
    PERFORM pg_advisory_xact_lock(8317708120627700076);
    SELECT * INTO previous FROM snowball.sync_runs r
     WHERE r.digest_seq IS NOT NULL ORDER BY r.digest_seq DESC LIMIT 1;
    result := sha256(snowball.chain_field('snowball.sync_runs'::text)
                     || snowball.chain_field(previous.digest)
                     || snowball.chain_field(run.id)
                     || snowball.chain_field(run.status)
                     || snowball.chain_field(rows));
    UPDATE snowball.sync_runs r
       SET digest = result, digest_seq = coalesce(previous.digest_seq, 0) + 1
     WHERE r.id = run_id;
    RETURN result;
END;
$$;

CREATE OR REPLACE FUNCTION snowball.run_notification(r snowball.sync_runs) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
               'run_id',           r.id,
               'status',           r.status,
               'transitions',      r.transitions,
               'jobs_new',         r.jobs_new,
               'jobs_changed',     r.jobs_changed,
               'jobs_missing',     r.jobs_missing,
               'error',            left(r.error, 2000),
               'started_at',       r.started_at,
               'finished_at',      r.finished_at,
               'accounts',         r.accounts,
               'digest',           encode(r.digest, 'hex'),
               'reports_archived', r.reports_archived,
               'report_bytes',     r.report_bytes
           )::text
$$;
