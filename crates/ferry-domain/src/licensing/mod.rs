//! The licence migration (SPEC §3.2–§3.5): the source's users, the tenant's
//! catalogue and contract, the assignment draft with its one rule engine, the
//! CSV round trip, the review and the pre-flight checks. No I/O: CSV is read
//! from any `std::io::Read` and written to any `std::io::Write`.
//!
//! Assignments travel as [`Assignments`] (a map by source user id; a user
//! without an entry has no licence) so that the same rules judge a bulk edit,
//! a CSV import, the review and the pre-flight report.

mod assignment;
mod bulk;
mod caseless;
mod catalogue;
mod change_log;
pub mod codes;
mod csv_common;
mod csv_export;
mod csv_import;
mod csv_reader;
mod import_batch;
mod import_check;
mod overview;
mod preflight;
mod review;
mod roster;
mod roster_csv;
mod rules;
mod satellites_csv;
mod username;

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
pub(crate) mod test_support;

pub use assignment::{Assignment, Assignments, Draft, RuleViolation, prune_to_roster};
pub use bulk::{BulkEdit, apply_bulk_edit};
pub use catalogue::{AddOn, AddOnInput, Catalogue, CatalogueInput, Plan, PlanInput};
pub use change_log::{DraftChangeLog, MAX_LISTED_USERS, draft_change};
pub use csv_common::{CsvFailure, CsvLimits, neutralise, unneutralise};
pub use csv_export::{write_assignment_csv, write_error_report_csv};
pub use csv_import::{ImportOutcome, import_assignment_csv};
pub use import_batch::{IMPORT_BATCH_ROWS, ImportBatch, ImportFailure, ImportReader, ReadEnd};
pub use import_check::{
    DraftChange, ImportCheck, ImportSummary, NameHolder, StoredUser, Unrowed, UserRef,
};
pub use overview::{
    HoldingGroup, OldLicenceLine, Overview, OverviewLine, TallyGroup, overview, overview_from,
};
pub use preflight::{
    Check, CheckStatus, PreflightInput, PreflightReport, check_ids, run_preflight,
};
pub use review::{NoLicenceUser, Review, ReviewChange, review};
pub use roster::{
    Roster, RosterUserInput, RowError, Satellite, SatelliteInput, SourceUser, check_satellites,
    check_upload_user, duplicate_user_id,
};
pub use roster_csv::{ROSTER_COLUMNS, parse_roster_csv, stream_roster_csv};
pub use rules::validate_assignments;
pub use satellites_csv::{SATELLITE_COLUMNS, parse_satellites_csv};
pub use username::{AddressRemoval, address_removals, default_username, username_choices};
