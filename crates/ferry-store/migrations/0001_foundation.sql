-- Ferry's state schema. Written in the SQL that SQLite and PostgreSQL share, so
-- one migration set serves both run modes (see crates/ferry-store/src/lib.rs).
-- Ids are UUIDv7 text (time-ordered, so ORDER BY id is creation order and makes
-- a stable pagination cursor); timestamps are RFC 3339 UTC text with a fixed
-- width, so they sort as text too.

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    tenant      TEXT,
    key_hash    TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);

CREATE TABLE migrations (
    id                  TEXT PRIMARY KEY,
    tenant              TEXT NOT NULL,
    customer_name       TEXT NOT NULL,
    source_version      TEXT NOT NULL,
    database_url        TEXT NOT NULL,
    archive_url         TEXT NOT NULL,
    requested_by_name   TEXT NOT NULL,
    requested_by_email  TEXT NOT NULL,
    migrator_name       TEXT NOT NULL,
    migrator_email      TEXT NOT NULL,
    migrator_phone      TEXT NOT NULL,
    state               TEXT NOT NULL,
    version             BIGINT NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);

-- SPEC §3.1: a tenant slug is unique among open migrations only.
CREATE UNIQUE INDEX migrations_open_tenant
    ON migrations (tenant) WHERE state NOT IN ('completed', 'cancelled');
CREATE INDEX migrations_state ON migrations (state, id);

CREATE TABLE jobs (
    id            TEXT PRIMARY KEY,
    migration_id  TEXT NOT NULL REFERENCES migrations (id),
    tenant        TEXT NOT NULL,
    kind          TEXT NOT NULL,
    state         TEXT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    worker_id     TEXT,
    last_error    TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    started_at    TEXT,
    finished_at   TEXT
);
CREATE INDEX jobs_migration ON jobs (migration_id, id);

-- Idempotency-Key replay: the first answer is kept per caller (API key) and
-- operation, with a hash of the request body to detect conflicting reuse.
CREATE TABLE idempotency_keys (
    api_key_id    TEXT NOT NULL,
    operation     TEXT NOT NULL,
    idem_key      TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status        BIGINT NOT NULL,
    body          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (api_key_id, operation, idem_key)
);
