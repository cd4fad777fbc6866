-- The licence half of a migration (SPEC §3.2–§3.5): the source's roster, the
-- tenant's catalogue, the draft assignment being edited, the committed one,
-- and CSV import attempts with their error reports. Booleans are BIGINT 0/1
-- and lists JSON text, so the same SQL serves SQLite and PostgreSQL.

CREATE TABLE roster_users (
    migration_id  TEXT NOT NULL REFERENCES migrations (id),
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
CREATE INDEX roster_users_seq ON roster_users (migration_id, seq);

CREATE TABLE roster_satellites (
    migration_id  TEXT NOT NULL REFERENCES migrations (id),
    name          TEXT NOT NULL,
    active        BIGINT NOT NULL,
    PRIMARY KEY (migration_id, name)
);

-- One row per migration once anything licence-related was saved. The draft
-- version is the ETag of the draft (If-Match on edits).
CREATE TABLE licensing (
    migration_id   TEXT PRIMARY KEY REFERENCES migrations (id),
    catalogue      TEXT,
    draft_version  BIGINT NOT NULL DEFAULT 0,
    roster_loaded  BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE draft_assignments (
    migration_id  TEXT NOT NULL REFERENCES migrations (id),
    user_id       TEXT NOT NULL,
    plan          TEXT,
    addons        TEXT NOT NULL,
    username      TEXT,
    PRIMARY KEY (migration_id, user_id)
);

CREATE TABLE committed_assignments (
    migration_id  TEXT NOT NULL REFERENCES migrations (id),
    user_id       TEXT NOT NULL,
    plan          TEXT,
    addons        TEXT NOT NULL,
    username      TEXT,
    PRIMARY KEY (migration_id, user_id)
);

CREATE TABLE assignment_imports (
    id            TEXT PRIMARY KEY,
    migration_id  TEXT NOT NULL REFERENCES migrations (id),
    created_at    TEXT NOT NULL,
    applied       BIGINT NOT NULL,
    error_count   BIGINT NOT NULL,
    errors        TEXT NOT NULL
);
CREATE INDEX assignment_imports_migration ON assignment_imports (migration_id, id);
