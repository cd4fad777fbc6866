-- Issue 18: jobs reach the queue through an outbox. A start (or a split into
-- batches) writes the job row and its dispatch record in one transaction;
-- a dispatcher pushes committed records to the queue afterwards, so a
-- worker never receives the id of a job whose row is not visible yet, and a
-- start whose transaction fails leaves nothing in the queue.
--
-- `pushed_at` is NULL until a dispatcher has pushed the record; `pushes`
-- counts the pushes and travels in the message, so a worker can tell the
-- redelivery of the message that took a running job (a crashed worker's
-- job coming back) from an older push of the same job (ignored).
-- The record goes when its job ends.
CREATE TABLE job_outbox (
    job_id TEXT PRIMARY KEY,
    pushed_at TEXT,
    pushes BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX job_outbox_pushed ON job_outbox (pushed_at);

-- Which push a worker took a job with (see above); NULL reads as 0, the
-- push number of messages written before this migration.
ALTER TABLE jobs ADD COLUMN taken_push BIGINT;

-- One row that every dispatch round locks first, so two dispatchers (one
-- per process) never count the same batches in flight and push past the
-- per-migration bound.
CREATE TABLE dispatch_lock (
    id BIGINT PRIMARY KEY,
    locked_at TEXT
);
INSERT INTO dispatch_lock (id, locked_at) VALUES (1, NULL);

-- Jobs queued when this version is installed were pushed by the old
-- enqueue-then-commit start: they are recorded as pushed (at their
-- creation), so a message lost since is pushed again after the age limit.
INSERT INTO job_outbox (job_id, pushed_at, pushes)
SELECT id, created_at, 0 FROM jobs WHERE state = 'queued';
