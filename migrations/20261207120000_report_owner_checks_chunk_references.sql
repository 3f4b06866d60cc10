-- A chunk's foreign key is checked at commit by a query that runs as the
-- owner of snowball.job_reports and locks the report's row FOR KEY SHARE,
-- which needs UPDATE on the table. 20261202100000_job_reports.sql revoked
-- it from the owner, so where the owner is not a superuser no report could
-- be archived. The owner gets it back; the append-only trigger still
-- refuses every UPDATE, and the writer of contrib/postgres-roles.sql (which
-- owns nothing) has no UPDATE on any history table.
GRANT UPDATE ON snowball.job_reports TO CURRENT_USER;
