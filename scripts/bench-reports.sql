-- A synthetic history for scripts/bench.py reports: run with psql -v rows=N
-- (rows per old job: 10 makes 1 000 000 history rows, 1 makes 109 000).
-- 99 000 old jobs, Complete before the last seven days, with `rows` rows
-- each; 1 000 recent jobs whose 1 to 10 rows all fall in the last seven
-- days, identical whatever `rows` is. One run per hour of the year.
\set ON_ERROR_STOP on
INSERT INTO snowball.sync_runs (started_at, finished_at, status, regions, accounts, tool_version)
SELECT now() - make_interval(hours => h), now() - make_interval(hours => h) + interval '2 s',
       'succeeded', '{us-east-1}', '{012345678900}', 'bench'
  FROM generate_series(8760, 0, -1) h;

CREATE TEMP TABLE lifecycle (step int, state text);
INSERT INTO lifecycle VALUES (1, 'New'), (2, 'PreparingAppliance'), (3, 'PreparingShipment'),
    (4, 'InTransitToCustomer'), (5, 'WithCustomer'), (6, 'InTransitToAWS'),
    (7, 'WithAWSSortingFacility'), (8, 'WithAWS'), (9, 'InProgress'), (10, 'Complete');

-- Old jobs: created 30 to 360 days ago, one step a day; with rows=1 only the
-- first sighting, already Complete.
CREATE TEMP TABLE old_rows AS
SELECT format('JIDold%s', j) AS job_id,
       CASE WHEN :rows = 1 THEN NULL ELSE lag(l.state) OVER w END AS from_state,
       CASE WHEN :rows = 1 THEN 'Complete' ELSE l.state END AS to_state,
       now() - make_interval(days => 30 + j % 330) + make_interval(days => l.step) AS observed_at
  FROM generate_series(1, 99000) j
  JOIN lifecycle l ON l.step > 10 - :rows
WINDOW w AS (PARTITION BY j ORDER BY l.step);

-- Recent jobs: 1 to 10 steps, one every 12 hours, ending within the last 7 days.
CREATE TEMP TABLE recent_rows AS
SELECT format('JIDnew%s', j) AS job_id, lag(l.state) OVER w AS from_state, l.state AS to_state,
       now() - interval '6 days' + make_interval(hours => 12 * (l.step - 1)) + make_interval(secs => j) AS observed_at
  FROM generate_series(1, 1000) j
  JOIN lifecycle l ON l.step <= 1 + j % 10
WINDOW w AS (PARTITION BY j ORDER BY l.step);

INSERT INTO snowball.jobs (job_id, job_state, job_type, snowball_type, region, first_seen_at,
                           last_seen_at, state_since, last_sync_run_id, account_id)
SELECT job_id, (array_agg(to_state ORDER BY observed_at DESC))[1], 'IMPORT', 'EDGE', 'us-east-1',
       min(observed_at), now(), max(observed_at), 1, '012345678900'
  FROM (SELECT * FROM old_rows UNION ALL SELECT * FROM recent_rows) r
 GROUP BY job_id;

-- In time order, as syncs append them; each row's run is the hour's, and
-- each row is chained to its job's previous one as a sync chains it.
INSERT INTO snowball.job_state_history
       (job_id, from_state, to_state, observed_at, sync_run_id, prev_hash, row_hash)
WITH RECURSIVE ranked AS MATERIALIZED (
    SELECT r.*, greatest(1, 8761 - floor(extract(epoch FROM now() - r.observed_at) / 3600)::int) AS run,
           row_number() OVER (PARTITION BY r.job_id ORDER BY r.observed_at) AS n
      FROM (SELECT * FROM old_rows UNION ALL SELECT * FROM recent_rows) r
),
chain AS (
    SELECT r.*, NULL::bytea AS prev_hash,
           snowball.job_state_row_hash(snowball.chain_prefix('snowball.job_state_history', r.run, r.observed_at),
                                       r.job_id, r.from_state, r.to_state, NULL, NULL) AS row_hash
      FROM ranked r
     WHERE r.n = 1
     UNION ALL
    SELECT r.*, c.row_hash,
           snowball.job_state_row_hash(snowball.chain_prefix('snowball.job_state_history', r.run, r.observed_at),
                                       r.job_id, r.from_state, r.to_state, NULL, c.row_hash)
      FROM chain c
      JOIN ranked r ON r.job_id = c.job_id AND r.n = c.n + 1
)
SELECT job_id, from_state, to_state, observed_at, run, prev_hash, row_hash
  FROM chain
 ORDER BY observed_at, job_id;

-- Every run sealed, in order, as each would have been when it ended.
DO $$
DECLARE
    ended bigint;
BEGIN
    FOR ended IN SELECT id FROM snowball.sync_runs ORDER BY id LOOP
        PERFORM snowball.seal_run(ended);
    END LOOP;
END
$$;
ANALYZE;
