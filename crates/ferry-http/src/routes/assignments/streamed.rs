//! The CSV import driven against the store: the domain's streamed import
//! (`ImportCheck`) fed batch by batch inside one draft transaction
//! (`DraftImport`). Neither the roster nor the draft is loaded whole, so the
//! memory of an import is that of a batch whatever the file's size.
//!
//! It runs on a blocking thread over the request body, spooled to a
//! temporary file by the handler (a plain `Read`), and waits for each
//! database step with `Handle::block_on`: the reads are synchronous, the
//! store is async, and a batch's query can only start once its rows are read.

use std::collections::HashMap;
use std::io::Read;
use std::time::{Duration, Instant};

use ferry_domain::Email;
use ferry_domain::licensing::{
    Catalogue, CsvFailure, CsvLimits, IMPORT_BATCH_ROWS, ImportBatch, ImportFailure, ImportReader,
    ImportSummary, RuleViolation, StoredUser, Unrowed,
};
use ferry_store::{DraftImport, Store, StoreError};
use tokio::runtime::Handle;

use crate::problem::ApiError;

/// Inactive users read per query after the rows.
const INACTIVE_PAGE: usize = 10_000;

/// What the file turned out to be.
pub(super) enum Verdict {
    /// Valid: the changes are written in the open transaction, which the
    /// caller commits once the body's hash is known.
    Valid(DraftImport, ImportSummary),
    Invalid(Vec<RuleViolation>),
    TooLarge {
        limit_name: &'static str,
        limit: u64,
    },
}

/// What the import needs besides the file.
pub(super) struct ImportJob {
    pub rt: Handle,
    pub store: Store,
    pub migration_id: String,
    /// `If-Match` (`None`: any version).
    pub expected: Option<i64>,
    pub catalogue: Catalogue,
    pub acting: Email,
    pub limits: CsvLimits,
}

/// A refused draft transaction: a stale `If-Match` is 412, a draft that
/// moved under an import without one is a concurrent change (409).
pub(super) fn version_error(e: StoreError, expected: Option<i64>) -> ApiError {
    match (e, expected) {
        (StoreError::VersionMismatch { .. }, Some(v)) => ApiError::PreconditionFailed(v),
        (other, _) => other.into(),
    }
}

fn failure(f: ImportFailure) -> Verdict {
    match f {
        CsvFailure::TooLarge { limit_name, limit } => Verdict::TooLarge { limit_name, limit },
        CsvFailure::Invalid(v) => Verdict::Invalid(v),
    }
}

/// Reads, checks and writes the whole file; a refused file's transaction
/// is rolled back before this returns.
pub(super) fn run<R: Read>(job: &ImportJob, body: R) -> Result<Verdict, ApiError> {
    let rt = &job.rt;
    let mut import = rt
        .block_on(
            job.store
                .begin_draft_import(&job.migration_id, job.expected),
        )
        .map_err(|e| version_error(e, job.expected))?;
    let outcome = check_all(job, &mut import, body);
    match outcome {
        Ok(Ok(summary)) => Ok(Verdict::Valid(import, summary)),
        Ok(Err(refused)) => {
            rt.block_on(import.rollback())?;
            Ok(refused)
        }
        Err(e) => {
            // The error is what the client hears; a failing rollback too
            // ends the transaction (the connection is dropped).
            let _ = rt.block_on(import.rollback());
            Err(e)
        }
    }
}

fn check_all<R: Read>(
    job: &ImportJob,
    import: &mut DraftImport,
    body: R,
) -> Result<Result<ImportSummary, Verdict>, ApiError> {
    let rt = &job.rt;
    let mut file = match ImportReader::open(body, job.limits) {
        Ok(f) => f,
        Err(f) => return Ok(Err(failure(f))),
    };
    // Where the time goes, for the log line of the import: reading the file,
    // reading users, the rules, writing, and the whole-draft checks.
    let (mut read, mut lookup, mut rules, mut write) = Default::default();
    let mut clock = Instant::now();
    let mut lap = |into: &mut Duration| {
        let now = Instant::now();
        *into += now - clock;
        clock = now;
    };
    let (users, active) = rt.block_on(import.roster_size())?;
    let mut check = ferry_domain::licensing::ImportCheck::new(&job.catalogue, &job.acting, users);
    let mut batch = ImportBatch::default();
    let mut changes = Vec::new();
    loop {
        let more = file.read_batch(&mut batch, IMPORT_BATCH_ROWS);
        lap(&mut read);
        match more {
            Ok(true) => {}
            Ok(false) => break,
            Err(f) => return Ok(Err(failure(f))),
        }
        let mut ids: Vec<&str> = batch.user_ids().collect();
        ids.sort_unstable();
        ids.dedup();
        let found = rt.block_on(import.users(&ids))?;
        lap(&mut lookup);
        let by_id: HashMap<&str, &StoredUser> =
            found.iter().map(|u| (u.user.user_id(), u)).collect();
        changes.clear();
        check.check_batch(&batch, |id| by_id.get(id).map(|u| u.as_ref()), &mut changes);
        lap(&mut rules);
        if !changes.is_empty() {
            rt.block_on(import.write(&changes))?;
        }
        lap(&mut write);
    }
    let scope = check.rows_done(file.finish(), active);
    let mut from = 0;
    while from < users {
        let page = match scope {
            Unrowed::Inactive => rt.block_on(import.inactive_page(from, INACTIVE_PAGE))?,
            Unrowed::All => rt.block_on(import.roster_page(from, IMPORT_BATCH_ROWS))?,
        };
        check.visit_unrowed(page.iter().map(StoredUser::as_ref));
        from = match (scope, page.last()) {
            (Unrowed::All, _) => from + IMPORT_BATCH_ROWS,
            (Unrowed::Inactive, Some(last)) if page.len() == INACTIVE_PAGE => last.pos + 1,
            (Unrowed::Inactive, _) => users,
        };
    }
    check.repeated_usernames(rt.block_on(import.repeated_usernames())?);
    let mut whole = Duration::ZERO;
    lap(&mut whole);
    let ms = |d: Duration| d.as_millis() as u64;
    tracing::info!(
        migration_id = %job.migration_id,
        read_ms = ms(read),
        lookup_ms = ms(lookup),
        rules_ms = ms(rules),
        write_ms = ms(write),
        whole_draft_ms = ms(whole),
        "csv import checked"
    );
    Ok(check.finish().map_err(Verdict::Invalid))
}
