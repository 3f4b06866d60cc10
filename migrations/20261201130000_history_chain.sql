-- A history anyone can verify. Every history row carries row_hash, the
-- SHA-256 of its recorded values and of prev_hash, the row_hash of the
-- previous row of the same job (NULL for a job's first row); every ended run
-- carries digest, the SHA-256 of the previous ended run's digest, its id,
-- its final status and the row_hash of every history row it wrote. The
-- encoding is the README's "Verifying the history"; `snowball-sync verify`
-- and contrib/verify-history.py recompute it independently of these
-- functions, which only write it.

-- One field of the encoding: NULL is the single byte 0x00; a value is 0x01,
-- its length in bytes as a 4-byte big-endian integer, then its bytes.
CREATE FUNCTION snowball.chain_field(v bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN v IS NULL THEN '\x00'::bytea
                ELSE '\x01'::bytea || int4send(length(v)) || v END
$$;

-- Text as UTF-8, whatever the database's encoding.
CREATE FUNCTION snowball.chain_field(v text) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT snowball.chain_field(convert_to(v, 'UTF8'))
$$;

-- Integers in decimal.
CREATE FUNCTION snowball.chain_field(v bigint) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT snowball.chain_field(v::text)
$$;

-- Timestamps in UTC with microseconds: 2026-12-01T12:00:00.000000Z.
CREATE FUNCTION snowball.chain_field(v timestamptz) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT snowball.chain_field(to_char(v AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
$$;

-- A row's hash. Its first fields are the ones every row a statement writes
-- shares, the prefix: the table's name (so a row cannot be moved between
-- tables), sync_run_id and observed_at; a statement computes the prefix
-- once. Then the row's own values in column order, then prev_hash. The id
-- is not hashed: a row's place is proven by the links of its job's chain
-- and by its run's digest. Plain SQL expressions, inlined into the
-- statements that write the history.
CREATE FUNCTION snowball.chain_prefix(table_name text, sync_run_id bigint, observed_at timestamptz)
RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT snowball.chain_field(table_name)
           || snowball.chain_field(sync_run_id)
           || snowball.chain_field(observed_at)
$$;

CREATE FUNCTION snowball.job_state_row_hash(
    prefix bytea, job_id text, from_state text, to_state text,
    from_state_last_seen_at timestamptz, prev_hash bytea
) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT sha256(prefix
                  || snowball.chain_field(job_id)
                  || snowball.chain_field(from_state)
                  || snowball.chain_field(to_state)
                  || snowball.chain_field(from_state_last_seen_at)
                  || snowball.chain_field(prev_hash))
$$;

CREATE FUNCTION snowball.job_detail_row_hash(
    prefix bytea, job_id text, shipping_option text,
    outbound_status text, outbound_tracking_number text, inbound_status text,
    inbound_tracking_number text, bytes_transferred bigint, objects_transferred bigint,
    total_bytes bigint, total_objects bigint, prev_hash bytea
) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT sha256(prefix
                  || snowball.chain_field(job_id)
                  || snowball.chain_field(shipping_option)
                  || snowball.chain_field(outbound_status)
                  || snowball.chain_field(outbound_tracking_number)
                  || snowball.chain_field(inbound_status)
                  || snowball.chain_field(inbound_tracking_number)
                  || snowball.chain_field(bytes_transferred)
                  || snowball.chain_field(objects_transferred)
                  || snowball.chain_field(total_bytes)
                  || snowball.chain_field(total_objects)
                  || snowball.chain_field(prev_hash))
$$;

ALTER TABLE snowball.job_state_history ADD COLUMN prev_hash bytea, ADD COLUMN row_hash bytea;
ALTER TABLE snowball.job_detail_history ADD COLUMN prev_hash bytea, ADD COLUMN row_hash bytea;

-- A job's chain is walked, written and verified by (job_id, id): this index
-- replaces (job_id, observed_at), whose queries it serves as well (a job has
-- a handful of rows), so the history keeps one index per job.
CREATE INDEX job_state_history_job_id_id_idx ON snowball.job_state_history (job_id, id);
DROP INDEX snowball.job_state_history_job_id_observed_at_idx;
-- A run's digest reads its rows by run, in id order.
CREATE INDEX job_detail_history_sync_run_id_id_idx ON snowball.job_detail_history (sync_run_id, id);

-- Rows written before this migration are chained here, in id order within
-- each job. The append-only defences are lifted for this transaction only
-- (a failed migration rolls back whole, defences included).
ALTER TABLE snowball.job_state_history DISABLE TRIGGER job_state_history_append_only_rows;
ALTER TABLE snowball.job_detail_history DISABLE TRIGGER job_detail_history_append_only_rows;
GRANT UPDATE ON snowball.job_state_history, snowball.job_detail_history TO CURRENT_USER;

-- Row n of each job is hashed from row n - 1: one recursive step per row of
-- the longest chain, each step every job at once.
WITH RECURSIVE ranked AS MATERIALIZED (
    SELECT h.*, row_number() OVER (PARTITION BY h.job_id ORDER BY h.id) AS n
      FROM snowball.job_state_history h
),
chain (id, job_id, n, prev_hash, row_hash) AS (
    SELECT r.id, r.job_id, r.n, NULL::bytea,
           snowball.job_state_row_hash(
               snowball.chain_prefix('snowball.job_state_history', r.sync_run_id, r.observed_at),
               r.job_id, r.from_state, r.to_state, r.from_state_last_seen_at, NULL)
      FROM ranked r
     WHERE r.n = 1
     UNION ALL
    SELECT r.id, r.job_id, r.n, c.row_hash,
           snowball.job_state_row_hash(
               snowball.chain_prefix('snowball.job_state_history', r.sync_run_id, r.observed_at),
               r.job_id, r.from_state, r.to_state, r.from_state_last_seen_at, c.row_hash)
      FROM chain c
      JOIN ranked r ON r.job_id = c.job_id AND r.n = c.n + 1
)
UPDATE snowball.job_state_history h
   SET prev_hash = c.prev_hash, row_hash = c.row_hash
  FROM chain c
 WHERE h.id = c.id;

WITH RECURSIVE ranked AS MATERIALIZED (
    SELECT h.*, row_number() OVER (PARTITION BY h.job_id ORDER BY h.id) AS n
      FROM snowball.job_detail_history h
),
chain (id, job_id, n, prev_hash, row_hash) AS (
    SELECT r.id, r.job_id, r.n, NULL::bytea,
           snowball.job_detail_row_hash(
               snowball.chain_prefix('snowball.job_detail_history', r.sync_run_id, r.observed_at),
               r.job_id, r.shipping_option, r.outbound_status, r.outbound_tracking_number,
               r.inbound_status, r.inbound_tracking_number, r.bytes_transferred,
               r.objects_transferred, r.total_bytes, r.total_objects, NULL)
      FROM ranked r
     WHERE r.n = 1
     UNION ALL
    SELECT r.id, r.job_id, r.n, c.row_hash,
           snowball.job_detail_row_hash(
               snowball.chain_prefix('snowball.job_detail_history', r.sync_run_id, r.observed_at),
               r.job_id, r.shipping_option, r.outbound_status, r.outbound_tracking_number,
               r.inbound_status, r.inbound_tracking_number, r.bytes_transferred,
               r.objects_transferred, r.total_bytes, r.total_objects, c.row_hash)
      FROM chain c
      JOIN ranked r ON r.job_id = c.job_id AND r.n = c.n + 1
)
UPDATE snowball.job_detail_history h
   SET prev_hash = c.prev_hash, row_hash = c.row_hash
  FROM chain c
 WHERE h.id = c.id;

REVOKE UPDATE ON snowball.job_state_history, snowball.job_detail_history FROM CURRENT_USER;
ALTER TABLE snowball.job_state_history ENABLE TRIGGER job_state_history_append_only_rows;
ALTER TABLE snowball.job_detail_history ENABLE TRIGGER job_detail_history_append_only_rows;

ALTER TABLE snowball.job_state_history ALTER COLUMN row_hash SET NOT NULL;
ALTER TABLE snowball.job_detail_history ALTER COLUMN row_hash SET NOT NULL;

-- The chain of run digests, in the order runs ended: digest_seq is a run's
-- place in it (1, 2, 3, ...), unique, so the chain cannot fork.
ALTER TABLE snowball.sync_runs ADD COLUMN digest bytea, ADD COLUMN digest_seq bigint UNIQUE;

-- Seals an ended run: computes its digest from the last sealed run's and
-- stores both. The only moment runs are serialized: the transaction-level
-- lock (b"snowseal") is held from here to the end run's commit, a few
-- statements later, never while pages are written.
CREATE FUNCTION snowball.seal_run(run_id bigint) RETURNS bytea
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
    -- An ended run writes no more rows: its rows are hashed before the
    -- lock, which then covers only the link to the previous digest.
    SELECT sha256(coalesce(string_agg(h.row_hash, ''::bytea ORDER BY h.part, h.id), ''::bytea))
      INTO rows
      FROM (SELECT 1 AS part, s.id, s.row_hash FROM snowball.job_state_history s
             WHERE s.sync_run_id = run_id
             UNION ALL
            SELECT 2, d.id, d.row_hash FROM snowball.job_detail_history d
             WHERE d.sync_run_id = run_id) h;
    PERFORM pg_advisory_xact_lock(8317708120627700076);
    -- READ COMMITTED: each statement from here sees every seal committed
    -- before the lock was granted.
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

-- Runs that ended before this migration are sealed in id order.
DO $$
DECLARE
    ended bigint;
BEGIN
    FOR ended IN SELECT id FROM snowball.sync_runs WHERE status <> 'running' ORDER BY id LOOP
        PERFORM snowball.seal_run(ended);
    END LOOP;
END
$$;

-- The notification carries the digest (hex), so the copies listeners keep
-- can anchor `verify`.
CREATE OR REPLACE FUNCTION snowball.run_notification(r snowball.sync_runs) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
               'run_id',       r.id,
               'status',       r.status,
               'transitions',  r.transitions,
               'jobs_new',     r.jobs_new,
               'jobs_changed', r.jobs_changed,
               'jobs_missing', r.jobs_missing,
               'error',        left(r.error, 2000),
               'started_at',   r.started_at,
               'finished_at',  r.finished_at,
               'accounts',     r.accounts,
               'digest',       encode(r.digest, 'hex')
           )::text
$$;
