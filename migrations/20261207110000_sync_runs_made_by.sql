-- Which command made a run: `sync`, or `demo` (a simulated fleet). `demo`
-- refuses a database named with --database-url that holds runs it did not
-- make, so a demo can never write into a database of real runs. Runs
-- already recorded were made by `sync` as far as anyone can tell.
ALTER TABLE snowball.sync_runs
    ADD COLUMN made_by text NOT NULL DEFAULT 'sync'
        CONSTRAINT sync_runs_made_by_check CHECK (made_by IN ('sync', 'demo'));
