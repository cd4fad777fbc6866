-- Pre-copy and cutover (issue 15). A manifest replaced after documents were
-- copied keeps the copies it still describes unchanged; what the tenant
-- store holds that the new manifest does not describe is remembered here
-- and removed at the cutover (the tenant must match the source).
--
-- One row per object under `<tenant>/documents/<path>` that an earlier
-- manifest's ledger recorded as uploaded (size and SHA-256 as verified when
-- it was copied). A row whose path the new manifest lists unchanged is
-- dropped again (the ledger covers it); the rest are removed by the cutover,
-- which sets `removed_at` and `removed_by` (the job) and keeps the row as
-- the list of removals.
CREATE TABLE tenant_objects (
    migration_id  TEXT NOT NULL REFERENCES migrations (id),
    path          TEXT NOT NULL,
    size          BIGINT NOT NULL,
    sha256        TEXT NOT NULL,
    source_tag    TEXT,
    removed_at    TEXT,
    removed_by    TEXT,
    PRIMARY KEY (migration_id, path)
);

-- What the archive's listing said of a document (its ETag, else its
-- modification time) when a job was about to copy it: a manifest row
-- without a SHA-256 is unchanged at the next job when its size and this
-- tag are still what the listing says (issue 15).
ALTER TABLE documents ADD COLUMN source_tag TEXT;
