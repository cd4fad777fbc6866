-- The roster is written a million rows at a time (a streamed upload), and
-- its foreign key to `migrations` cost a lookup per row, as it did for the
-- assignments (see 0005), protecting nothing: migrations are never deleted,
-- and every upload names a migration its transaction has just locked.
-- Portable rebuild (SQLite cannot drop a constraint in place).
CREATE TABLE roster_users_next (
    migration_id  TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    user_id       TEXT NOT NULL,
    full_name     TEXT NOT NULL,
    emails        TEXT NOT NULL,
    user_group    TEXT NOT NULL,
    position      TEXT NOT NULL,
    is_admin      BIGINT NOT NULL,
    old_license   TEXT,
    old_addons    TEXT NOT NULL,
    on_travel     BIGINT NOT NULL,
    active        BIGINT NOT NULL,
    PRIMARY KEY (migration_id, user_id)
);
INSERT INTO roster_users_next
    SELECT migration_id, seq, user_id, full_name, emails, user_group, position,
           is_admin, old_license, old_addons, on_travel, active
    FROM roster_users;
DROP TABLE roster_users;
ALTER TABLE roster_users_next RENAME TO roster_users;
CREATE INDEX roster_users_seq ON roster_users (migration_id, seq);
CREATE INDEX roster_users_inactive ON roster_users (migration_id, seq) WHERE active = 0;
