-- Scale out (issue 4): one upload or recovery job's documents split into
-- batches by manifest position, each a job row of its own (and a queue
-- message of its own), so several worker processes share one archive.
--
-- A batch row has `parent_id` (the job the client polls) and its manifest
-- positions `first_seq`..`last_seq`. Batches record outcomes and progress
-- on the parent, so the parent's counters aggregate them. The parent knows
-- how many batches it has and how many are finished: the batch whose finish
-- makes them equal is the last one and finishes the parent, in the same
-- transaction. Job lists show parents only (`parent_id IS NULL`).
ALTER TABLE jobs ADD COLUMN parent_id TEXT;
ALTER TABLE jobs ADD COLUMN first_seq BIGINT;
ALTER TABLE jobs ADD COLUMN last_seq BIGINT;
ALTER TABLE jobs ADD COLUMN batches_total BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN batches_done BIGINT NOT NULL DEFAULT 0;
CREATE INDEX jobs_parent ON jobs (parent_id);
CREATE INDEX documents_job ON documents (job_id, status);
