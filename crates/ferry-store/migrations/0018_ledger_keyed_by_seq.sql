-- Issue 14: recording an outcome rewrites its ledger row, and on
-- PostgreSQL every index of the table takes a new entry for the new row
-- version (the update cannot be HOT: `status` is in `documents_open`).
-- A profile of 20,000 × 4 KiB uploaded showed PostgreSQL with about 40 %
-- of the machine's CPU, its largest part inserting those index entries,
-- most of it in the key on (migration_id, document_id), whose text
-- comparisons go through the collation.
--
-- The ledger is now keyed by manifest position alone: outcomes name their
-- row by `seq`, readers page by `seq`, and nothing looks a row up by its
-- document id. A document id is unique within a manifest because the
-- manifest parser refuses a repeated one (`duplicate_document_id`), and the
-- manifest writer is the only writer of rows. So one index (the primary
-- key) replaces two, and an outcome costs one index entry, not two.
-- The foreign key to `migrations` goes as it did for the roster (0017):
-- migrations are never deleted, and the manifest writer has the migration
-- row locked.
-- Portable rebuild (SQLite cannot change a primary key in place).
CREATE TABLE documents_next (
    migration_id     TEXT NOT NULL,
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
    source_tag       TEXT,
    PRIMARY KEY (migration_id, seq)
);
INSERT INTO documents_next
    SELECT migration_id, document_id, seq, path, size, expected_sha256, status,
           reason, actual_sha256, bytes, attempts, job_id, updated_at, source_tag
    FROM documents;
DROP TABLE documents;
ALTER TABLE documents_next RENAME TO documents;
CREATE INDEX documents_open ON documents (migration_id, status, seq) WHERE status <> 'uploaded';
