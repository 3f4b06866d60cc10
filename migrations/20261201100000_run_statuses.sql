-- The statuses the tool stores, and no other: the database refuses a status
-- no release knows, so a bug or a hand-written UPDATE cannot put one there.
-- Every earlier release wrote only these values.
ALTER TABLE snowball.sync_runs
    ADD CONSTRAINT sync_runs_status_check
    CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'abandoned'));

ALTER TABLE snowball.sync_run_listings
    ADD CONSTRAINT sync_run_listings_status_check
    CHECK (status IN ('succeeded', 'failed'));
