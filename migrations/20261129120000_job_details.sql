-- Job details from DescribeJob (`sync --details`): the latest description of
-- each job, and an append-only history of its shipments and data transfer.
-- Never stored: JobLogInfo (pre-signed URLs: credentials in effect),
-- PickupDetails and TaxDocuments (personal data).

CREATE TABLE snowball.job_details (
    job_id                       text        PRIMARY KEY REFERENCES snowball.jobs,
    described_at                 timestamptz NOT NULL,
    sync_run_id                  bigint      NOT NULL REFERENCES snowball.sync_runs,
    shipping_option              text,
    -- To the customer.
    outbound_status              text,
    outbound_tracking_number     text,
    -- Back to AWS.
    inbound_status               text,
    inbound_tracking_number      text,
    bytes_transferred            bigint,
    objects_transferred          bigint,
    total_bytes                  bigint,
    total_objects                bigint,
    snowball_capacity_preference text,
    cluster_id                   text,
    address_id                   text,
    kms_key_arn                  text,
    role_arn                     text,
    long_term_pricing_id         text,
    snowball_id                  text,
    impact_level                 text,
    s3_bucket_arns               text[],
    -- The rest of JobMetadata, in its wire field names.
    metadata                     jsonb       NOT NULL
);

-- Append-only like job_state_history: a row only when a shipment or transfer
-- field differs from the job's previous row (its first description included).
CREATE TABLE snowball.job_detail_history (
    id                       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id                   text        NOT NULL REFERENCES snowball.jobs,
    observed_at              timestamptz NOT NULL,
    sync_run_id              bigint      NOT NULL REFERENCES snowball.sync_runs,
    shipping_option          text,
    outbound_status          text,
    outbound_tracking_number text,
    inbound_status           text,
    inbound_tracking_number  text,
    bytes_transferred        bigint,
    objects_transferred      bigint,
    total_bytes              bigint,
    total_objects            bigint
);

CREATE INDEX job_detail_history_job_id_id_idx ON snowball.job_detail_history (job_id, id);

-- One refusal for every append-only table, naming the table refused.
CREATE OR REPLACE FUNCTION snowball.refuse_history_rewrite() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%.% is append-only: % refused', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER job_detail_history_append_only_rows
    BEFORE UPDATE OR DELETE ON snowball.job_detail_history
    FOR EACH ROW EXECUTE FUNCTION snowball.refuse_history_rewrite();

CREATE TRIGGER job_detail_history_append_only_truncate
    BEFORE TRUNCATE ON snowball.job_detail_history
    FOR EACH STATEMENT EXECUTE FUNCTION snowball.refuse_history_rewrite();

REVOKE UPDATE, DELETE, TRUNCATE ON snowball.job_detail_history FROM CURRENT_USER;

-- Latest transfer figures per job; percent done where the totals are known;
-- bytes per second between the job's last two observations of its figures.
CREATE VIEW snowball.data_transfer_progress AS
SELECT d.job_id, j.account_id, j.job_state,
       d.bytes_transferred, d.objects_transferred, d.total_bytes, d.total_objects,
       CASE WHEN d.total_bytes > 0
            THEN round(100.0 * coalesce(d.bytes_transferred, 0) / d.total_bytes, 1)
       END AS percent_done,
       rate.bytes_per_second,
       d.described_at
  FROM snowball.job_details d
  JOIN snowball.jobs j USING (job_id)
  LEFT JOIN LATERAL (
      SELECT (((array_agg(h.bytes_transferred ORDER BY h.id DESC))[1]
               - (array_agg(h.bytes_transferred ORDER BY h.id DESC))[2])
              / nullif(extract(epoch FROM (array_agg(h.observed_at ORDER BY h.id DESC))[1]
                                       - (array_agg(h.observed_at ORDER BY h.id DESC))[2]), 0)
             )::float8 AS bytes_per_second
        FROM (SELECT id, bytes_transferred, observed_at
                FROM snowball.job_detail_history
               WHERE job_id = d.job_id AND bytes_transferred IS NOT NULL
               ORDER BY id DESC
               LIMIT 2) h
  ) rate ON true
 WHERE d.bytes_transferred IS NOT NULL OR d.total_bytes IS NOT NULL;

-- Current tracking numbers and statuses of every job that has shipped.
CREATE VIEW snowball.shipments AS
SELECT d.job_id, j.account_id, j.job_state, d.shipping_option,
       d.outbound_status, d.outbound_tracking_number,
       d.inbound_status, d.inbound_tracking_number,
       d.described_at
  FROM snowball.job_details d
  JOIN snowball.jobs j USING (job_id)
 WHERE d.outbound_tracking_number IS NOT NULL OR d.inbound_tracking_number IS NOT NULL;

-- Devices on the customer's side (PreparingShipment up to WithCustomer) and
-- when they must be back: a Snowball Edge locks 360 days after it was
-- prepared. prepared_at is when the history first shows the job past
-- PreparingAppliance; approximate when the job was first seen already past it.
CREATE VIEW snowball.device_deadlines AS
SELECT j.job_id, j.account_id, j.job_state, j.snowball_type,
       p.prepared_at, p.approximate,
       p.prepared_at + interval '360 days' AS deadline,
       floor(extract(epoch FROM p.prepared_at + interval '360 days' - now()) / 86400)::integer AS days_left
  FROM snowball.jobs j
  JOIN LATERAL (
      SELECT h.observed_at AS prepared_at, h.from_state IS NULL AS approximate
        FROM snowball.job_state_history h
       WHERE h.job_id = j.job_id AND h.to_state NOT IN ('New', 'PreparingAppliance')
       ORDER BY h.id
       LIMIT 1
  ) p ON true
 WHERE j.job_state IN ('PreparingShipment', 'InTransitToCustomer', 'WithCustomer')
 ORDER BY deadline, j.job_id;

-- What a run's details step did; NULL for runs without --details.
ALTER TABLE snowball.sync_runs ADD COLUMN jobs_described integer,
                               ADD COLUMN detail_changes integer;
