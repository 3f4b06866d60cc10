//! snowball.job_details (the latest description of each job) and
//! snowball.job_detail_history (append-only: a row when a job's shipments or
//! data transfer changed), written together, a batch of descriptions at a time.

use anyhow::Context;
use sqlx::PgExecutor;

use crate::detail::DetailRecord;

/// A job the details step describes, with where to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToDescribe {
    pub job_id: String,
    pub account_id: String,
    pub region: String,
}

/// Up to `limit` jobs after `after` (by job id) that this run must describe:
/// listed by the run, not described yet in it (an export's parts come with
/// their main job), and in a non-final state, changed by this run, never
/// described, or changed since their latest description (a description that
/// failed in the run that saw a job complete is caught up on by the next
/// run, whatever the state). `main_jobs` picks the exports' main jobs
/// (described first) or every other job. With `reports`, a completed job
/// whose reports are not all archived is described again (its URLs expire).
pub async fn to_describe(
    db: impl PgExecutor<'_>,
    run_id: i64,
    main_jobs: bool,
    // With `--include reports`: its --report-max-bytes.
    reports: Option<i64>,
    after: &str,
    limit: i64,
) -> anyhow::Result<Vec<ToDescribe>> {
    sqlx::query_as!(
        ToDescribe,
        r#"SELECT j.job_id, j.account_id AS "account_id!", j.region
             FROM snowball.jobs j
             LEFT JOIN snowball.job_details d USING (job_id)
            WHERE j.last_sync_run_id = $1
              AND j.account_id IS NOT NULL
              AND (j.is_master IS TRUE) = $2
              AND d.sync_run_id IS DISTINCT FROM $1
              AND (NOT snowball.is_final_state(j.job_state)
                   OR d.job_id IS NULL
                   -- A state change newer than the latest description; this
                   -- run's own changes are among them. Both times are
                   -- transaction times of this database's clock.
                   OR EXISTS (SELECT 1 FROM snowball.job_state_history h
                               WHERE h.job_id = j.job_id AND h.observed_at > d.described_at)
                   -- A completed job's reports: never offered to a run that
                   -- archives (NULL), or offered and not all archived.
                   -- A report kept only hashed under a lower limit counts as
                   -- not archived (db::archive::missing_kinds).
                   OR ($5::bigint IS NOT NULL AND j.job_state = 'Complete'
                       AND (d.report_kinds IS NULL
                            OR EXISTS (SELECT 1 FROM UNNEST(d.report_kinds) AS k
                                        WHERE NOT EXISTS (SELECT 1 FROM snowball.job_reports r
                                                           WHERE r.job_id = j.job_id AND r.kind = k
                                                             AND (r.stored OR r.bytes > $5))))))
              AND j.job_id > $3
            ORDER BY j.job_id
            LIMIT $4"#,
        run_id,
        main_jobs,
        after,
        limit,
        reports
    )
    .fetch_all(db)
    .await
    .context("choosing the jobs to describe")
}

/// Stores a batch of descriptions in one statement: the latest details of
/// each job, and a history row for each whose shipments or transfer figures
/// differ from its previous row. Descriptions of jobs not in snowball.jobs
/// (a part not listed yet) are left out. Returns (stored, history rows).
pub async fn write_details(
    db: impl PgExecutor<'_>,
    run_id: i64,
    details: &[DetailRecord],
) -> anyhow::Result<(i64, i64)> {
    let column = |f: fn(&DetailRecord) -> Option<&String>| -> Vec<Option<String>> {
        details.iter().map(|d| f(d).cloned()).collect()
    };
    let number = |f: fn(&DetailRecord) -> Option<i64>| -> Vec<Option<i64>> {
        details.iter().map(f).collect()
    };
    let ids: Vec<String> = details.iter().map(|d| d.job_id.clone()).collect();
    let buckets: Vec<String> = details
        .iter()
        .map(|d| serde_json::json!(d.s3_bucket_arns).to_string())
        .collect();
    let metadata: Vec<String> = details.iter().map(|d| d.metadata.to_string()).collect();
    let row = sqlx::query!(
        r#"
        WITH input AS (
            -- A job described twice in a batch keeps its last description.
            SELECT DISTINCT ON (i.job_id) i.*
              FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                          $8::int8[], $9::int8[], $10::int8[], $11::int8[],
                          $12::text[], $13::text[], $14::text[], $15::text[], $16::text[],
                          $17::text[], $18::text[], $19::text[], $20::text[], $21::text[])
                   WITH ORDINALITY
                   AS i (job_id, shipping_option, outbound_status, outbound_tracking_number,
                         inbound_status, inbound_tracking_number,
                         bytes_transferred, objects_transferred, total_bytes, total_objects,
                         snowball_capacity_preference, cluster_id, address_id, kms_key_arn, role_arn,
                         long_term_pricing_id, snowball_id, impact_level, s3_bucket_arns, metadata, ord)
             -- Only jobs snowball.jobs holds. Lookups by key (LATERAL ...
             -- LIMIT 1, never flattened into a join) whatever the sizes were
             -- when the connection cached this statement's plan: see
             -- db::jobs::write_jobs.
             CROSS JOIN LATERAL (SELECT FROM snowball.jobs j WHERE j.job_id = i.job_id LIMIT 1) known
             ORDER BY i.job_id, i.ord DESC
        ),
        previous AS (
            -- Each job's last history row, by the (job_id, id) index.
            SELECT p.*
              FROM input i
             CROSS JOIN LATERAL (
                    SELECT h.*
                      FROM snowball.job_detail_history h
                     WHERE h.job_id = i.job_id
                     ORDER BY h.id DESC
                     LIMIT 1
                   ) p
        ),
        stored AS (
            INSERT INTO snowball.job_details AS d
                   (job_id, described_at, sync_run_id, shipping_option, outbound_status,
                    outbound_tracking_number, inbound_status, inbound_tracking_number,
                    bytes_transferred, objects_transferred, total_bytes, total_objects,
                    snowball_capacity_preference, cluster_id, address_id, kms_key_arn, role_arn,
                    long_term_pricing_id, snowball_id, impact_level, s3_bucket_arns, metadata)
            SELECT job_id, now(), $1, shipping_option, outbound_status,
                   outbound_tracking_number, inbound_status, inbound_tracking_number,
                   bytes_transferred, objects_transferred, total_bytes, total_objects,
                   snowball_capacity_preference, cluster_id, address_id, kms_key_arn, role_arn,
                   long_term_pricing_id, snowball_id, impact_level,
                   ARRAY(SELECT jsonb_array_elements_text(s3_bucket_arns::jsonb)), metadata::jsonb
              FROM input
            ON CONFLICT (job_id) DO UPDATE
               SET described_at = EXCLUDED.described_at,
                   sync_run_id = EXCLUDED.sync_run_id,
                   shipping_option = EXCLUDED.shipping_option,
                   outbound_status = EXCLUDED.outbound_status,
                   outbound_tracking_number = EXCLUDED.outbound_tracking_number,
                   inbound_status = EXCLUDED.inbound_status,
                   inbound_tracking_number = EXCLUDED.inbound_tracking_number,
                   bytes_transferred = EXCLUDED.bytes_transferred,
                   objects_transferred = EXCLUDED.objects_transferred,
                   total_bytes = EXCLUDED.total_bytes,
                   total_objects = EXCLUDED.total_objects,
                   snowball_capacity_preference = EXCLUDED.snowball_capacity_preference,
                   cluster_id = EXCLUDED.cluster_id,
                   address_id = EXCLUDED.address_id,
                   kms_key_arn = EXCLUDED.kms_key_arn,
                   role_arn = EXCLUDED.role_arn,
                   long_term_pricing_id = EXCLUDED.long_term_pricing_id,
                   snowball_id = EXCLUDED.snowball_id,
                   impact_level = EXCLUDED.impact_level,
                   s3_bucket_arns = EXCLUDED.s3_bucket_arns,
                   metadata = EXCLUDED.metadata
            RETURNING d.job_id
        ),
        changed AS (
            -- Every part of the statement sees the history as it was before
            -- it: `previous` is the job's last row until now.
            INSERT INTO snowball.job_detail_history
                   (job_id, observed_at, sync_run_id, shipping_option, outbound_status,
                    outbound_tracking_number, inbound_status, inbound_tracking_number,
                    bytes_transferred, objects_transferred, total_bytes, total_objects,
                    prev_hash, row_hash)
            SELECT i.job_id, now(), $1, i.shipping_option, i.outbound_status,
                   i.outbound_tracking_number, i.inbound_status, i.inbound_tracking_number,
                   i.bytes_transferred, i.objects_transferred, i.total_bytes, i.total_objects,
                   -- Chained to the job's last row, as in db::jobs::write_jobs.
                   p.row_hash,
                   snowball.job_detail_row_hash(
                       (SELECT snowball.chain_prefix('snowball.job_detail_history', $1, now())),
                       i.job_id, i.shipping_option, i.outbound_status, i.outbound_tracking_number,
                       i.inbound_status, i.inbound_tracking_number, i.bytes_transferred,
                       i.objects_transferred, i.total_bytes, i.total_objects, p.row_hash)
              FROM input i
              LEFT JOIN previous p USING (job_id)
             WHERE p.job_id IS NULL
                OR (i.shipping_option, i.outbound_status, i.outbound_tracking_number,
                    i.inbound_status, i.inbound_tracking_number, i.bytes_transferred,
                    i.objects_transferred, i.total_bytes, i.total_objects)
                   IS DISTINCT FROM
                   (p.shipping_option, p.outbound_status, p.outbound_tracking_number,
                    p.inbound_status, p.inbound_tracking_number, p.bytes_transferred,
                    p.objects_transferred, p.total_bytes, p.total_objects)
             ORDER BY i.job_id
            RETURNING job_id
        )
        SELECT (SELECT count(*) FROM stored) AS "stored!", (SELECT count(*) FROM changed) AS "changed!"
        "#,
        run_id,
        &ids,
        &column(|d| d.progress.shipping_option.as_ref()) as &[Option<String>],
        &column(|d| d.progress.outbound_status.as_ref()) as &[Option<String>],
        &column(|d| d.progress.outbound_tracking_number.as_ref()) as &[Option<String>],
        &column(|d| d.progress.inbound_status.as_ref()) as &[Option<String>],
        &column(|d| d.progress.inbound_tracking_number.as_ref()) as &[Option<String>],
        &number(|d| d.progress.bytes_transferred) as &[Option<i64>],
        &number(|d| d.progress.objects_transferred) as &[Option<i64>],
        &number(|d| d.progress.total_bytes) as &[Option<i64>],
        &number(|d| d.progress.total_objects) as &[Option<i64>],
        &column(|d| d.snowball_capacity_preference.as_ref()) as &[Option<String>],
        &column(|d| d.cluster_id.as_ref()) as &[Option<String>],
        &column(|d| d.address_id.as_ref()) as &[Option<String>],
        &column(|d| d.kms_key_arn.as_ref()) as &[Option<String>],
        &column(|d| d.role_arn.as_ref()) as &[Option<String>],
        &column(|d| d.long_term_pricing_id.as_ref()) as &[Option<String>],
        &column(|d| d.snowball_id.as_ref()) as &[Option<String>],
        &column(|d| d.impact_level.as_ref()) as &[Option<String>],
        &buckets,
        &metadata,
    )
    .fetch_one(db)
    .await
    .with_context(|| format!("writing the details of {} jobs", details.len()))?;
    Ok((row.stored, row.changed))
}

/// Records which main job each export part came with (the main job's
/// DescribeJob answer lists its parts).
pub async fn set_main_jobs(
    db: impl PgExecutor<'_>,
    parts: &[&str],
    mains: &[&str],
) -> anyhow::Result<()> {
    sqlx::query!(
        "UPDATE snowball.job_details d
            SET main_job_id = p.main_job_id
           FROM UNNEST($1::text[], $2::text[]) AS p (job_id, main_job_id)
          WHERE d.job_id = p.job_id
            AND d.main_job_id IS DISTINCT FROM p.main_job_id",
        parts as &[&str],
        mains as &[&str],
    )
    .execute(db)
    .await
    .context("recording the export parts' main jobs")?;
    Ok(())
}

/// An export main job's parts, by id.
pub async fn parts_of(db: impl PgExecutor<'_>, main_job_id: &str) -> anyhow::Result<Vec<String>> {
    sqlx::query_scalar!(
        "SELECT job_id FROM snowball.job_details WHERE main_job_id = $1 ORDER BY job_id",
        main_job_id
    )
    .fetch_all(db)
    .await
    .with_context(|| format!("reading the parts of {main_job_id}"))
}
