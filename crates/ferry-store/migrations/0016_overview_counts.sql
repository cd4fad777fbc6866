-- The overview (issue 16, part 4) reads counts, not a million-user roster
-- and draft. Both tables hold groups of alike rows; the store rewrites
-- `roster_holdings` with each roster and keeps `draft_tally` in step with
-- every draft write (see `licensing/tally.rs`). Neither has a key on its
-- texts: a list of add-ons can be longer than an index entry may be.

-- Active roster users by the licence and add-ons they hold today ('' for
-- none), with the first holder's position: old names are shown as first
-- written.
CREATE TABLE roster_holdings (
    migration_id  TEXT NOT NULL,
    old_license   TEXT NOT NULL,
    old_addons    TEXT NOT NULL,
    first_seq     BIGINT NOT NULL,
    holders       BIGINT NOT NULL
);
CREATE INDEX roster_holdings_migration ON roster_holdings (migration_id);

-- Draft entries of roster users by plan, add-ons and whether the user is
-- active. Writes append signed changes; reads sum them; the store folds a
-- migration's rows into one per group from time to time.
CREATE TABLE draft_tally (
    migration_id  TEXT NOT NULL,
    has_plan      BIGINT NOT NULL,
    plan          TEXT NOT NULL,
    addons        TEXT NOT NULL,
    active        BIGINT NOT NULL,
    entries       BIGINT NOT NULL
);
CREATE INDEX draft_tally_migration ON draft_tally (migration_id);

-- What is stored already, counted once.
INSERT INTO roster_holdings (migration_id, old_license, old_addons, first_seq, holders)
    SELECT migration_id, COALESCE(old_license, ''), old_addons, MIN(seq), COUNT(*)
    FROM roster_users WHERE active <> 0
    GROUP BY migration_id, COALESCE(old_license, ''), old_addons;

INSERT INTO draft_tally (migration_id, has_plan, plan, addons, active, entries)
    SELECT d.migration_id, CASE WHEN d.plan IS NULL THEN 0 ELSE 1 END,
           COALESCE(d.plan, ''), d.addons, r.active, COUNT(*)
    FROM draft_assignments d
    JOIN roster_users r ON r.migration_id = d.migration_id AND r.user_id = d.user_id
    GROUP BY d.migration_id, CASE WHEN d.plan IS NULL THEN 0 ELSE 1 END,
             COALESCE(d.plan, ''), d.addons, r.active;
