-- Many accounts, one database. Job ids are unique across AWS, so jobs keep
-- their key; each row now says which account listed it.

-- The 12-digit AWS account id (text: leading zeros are significant) of the
-- run that last listed the job. NULL for rows written before this migration
-- until an identified run lists them again: a run never marks a job of an
-- unknown account missing.
ALTER TABLE snowball.jobs ADD COLUMN account_id text;

-- The accounts a run listed (NULL for runs before this migration).
-- status gains 'partial': some listings failed, the others are written.
ALTER TABLE snowball.sync_runs ADD COLUMN accounts text[];

-- One row per (run, account, region) listing: what each one did, so a
-- partial run says exactly which listings failed and why.
CREATE TABLE snowball.sync_run_listings (
    run_id      bigint      NOT NULL REFERENCES snowball.sync_runs,
    account_id  text        NOT NULL,
    region      text        NOT NULL,
    -- 'succeeded' or 'failed'
    status      text        NOT NULL,
    pages       integer     NOT NULL DEFAULT 0,
    jobs_seen   integer     NOT NULL DEFAULT 0,
    error       text,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    PRIMARY KEY (run_id, account_id, region)
);

-- Missing-job detection reads one account's jobs of one region.
CREATE INDEX jobs_account_id_region_idx ON snowball.jobs (account_id, region);

-- The run notification names the run's accounts.
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
               'accounts',     r.accounts
           )::text
$$;

-- The views gain account_id where a job appears (the job's current account).
DROP VIEW snowball.job_state_intervals;
CREATE VIEW snowball.job_state_intervals AS
SELECT h.job_id,
       h.to_state                                  AS state,
       h.observed_at                               AS entered_at,
       h.from_state_last_seen_at                   AS entered_after,
       lead(h.observed_at) OVER stints             AS left_at,
       coalesce(lead(h.observed_at) OVER stints, now()) - h.observed_at AS duration,
       lead(h.observed_at) OVER stints IS NULL     AS is_current,
       h.sync_run_id,
       j.account_id
  FROM snowball.job_state_history h
  JOIN snowball.jobs j USING (job_id)
WINDOW stints AS (PARTITION BY h.job_id ORDER BY h.id);

-- Jobs per account, state, job type and device type, now.
DROP VIEW snowball.state_counts;
CREATE VIEW snowball.state_counts AS
SELECT job_state, job_type, snowball_type, count(*) AS jobs, account_id
  FROM snowball.jobs
 GROUP BY account_id, job_state, job_type, snowball_type;

DROP VIEW snowball.stuck_jobs;
CREATE VIEW snowball.stuck_jobs AS
SELECT job_id, job_state, job_type, snowball_type, region, state_since,
       now() - state_since AS age,
       missing_since,
       account_id
  FROM snowball.jobs
 WHERE job_state NOT IN ('Complete', 'Cancelled')
 ORDER BY state_since, job_id;

-- Partial runs counted too (a new column at the end keeps existing ones).
CREATE OR REPLACE VIEW snowball.sync_health AS
SELECT day, runs, succeeded, failed, abandoned, running, mean_duration,
       max(last_success_that_day) OVER (ORDER BY day) AS last_success,
       partial
  FROM (SELECT (started_at AT TIME ZONE 'UTC')::date                  AS day,
               count(*)                                             AS runs,
               count(*) FILTER (WHERE status = 'succeeded')         AS succeeded,
               count(*) FILTER (WHERE status = 'failed')            AS failed,
               count(*) FILTER (WHERE status = 'abandoned')         AS abandoned,
               count(*) FILTER (WHERE status = 'running')           AS running,
               avg(finished_at - started_at)                        AS mean_duration,
               max(finished_at) FILTER (WHERE status = 'succeeded') AS last_success_that_day,
               count(*) FILTER (WHERE status = 'partial')           AS partial
          FROM snowball.sync_runs
         GROUP BY 1) per_day;
