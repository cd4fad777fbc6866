-- The streamed CSV import finds repeated user names in memory now (the
-- domain's `ImportCheck::name_candidates` hashes each name and reads only
-- the suspects back), so nothing groups by the key 0009 added: writing it
-- was a column more per row of every million-row import.
ALTER TABLE draft_assignments DROP COLUMN username_key;
