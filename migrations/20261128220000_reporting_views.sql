-- Reporting views: the questions people ask of the tables, answered once.
-- Days are UTC days. Like the tables, these names are a public interface.

-- One row per stint of a job in a state. The stint began between
-- entered_after (the last sync that saw the previous state) and entered_at
-- (the first sync that saw this one); left_at is when the next state was
-- first seen, NULL while current.
CREATE VIEW snowball.job_state_intervals AS
SELECT h.job_id,
       h.to_state                                  AS state,
       h.observed_at                               AS entered_at,
       h.from_state_last_seen_at                   AS entered_after,
       lead(h.observed_at) OVER stints             AS left_at,
       coalesce(lead(h.observed_at) OVER stints, now()) - h.observed_at AS duration,
       lead(h.observed_at) OVER stints IS NULL     AS is_current,
       h.sync_run_id
  FROM snowball.job_state_history h
WINDOW stints AS (PARTITION BY h.job_id ORDER BY h.id);

-- Jobs per state, job type and device type, now.
CREATE VIEW snowball.state_counts AS
SELECT job_state, job_type, snowball_type, count(*) AS jobs
  FROM snowball.jobs
 GROUP BY job_state, job_type, snowball_type;

-- Per UTC day, how many jobs moved from one state to another. First
-- sightings have from_state NULL.
CREATE VIEW snowball.daily_transitions AS
SELECT (observed_at AT TIME ZONE 'UTC')::date AS day,
       from_state,
       to_state,
       count(*) AS count
  FROM snowball.job_state_history
 GROUP BY 1, 2, 3;

-- Jobs in a state that is not final, with how long they have been in it,
-- oldest first.
CREATE VIEW snowball.stuck_jobs AS
SELECT job_id, job_state, job_type, snowball_type, region, state_since,
       now() - state_since AS age,
       missing_since
  FROM snowball.jobs
 WHERE job_state NOT IN ('Complete', 'Cancelled')
 ORDER BY state_since, job_id;

-- Per UTC day, the syncs by status, their mean duration, and the last success so far.
CREATE VIEW snowball.sync_health AS
SELECT day, runs, succeeded, failed, abandoned, running, mean_duration,
       max(last_success_that_day) OVER (ORDER BY day) AS last_success
  FROM (SELECT (started_at AT TIME ZONE 'UTC')::date                  AS day,
               count(*)                                             AS runs,
               count(*) FILTER (WHERE status = 'succeeded')         AS succeeded,
               count(*) FILTER (WHERE status = 'failed')            AS failed,
               count(*) FILTER (WHERE status = 'abandoned')         AS abandoned,
               count(*) FILTER (WHERE status = 'running')           AS running,
               avg(finished_at - started_at)                        AS mean_duration,
               max(finished_at) FILTER (WHERE status = 'succeeded') AS last_success_that_day
          FROM snowball.sync_runs
         GROUP BY 1) per_day;
