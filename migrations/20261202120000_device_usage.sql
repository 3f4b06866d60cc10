-- Device usage against the limit, per account and region (`sync --include
-- usage`: GetSnowballUsage). Append-only like the history, chained per
-- account and region, counted in the digest of the run that wrote it.

-- A row only when SnowballLimit or SnowballsInUse changed for that account
-- and region (the first observation included).
CREATE TABLE snowball.device_usage_history (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id       text        NOT NULL,
    region           text        NOT NULL,
    observed_at      timestamptz NOT NULL,
    sync_run_id      bigint      NOT NULL REFERENCES snowball.sync_runs,
    snowball_limit   bigint,
    snowballs_in_use bigint,
    prev_hash        bytea,
    row_hash         bytea       NOT NULL
);

CREATE INDEX device_usage_history_account_region_id_idx
    ON snowball.device_usage_history (account_id, region, id);
CREATE INDEX device_usage_history_sync_run_id_id_idx
    ON snowball.device_usage_history (sync_run_id, id);

CREATE TRIGGER device_usage_history_append_only_rows
    BEFORE UPDATE OR DELETE ON snowball.device_usage_history
    FOR EACH ROW EXECUTE FUNCTION snowball.refuse_history_rewrite();
CREATE TRIGGER device_usage_history_append_only_truncate
    BEFORE TRUNCATE ON snowball.device_usage_history
    FOR EACH STATEMENT EXECUTE FUNCTION snowball.refuse_history_rewrite();
REVOKE UPDATE, DELETE, TRUNCATE ON snowball.device_usage_history FROM CURRENT_USER;

-- The latest figures per account and region.
CREATE VIEW snowball.device_usage AS
SELECT DISTINCT ON (account_id, region)
       account_id, region, snowball_limit, snowballs_in_use,
       snowball_limit - snowballs_in_use AS headroom,
       observed_at, sync_run_id
  FROM snowball.device_usage_history
 ORDER BY account_id, region, id DESC;

-- Listings of every kind a run reads: `jobs` (ListJobs, every row before
-- this migration) and `usage` (GetSnowballUsage).
ALTER TABLE snowball.sync_run_listings ADD COLUMN kind text NOT NULL DEFAULT 'jobs';
ALTER TABLE snowball.sync_run_listings DROP CONSTRAINT sync_run_listings_pkey;
ALTER TABLE snowball.sync_run_listings ADD PRIMARY KEY (run_id, account_id, region, kind);

-- A usage row's hash: the prefix (table, run, observed_at), then account_id,
-- region, snowball_limit, snowballs_in_use, prev_hash. One chain per account
-- and region.
CREATE FUNCTION snowball.device_usage_row_hash(
    prefix bytea, account_id text, region text, snowball_limit bigint,
    snowballs_in_use bigint, prev_hash bytea
) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT sha256(prefix
                  || snowball.chain_field(account_id)
                  || snowball.chain_field(region)
                  || snowball.chain_field(snowball_limit)
                  || snowball.chain_field(snowballs_in_use)
                  || snowball.chain_field(prev_hash))
$$;

-- The run's usage rows are hashed after its report rows (see
-- 20261202100000_job_reports.sql).
CREATE OR REPLACE FUNCTION snowball.run_rows_hash(run_id bigint) RETURNS bytea
LANGUAGE sql STABLE AS $$
    SELECT sha256(coalesce(string_agg(h.row_hash, ''::bytea ORDER BY h.part, h.id), ''::bytea))
      FROM (SELECT 1 AS part, s.id, s.row_hash FROM snowball.job_state_history s
             WHERE s.sync_run_id = run_id
             UNION ALL
            SELECT 2, d.id, d.row_hash FROM snowball.job_detail_history d
             WHERE d.sync_run_id = run_id
             UNION ALL
            SELECT 3, p.id, p.row_hash FROM snowball.job_reports p
             WHERE p.sync_run_id = run_id
             UNION ALL
            SELECT 4, u.id, u.row_hash FROM snowball.device_usage_history u
             WHERE u.sync_run_id = run_id) h
$$;
