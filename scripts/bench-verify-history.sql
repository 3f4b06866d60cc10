-- A history as many runs write it over time, for `scripts/bench.py verify
-- --history interleaved`: :jobs jobs, :runs runs, each recording a change of
-- :per_run jobs picked at random (so each job's rows are spread over the
-- table, as a real fleet's are), hashed and chained by the database's own
-- functions, each run sealed as a sync seals it.
-- psql -v jobs=100000 -v runs=50 -v per_run=20000 -f scripts/bench-verify-history.sql
\set ON_ERROR_STOP on
INSERT INTO snowball.jobs (job_id, job_state, region, first_seen_at, last_seen_at, state_since)
SELECT 'JIDbench-' || lpad(i::text, 8, '0'), 'New', 'us-east-1', now(), now(), now()
  FROM generate_series(1, :jobs) i;

CREATE TEMP TABLE bench_settings AS SELECT :runs AS runs, :per_run AS per_run;

DO $$
DECLARE
    settings record;
    run bigint;
    k integer;
BEGIN
    SELECT * INTO settings FROM bench_settings;
    FOR k IN 1..settings.runs LOOP
        INSERT INTO snowball.sync_runs (regions, status, tool_version)
        VALUES ('{us-east-1}', 'running', 'bench') RETURNING id INTO run;
        INSERT INTO snowball.job_state_history
               (job_id, from_state, to_state, observed_at, sync_run_id, prev_hash, row_hash)
        SELECT j.job_id, h.to_state, 'State' || k, now(), run, h.row_hash,
               snowball.job_state_row_hash(
                   snowball.chain_prefix('snowball.job_state_history', run, now()),
                   j.job_id, h.to_state, 'State' || k, NULL, h.row_hash)
          FROM (SELECT job_id FROM snowball.jobs
                 ORDER BY md5(job_id || k) LIMIT settings.per_run) j
          LEFT JOIN LATERAL (SELECT x.to_state, x.row_hash FROM snowball.job_state_history x
                              WHERE x.job_id = j.job_id ORDER BY x.id DESC LIMIT 1) h ON true
         ORDER BY md5(j.job_id || 'order' || k);
        UPDATE snowball.sync_runs SET status = 'succeeded', finished_at = now() WHERE id = run;
        PERFORM snowball.seal_run(run);
    END LOOP;
END
$$;
