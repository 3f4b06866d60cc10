-- The index on job_state made every state change a non-HOT update and cost
-- about 10 % of a first sync (scripts/bench.py: 100 000 jobs in 3.17 s with
-- it, 2.81 s without). A fleet's jobs table is small enough that reports
-- filtering on job_state scan it in milliseconds.
DROP INDEX snowball.jobs_job_state_idx;
