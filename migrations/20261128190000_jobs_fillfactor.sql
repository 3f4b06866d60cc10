-- Every sync rewrites the bookkeeping columns (last_seen_at, last_sync_run_id)
-- of every listed job. Free space in each page lets PostgreSQL make those
-- heap-only (HOT) updates, which touch no index.
ALTER TABLE snowball.jobs SET (fillfactor = 80);
