-- When a complete, successful listing of a job's region stopped returning it.
-- NULL while the job is listed; set again to NULL when it reappears. AWS stops
-- listing very old jobs after a while, and a job can move between accounts:
-- neither is a JobState transition, so it is recorded here, not in the history.
ALTER TABLE snowball.jobs ADD COLUMN missing_since timestamptz;
