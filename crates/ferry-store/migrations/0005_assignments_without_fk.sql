-- Draft and committed assignments are written a million rows at a time (a
-- CSV import, a commit). Their foreign key to `migrations` cost a lookup per
-- row — about 3.7 s per million rows on PostgreSQL — and protected nothing:
-- migrations are never deleted, and every write names a migration the same
-- transaction has just read. Portable rebuild (SQLite cannot drop a
-- constraint in place).
CREATE TABLE draft_assignments_next (
    migration_id  TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    plan          TEXT,
    addons        TEXT NOT NULL,
    username      TEXT,
    PRIMARY KEY (migration_id, user_id)
);
INSERT INTO draft_assignments_next (migration_id, user_id, plan, addons, username)
    SELECT migration_id, user_id, plan, addons, username FROM draft_assignments;
DROP TABLE draft_assignments;
ALTER TABLE draft_assignments_next RENAME TO draft_assignments;

CREATE TABLE committed_assignments_next (
    migration_id  TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    plan          TEXT,
    addons        TEXT NOT NULL,
    username      TEXT,
    PRIMARY KEY (migration_id, user_id)
);
INSERT INTO committed_assignments_next (migration_id, user_id, plan, addons, username)
    SELECT migration_id, user_id, plan, addons, username FROM committed_assignments;
DROP TABLE committed_assignments;
ALTER TABLE committed_assignments_next RENAME TO committed_assignments;
