-- A report kept only hashed (larger than --report-max-bytes when it was
-- fetched) can be fetched again and kept by a later run with a higher
-- limit: a job's kind may now have one hashed-only row and one kept row,
-- each chained like every report row. Only a kept row has content: the
-- chunks now name the row they belong to by (job_id, kind, stored), with
-- stored always true.
ALTER TABLE snowball.job_reports
    ADD CONSTRAINT job_reports_job_id_kind_stored_key UNIQUE (job_id, kind, stored);
ALTER TABLE snowball.job_report_chunks
    ADD COLUMN stored boolean NOT NULL DEFAULT true
        CONSTRAINT job_report_chunks_stored_check CHECK (stored);
ALTER TABLE snowball.job_report_chunks
    DROP CONSTRAINT job_report_chunks_job_id_kind_fkey,
    ADD CONSTRAINT job_report_chunks_report_fkey FOREIGN KEY (job_id, kind, stored)
        REFERENCES snowball.job_reports (job_id, kind, stored) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE snowball.job_reports DROP CONSTRAINT job_reports_job_id_kind_key;

-- Reports a run kept only hashed, apart from those it kept (reports_archived
-- counts both); NULL when it did not archive reports or before this.
ALTER TABLE snowball.sync_runs ADD COLUMN reports_hashed_only integer;
