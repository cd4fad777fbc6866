-- Each roster snapshot chunk (0008) says which roster position it starts
-- at. The streamed CSV import holds the decoded users of up to four
-- chunks at once, so chunks shrank from 50,000 users to 10,000 (the peak
-- memory of an import); snapshots stored before keep their 50,000-user
-- chunks, and the import finds a position's chunk by this column instead of
-- by dividing by a size that differs between the two.
ALTER TABLE roster_snapshot ADD COLUMN first_seq BIGINT NOT NULL DEFAULT 0;
UPDATE roster_snapshot SET first_seq = chunk * 50000;
CREATE INDEX roster_snapshot_first_seq ON roster_snapshot (migration_id, first_seq);
