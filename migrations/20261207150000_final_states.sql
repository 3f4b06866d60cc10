-- One definition of the final states in SQL (the service changes nothing
-- about a job or cluster once it is Complete or Cancelled), for the
-- statements and views that ask, instead of the states listed in each. The
-- tool's own definition is src/state.rs; a test holds the two equal.
-- stuck_jobs asks it from now on; its columns and rows are unchanged.
CREATE FUNCTION snowball.is_final_state(state text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT state IN ('Complete', 'Cancelled') $$;

CREATE OR REPLACE VIEW snowball.stuck_jobs AS
 SELECT jobs.job_id,
    jobs.job_state,
    jobs.job_type,
    jobs.snowball_type,
    jobs.region,
    jobs.state_since,
    (now() - jobs.state_since) AS age,
    jobs.missing_since,
    jobs.account_id
   FROM snowball.jobs
  WHERE NOT snowball.is_final_state(jobs.job_state)
  ORDER BY jobs.state_since, jobs.job_id;
