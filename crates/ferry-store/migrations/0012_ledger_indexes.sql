-- Issue 14: recording an outcome updates a ledger row, and every index that
-- names a changed column takes a new entry per row. Of the four indexes on
-- `documents`, two existed for rare readers:
--  - `documents_job (job_id, status)` served only the reconcile at a job's
--    end, which now reads the migration's rows (`migration_id = …`) instead;
--  - `documents_status (migration_id, status, seq)` serves the work lists of
--    uploads (`pending`) and recoveries (`missing`, `failed`); it is now
--    partial, without the `uploaded` rows, so the common outcome adds no
--    entry to it. Readers that want to use it say `status <> 'uploaded'`
--    (SQLite uses a partial index only when the query repeats its condition).
-- Measured on PostgreSQL, 2,000 outcomes per statement: 82 ms → 40 ms.
DROP INDEX documents_job;
DROP INDEX documents_status;
CREATE INDEX documents_open ON documents (migration_id, status, seq) WHERE status <> 'uploaded';
