-- How many jobs a run found no longer listed (it set their missing_since).
-- NULL for runs recorded before this column existed: their count is unknown.
ALTER TABLE snowball.sync_runs ADD COLUMN jobs_missing integer;

-- The payload of the 'snowball_sync' notification sent when a run's end is
-- recorded: the public interface of listeners such as `snowball-sync watch`.
-- One place builds it, so every final status (succeeded, failed, abandoned)
-- sends the same shape. NOTIFY payloads are limited to 8000 bytes: the error
-- is cut to 2000 characters (the whole text stays in sync_runs.error).
CREATE FUNCTION snowball.run_notification(r snowball.sync_runs) RETURNS text
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
               'finished_at',  r.finished_at
           )::text
$$;

-- Listeners read a run's transitions by its id (`WHERE sync_run_id = $1`,
-- in write order): without this index each such query scans the whole history.
CREATE INDEX job_state_history_sync_run_id_id_idx
    ON snowball.job_state_history (sync_run_id, id);
