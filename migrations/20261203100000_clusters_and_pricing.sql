-- The rest of the estate (`sync --include clusters,long-term-pricing`):
-- clusters with the append-only trail of their states, and long-term
-- pricing terms with the append-only trail of their changes. Both trails
-- are chained (one chain per cluster, one per term) and counted in the
-- digest of the run that wrote them, like the jobs' history.

-- One row per cluster, as its latest listing (ListClusters) and description
-- (DescribeCluster) say. `metadata` is the rest of ClusterMetadata in wire
-- field names, TaxDocuments never among them.
CREATE TABLE snowball.clusters (
    cluster_id       text PRIMARY KEY,
    account_id       text,
    region           text        NOT NULL,
    cluster_state    text        NOT NULL,
    job_type         text,
    snowball_type    text,
    creation_date    timestamptz,
    description      text,
    first_seen_at    timestamptz NOT NULL,
    last_seen_at     timestamptz NOT NULL,
    state_since      timestamptz NOT NULL,
    missing_since    timestamptz,
    last_sync_run_id bigint REFERENCES snowball.sync_runs,
    described_at     timestamptz,
    metadata         jsonb
);

CREATE INDEX clusters_account_id_region_idx ON snowball.clusters (account_id, region);

-- Exactly like job_state_history, with cluster_id for job_id.
CREATE TABLE snowball.cluster_state_history (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cluster_id              text        NOT NULL REFERENCES snowball.clusters,
    from_state              text,
    to_state                text        NOT NULL,
    observed_at             timestamptz NOT NULL,
    from_state_last_seen_at timestamptz,
    sync_run_id             bigint      NOT NULL REFERENCES snowball.sync_runs,
    prev_hash               bytea,
    row_hash                bytea       NOT NULL
);

CREATE INDEX cluster_state_history_cluster_id_id_idx
    ON snowball.cluster_state_history (cluster_id, id);
CREATE INDEX cluster_state_history_sync_run_id_id_idx
    ON snowball.cluster_state_history (sync_run_id, id);

-- The cluster a job belongs to, from ListClusterJobs. Few jobs have one:
-- a partial index, which the jobs' updates (cluster_id unchanged) keep HOT.
ALTER TABLE snowball.jobs ADD COLUMN cluster_id text;
CREATE INDEX jobs_cluster_id_idx ON snowball.jobs (cluster_id) WHERE cluster_id IS NOT NULL;

-- One row per long-term pricing term, as its latest listing says.
CREATE TABLE snowball.long_term_pricing (
    long_term_pricing_id text PRIMARY KEY,
    account_id           text,
    region               text        NOT NULL,
    pricing_type         text,
    start_date           timestamptz,
    end_date             timestamptz,
    auto_renew           boolean,
    status               text,
    snowball_type        text,
    current_active_job   text,
    replacement_job      text,
    job_ids              text[],
    first_seen_at        timestamptz NOT NULL,
    last_seen_at         timestamptz NOT NULL,
    missing_since        timestamptz,
    last_sync_run_id     bigint REFERENCES snowball.sync_runs
);

CREATE INDEX long_term_pricing_account_id_region_idx
    ON snowball.long_term_pricing (account_id, region);

-- A row per observed change of a term's status, auto_renew, end_date,
-- current_active_job, replacement_job or job_ids (its first sighting
-- included), holding those values after the change.
CREATE TABLE snowball.long_term_pricing_history (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    long_term_pricing_id text        NOT NULL REFERENCES snowball.long_term_pricing,
    observed_at          timestamptz NOT NULL,
    sync_run_id          bigint      NOT NULL REFERENCES snowball.sync_runs,
    status               text,
    auto_renew           boolean,
    end_date             timestamptz,
    current_active_job   text,
    replacement_job      text,
    job_ids              text[],
    prev_hash            bytea,
    row_hash             bytea       NOT NULL
);

CREATE INDEX long_term_pricing_history_term_id_idx
    ON snowball.long_term_pricing_history (long_term_pricing_id, id);
CREATE INDEX long_term_pricing_history_sync_run_id_id_idx
    ON snowball.long_term_pricing_history (sync_run_id, id);

CREATE TRIGGER cluster_state_history_append_only_rows
    BEFORE UPDATE OR DELETE ON snowball.cluster_state_history
    FOR EACH ROW EXECUTE FUNCTION snowball.refuse_history_rewrite();
CREATE TRIGGER cluster_state_history_append_only_truncate
    BEFORE TRUNCATE ON snowball.cluster_state_history
    FOR EACH STATEMENT EXECUTE FUNCTION snowball.refuse_history_rewrite();
CREATE TRIGGER long_term_pricing_history_append_only_rows
    BEFORE UPDATE OR DELETE ON snowball.long_term_pricing_history
    FOR EACH ROW EXECUTE FUNCTION snowball.refuse_history_rewrite();
CREATE TRIGGER long_term_pricing_history_append_only_truncate
    BEFORE TRUNCATE ON snowball.long_term_pricing_history
    FOR EACH STATEMENT EXECUTE FUNCTION snowball.refuse_history_rewrite();
REVOKE UPDATE, DELETE, TRUNCATE
    ON snowball.cluster_state_history, snowball.long_term_pricing_history FROM CURRENT_USER;

-- One row per stint of a cluster in a state, like job_state_intervals.
CREATE VIEW snowball.cluster_state_intervals AS
SELECT h.cluster_id,
       h.to_state                                  AS state,
       h.observed_at                               AS entered_at,
       h.from_state_last_seen_at                   AS entered_after,
       lead(h.observed_at) OVER stints             AS left_at,
       coalesce(lead(h.observed_at) OVER stints, now()) - h.observed_at AS duration,
       lead(h.observed_at) OVER stints IS NULL     AS is_current,
       h.sync_run_id
  FROM snowball.cluster_state_history h
WINDOW stints AS (PARTITION BY h.cluster_id ORDER BY h.id);

-- Every term, soonest end first. days_left: whole days until end_date
-- (negative once ended). lapses: ends within 60 days from now and does not
-- auto-renew (an ended term has already lapsed or renewed: false).
CREATE VIEW snowball.long_term_pricing_terms AS
SELECT t.long_term_pricing_id, t.account_id, t.region, t.pricing_type, t.snowball_type,
       t.status, t.start_date, t.end_date, t.auto_renew, t.current_active_job,
       t.replacement_job, t.job_ids,
       floor(extract(epoch FROM t.end_date - now()) / 86400)::integer AS days_left,
       coalesce(t.end_date > now()
                AND t.end_date <= now() + interval '60 days'
                AND t.auto_renew IS NOT TRUE, false) AS lapses,
       t.missing_since, t.last_seen_at
  FROM snowball.long_term_pricing t
 ORDER BY t.end_date NULLS LAST, t.long_term_pricing_id;

-- What a run read of the estate, published with the rest of its totals;
-- NULL when the run did not read that kind.
ALTER TABLE snowball.sync_runs
    ADD COLUMN cluster_transitions integer,
    ADD COLUMN pricing_changes integer;

CREATE OR REPLACE FUNCTION snowball.run_notification(r snowball.sync_runs) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
               'run_id',              r.id,
               'status',              r.status,
               'transitions',         r.transitions,
               'jobs_new',            r.jobs_new,
               'jobs_changed',        r.jobs_changed,
               'jobs_missing',        r.jobs_missing,
               'error',               left(r.error, 2000),
               'started_at',          r.started_at,
               'finished_at',         r.finished_at,
               'accounts',            r.accounts,
               'digest',              encode(r.digest, 'hex'),
               'reports_archived',    r.reports_archived,
               'report_bytes',        r.report_bytes,
               'cluster_transitions', r.cluster_transitions,
               'pricing_changes',     r.pricing_changes
           )::text
$$;

-- A list of text: NULL is 0x00; a list is 0x01, the length of what follows
-- as 4 bytes big-endian, then each element encoded as a text field.
CREATE FUNCTION snowball.chain_field(v text[]) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN v IS NULL THEN '\x00'::bytea
                ELSE snowball.chain_field(
                         coalesce((SELECT string_agg(snowball.chain_field(e), ''::bytea ORDER BY i)
                                     FROM unnest(v) WITH ORDINALITY AS u (e, i)), ''::bytea))
           END
$$;

-- A boolean as the text `true` or `false`.
CREATE FUNCTION snowball.chain_field(v boolean) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT snowball.chain_field(CASE v WHEN true THEN 'true' WHEN false THEN 'false' END)
$$;

-- A cluster state row's hash: the prefix (table, run, observed_at), then
-- cluster_id, from_state, to_state, from_state_last_seen_at, prev_hash.
CREATE FUNCTION snowball.cluster_state_row_hash(
    prefix bytea, cluster_id text, from_state text, to_state text,
    from_state_last_seen_at timestamptz, prev_hash bytea
) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT sha256(prefix
                  || snowball.chain_field(cluster_id)
                  || snowball.chain_field(from_state)
                  || snowball.chain_field(to_state)
                  || snowball.chain_field(from_state_last_seen_at)
                  || snowball.chain_field(prev_hash))
$$;

-- A term row's hash: the prefix, then long_term_pricing_id, status,
-- auto_renew, end_date, current_active_job, replacement_job, job_ids,
-- prev_hash.
CREATE FUNCTION snowball.long_term_pricing_row_hash(
    prefix bytea, long_term_pricing_id text, status text, auto_renew boolean,
    end_date timestamptz, current_active_job text, replacement_job text, job_ids text[],
    prev_hash bytea
) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT sha256(prefix
                  || snowball.chain_field(long_term_pricing_id)
                  || snowball.chain_field(status)
                  || snowball.chain_field(auto_renew)
                  || snowball.chain_field(end_date)
                  || snowball.chain_field(current_active_job)
                  || snowball.chain_field(replacement_job)
                  || snowball.chain_field(job_ids)
                  || snowball.chain_field(prev_hash))
$$;

-- A run's cluster rows are hashed after its usage rows, then its term rows.
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
             WHERE u.sync_run_id = run_id
             UNION ALL
            SELECT 5, c.id, c.row_hash FROM snowball.cluster_state_history c
             WHERE c.sync_run_id = run_id
             UNION ALL
            SELECT 6, t.id, t.row_hash FROM snowball.long_term_pricing_history t
             WHERE t.sync_run_id = run_id) h
$$;
