-- Digest version 2: a run sealed from this migration on also commits to its
-- own record (times, regions, accounts, counts, error, version, host, who
-- made it) and its listings (sync_run_listings), so none of them can be
-- rewritten without `verify` noticing. Runs sealed before keep version 1
-- (their digests are unchanged): digest_version NULL.
ALTER TABLE snowball.sync_runs ADD COLUMN digest_version smallint
    CONSTRAINT sync_runs_digest_version_check CHECK (digest_version = 2);

-- A run's listings hash: the SHA-256 of its listings' fields, listing after
-- listing in byte order of (kind, account_id, region).
CREATE FUNCTION snowball.run_listings_hash(run_id bigint) RETURNS bytea
LANGUAGE sql STABLE AS $$
    SELECT sha256(coalesce(string_agg(
               snowball.chain_field(l.kind) || snowball.chain_field(l.account_id)
               || snowball.chain_field(l.region) || snowball.chain_field(l.status)
               || snowball.chain_field(l.pages::bigint) || snowball.chain_field(l.jobs_seen::bigint)
               || snowball.chain_field(l.error) || snowball.chain_field(l.started_at)
               || snowball.chain_field(l.finished_at),
               ''::bytea
               ORDER BY l.kind COLLATE "C", l.account_id COLLATE "C", l.region COLLATE "C"),
           ''::bytea))
      FROM snowball.sync_run_listings l
     WHERE l.run_id = $1
$$;

CREATE OR REPLACE FUNCTION snowball.seal_run(run_id bigint) RETURNS bytea
LANGUAGE plpgsql AS $$
DECLARE
    run      snowball.sync_runs;
    previous snowball.sync_runs;
    rows     bytea;
    listings bytea;
    result   bytea;
BEGIN
    SELECT * INTO run FROM snowball.sync_runs r WHERE r.id = run_id;
    IF NOT FOUND OR run.status = 'running' OR run.digest IS NOT NULL THEN
        RAISE EXCEPTION 'run % cannot be sealed: %', run_id,
            coalesce('its status is ' || run.status || CASE WHEN run.digest IS NOT NULL THEN ', sealed' ELSE '' END, 'no such run');
    END IF;
    -- An ended run writes no more rows: they are hashed before the lock.
    rows := snowball.run_rows_hash(run_id);
    listings := snowball.run_listings_hash(run_id);
    PERFORM pg_advisory_xact_lock(8317708120627700076);
    SELECT * INTO previous FROM snowball.sync_runs r
     WHERE r.digest_seq IS NOT NULL ORDER BY r.digest_seq DESC LIMIT 1;
    -- Version 1's fields, then version 2's: its number, the run's record,
    -- its listings hash.
    result := sha256(snowball.chain_field('snowball.sync_runs'::text)
                     || snowball.chain_field(previous.digest)
                     || snowball.chain_field(run.id)
                     || snowball.chain_field(run.status)
                     || snowball.chain_field(rows)
                     || snowball.chain_field(2::bigint)
                     || snowball.chain_field(run.started_at)
                     || snowball.chain_field(run.finished_at)
                     || snowball.chain_field(run.regions)
                     || snowball.chain_field(run.accounts)
                     || snowball.chain_field(run.pages::bigint)
                     || snowball.chain_field(run.jobs_seen::bigint)
                     || snowball.chain_field(run.jobs_new::bigint)
                     || snowball.chain_field(run.jobs_changed::bigint)
                     || snowball.chain_field(run.transitions::bigint)
                     || snowball.chain_field(run.jobs_missing::bigint)
                     || snowball.chain_field(run.jobs_described::bigint)
                     || snowball.chain_field(run.detail_changes::bigint)
                     || snowball.chain_field(run.reports_archived::bigint)
                     || snowball.chain_field(run.report_bytes)
                     || snowball.chain_field(run.reports_hashed_only::bigint)
                     || snowball.chain_field(run.cluster_transitions::bigint)
                     || snowball.chain_field(run.pricing_changes::bigint)
                     || snowball.chain_field(run.error)
                     || snowball.chain_field(run.tool_version)
                     || snowball.chain_field(run.host)
                     || snowball.chain_field(run.made_by)
                     || snowball.chain_field(listings));
    UPDATE snowball.sync_runs r
       SET digest = result, digest_seq = coalesce(previous.digest_seq, 0) + 1,
           digest_version = 2
     WHERE r.id = run_id;
    RETURN result;
END;
$$;
