-- The transfer half of a migration (SPEC §3.6–§3.8): the document manifest
-- with every document's outcome (the ledger), the freeze, and the progress of
-- upload and recovery jobs. Same SQL for SQLite and PostgreSQL: sizes and
-- counters are BIGINT, timestamps RFC 3339 text.

-- One row per manifest row; `status` is exactly one of pending, uploaded,
-- missing, failed. `seq` is the manifest order (the ledger's order and the
-- pagination cursor). `job_id` is the job that recorded the current outcome:
-- a job never records a document twice, so a redelivered job counts every
-- document exactly once.
CREATE TABLE documents (
    migration_id     TEXT NOT NULL REFERENCES migrations (id),
    document_id      TEXT NOT NULL,
    seq              BIGINT NOT NULL,
    path             TEXT NOT NULL,
    size             BIGINT NOT NULL,
    expected_sha256  TEXT,
    status           TEXT NOT NULL,
    reason           TEXT,
    actual_sha256    TEXT,
    bytes            BIGINT NOT NULL DEFAULT 0,
    attempts         BIGINT NOT NULL DEFAULT 0,
    job_id           TEXT,
    updated_at       TEXT NOT NULL,
    PRIMARY KEY (migration_id, document_id)
);
CREATE INDEX documents_seq ON documents (migration_id, seq);
CREATE INDEX documents_status ON documents (migration_id, status, seq);

-- SPEC §3.8: who froze the source, when and why; when it was lifted. One row
-- per migration: `frozen_at` is the first start (the source stays frozen from
-- then until complete or cancel), `frozen_by`/`reason` the latest start.
-- Whether the source is frozen *now* is the lifecycle state's answer; this
-- row only adds who, when and why.
CREATE TABLE freezes (
    migration_id  TEXT PRIMARY KEY REFERENCES migrations (id),
    frozen_at     TEXT NOT NULL,
    frozen_by     TEXT,
    reason        TEXT NOT NULL,
    lifted_at     TEXT,
    lifted_by     TEXT,
    lift_reason   TEXT
);

-- Job progress. Counters only ever grow (each flush adds what it recorded),
-- so a dashboard never sees progress go backwards, even across redeliveries.
ALTER TABLE jobs ADD COLUMN documents_total BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN documents_uploaded BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN documents_missing BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN documents_failed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN bytes_total BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN bytes_done BIGINT NOT NULL DEFAULT 0;
-- The database dump's copy (upload jobs): set once, so a redelivered job
-- neither copies nor counts it again.
ALTER TABLE jobs ADD COLUMN database_bytes BIGINT;
ALTER TABLE jobs ADD COLUMN database_sha256 TEXT;
