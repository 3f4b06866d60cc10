-- Defence in depth beside the append-only trigger: the role that owns the
-- history (the one running migrations and syncs) loses the privileges to
-- rewrite it. An owner could grant them back, but never by accident.
REVOKE UPDATE, DELETE, TRUNCATE ON snowball.job_state_history FROM CURRENT_USER;
