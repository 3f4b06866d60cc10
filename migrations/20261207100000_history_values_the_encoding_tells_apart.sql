-- The hash chain's encoding writes a timestamp with PostgreSQL's to_char,
-- which writes no era and writes ±infinity as NULL, and flattens a list's
-- dimensions: 44 BC hashes as 44 AD, infinity as NULL, {{a,b}} as {a,b}.
-- No release writes such values; from now on the history refuses them in
-- new rows. NOT VALID: rows already written are kept as they are (`verify`
-- names any such value on its row).

ALTER TABLE snowball.job_state_history
    ADD CONSTRAINT job_state_history_times_the_encoding_tells_apart CHECK (
        isfinite(observed_at) AND observed_at >= '0001-01-01 00:00:00+00'
        AND (from_state_last_seen_at IS NULL
             OR (isfinite(from_state_last_seen_at)
                 AND from_state_last_seen_at >= '0001-01-01 00:00:00+00'))) NOT VALID;

ALTER TABLE snowball.job_detail_history
    ADD CONSTRAINT job_detail_history_times_the_encoding_tells_apart CHECK (
        isfinite(observed_at) AND observed_at >= '0001-01-01 00:00:00+00') NOT VALID;

ALTER TABLE snowball.job_reports
    ADD CONSTRAINT job_reports_times_the_encoding_tells_apart CHECK (
        isfinite(fetched_at) AND fetched_at >= '0001-01-01 00:00:00+00') NOT VALID;

ALTER TABLE snowball.device_usage_history
    ADD CONSTRAINT device_usage_history_times_the_encoding_tells_apart CHECK (
        isfinite(observed_at) AND observed_at >= '0001-01-01 00:00:00+00') NOT VALID;

ALTER TABLE snowball.cluster_state_history
    ADD CONSTRAINT cluster_state_history_times_the_encoding_tells_apart CHECK (
        isfinite(observed_at) AND observed_at >= '0001-01-01 00:00:00+00'
        AND (from_state_last_seen_at IS NULL
             OR (isfinite(from_state_last_seen_at)
                 AND from_state_last_seen_at >= '0001-01-01 00:00:00+00'))) NOT VALID;

ALTER TABLE snowball.long_term_pricing_history
    ADD CONSTRAINT long_term_pricing_history_values_the_encoding_tells_apart CHECK (
        isfinite(observed_at) AND observed_at >= '0001-01-01 00:00:00+00'
        AND (end_date IS NULL
             OR (isfinite(end_date) AND end_date >= '0001-01-01 00:00:00+00'))
        AND (job_ids IS NULL
             OR (coalesce(array_ndims(job_ids), 1) = 1
                 AND array_position(job_ids, NULL) IS NULL))) NOT VALID;
