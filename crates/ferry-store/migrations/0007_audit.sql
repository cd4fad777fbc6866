-- The audit trail: one append-only, hash-chained log of every decision
-- (see crates/ferry-domain/src/audit.rs for the hash scheme). `seq` is
-- gap-free; the primary key makes a fork (two records with one number)
-- impossible even if serialisation failed.
CREATE TABLE audit_log (
    seq              BIGINT PRIMARY KEY,
    prev_hash        TEXT NOT NULL,
    hash             TEXT NOT NULL,
    at               TEXT NOT NULL,
    action           TEXT NOT NULL,
    actor_key_id     TEXT,
    actor_name       TEXT,
    actor_role       TEXT,
    acting_migrator  TEXT,
    migration_id     TEXT,
    tenant           TEXT,
    subject          TEXT,
    before_json      TEXT,
    after_json       TEXT
);
CREATE INDEX audit_log_migration ON audit_log (migration_id, seq);
CREATE INDEX audit_log_tenant ON audit_log (tenant, seq);

-- The chain head: one row, updated in every append's transaction. Appends
-- update it first, which serialises them (a row lock in PostgreSQL; SQLite
-- transactions are BEGIN IMMEDIATE anyway), and verification compares it
-- with the last record, which catches records deleted at the end.
CREATE TABLE audit_head (
    id    BIGINT PRIMARY KEY,
    seq   BIGINT NOT NULL,
    hash  TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
