-- The roster as JSON, in chunks of upload order, written with the rows of
-- `roster_users`. A roster never changes in place, so the copy stays exact;
-- it is what an API process reads to validate a roster it has not cached:
-- reading stored text is a fraction of building a million JSON objects (or
-- decoding a million driver rows) at every cache miss. `roster_users` stays
-- the table other queries use.
CREATE TABLE roster_snapshot (
    migration_id  TEXT NOT NULL,
    chunk         BIGINT NOT NULL,
    users         TEXT NOT NULL,
    PRIMARY KEY (migration_id, chunk)
);
