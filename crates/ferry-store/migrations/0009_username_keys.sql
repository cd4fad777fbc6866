-- The case-insensitive key of each draft entry's user name, written by the
-- store beside the name (`ferry_domain::licensing::username_key`). The
-- streamed CSV import writes its rows into the draft inside one transaction
-- and then finds repeated user names with one GROUP BY on this column,
-- instead of holding a million names in memory. Rows written before this
-- migration are filled in by the store when it connects (`Store::connect`),
-- because the key is Unicode lowercase, which SQLite's lower() is not.
ALTER TABLE draft_assignments ADD COLUMN username_key TEXT;

-- The streamed import reads the inactive users (who have no row in the file
-- but keep their entry) by this index instead of scanning the roster.
CREATE INDEX roster_users_inactive ON roster_users (migration_id, seq) WHERE active = 0;
