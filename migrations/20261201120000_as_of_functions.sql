-- The fleet as the record stood at any moment: "what was the state at
-- quarter end?". A job's state at `at` is the newest history row observed
-- at or before `at`; jobs first seen after `at` are left out. Attributes
-- that have no history (account, region, type, device type) are today's.

CREATE FUNCTION snowball.jobs_as_of(at timestamptz)
RETURNS TABLE (job_id text, job_state text, state_since timestamptz,
               entered_after timestamptz, account_id text, region text,
               job_type text, snowball_type text)
LANGUAGE sql STABLE AS $$
    SELECT j.job_id, h.to_state, h.observed_at, h.from_state_last_seen_at,
           j.account_id, j.region, j.job_type, j.snowball_type
      FROM snowball.jobs j
     CROSS JOIN LATERAL (
           -- job_state_history (job_id, observed_at) finds it.
           SELECT s.to_state, s.observed_at, s.from_state_last_seen_at
             FROM snowball.job_state_history s
            WHERE s.job_id = j.job_id AND s.observed_at <= at
            ORDER BY s.observed_at DESC, s.id DESC
            LIMIT 1
           ) h
$$;

-- Jobs per account, state, job type and device type at `at`: the columns of
-- the state_counts view.
CREATE FUNCTION snowball.state_counts_as_of(at timestamptz)
RETURNS TABLE (job_state text, job_type text, snowball_type text, jobs bigint,
               account_id text)
LANGUAGE sql STABLE AS $$
    SELECT job_state, job_type, snowball_type, count(*) AS jobs, account_id
      FROM snowball.jobs_as_of(at)
     GROUP BY account_id, job_state, job_type, snowball_type
$$;
