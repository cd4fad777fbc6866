//! The CSV import of a draft: a migrator's edited export, checked against
//! the roster and the catalogue and written to the draft in one
//! transaction — all of it or, when any row breaks a rule, nothing, with
//! every violation kept as an error report to download.
//!
//! The caller (the HTTP handler) spools the body to a file and hashes it;
//! this use case runs the streamed check ([`driver`]) on a blocking thread,
//! commits the draft with its audit record and, under an idempotency key,
//! the answer `render` makes — and records the attempt either way.

mod driver;

use std::fs::File;
use std::io::BufReader;
use std::time::Instant;

use ferry_domain::Email;
use ferry_domain::audit::AuditAction;
use ferry_domain::licensing::{Catalogue, CsvLimits, RuleViolation, write_error_report_csv};
use ferry_store::{
    IdempotencyClaim, IdempotencyRecord, Idempotent, ImportRecord, Store, StoreError,
};

use crate::records;

/// What an import needs besides the file.
#[derive(Debug, Clone)]
pub struct CsvImport {
    pub store: Store,
    pub migration_id: String,
    /// `If-Match` (`None`: whatever the draft's version is).
    pub expected: Option<i64>,
    pub catalogue: Catalogue,
    /// The acting migrator, who must keep a licence.
    pub acting: Email,
    pub limits: CsvLimits,
    /// Who imports: an API key id.
    pub actor: String,
}

/// An `Idempotency-Key` and the hash of the body it came with.
#[derive(Debug, Clone, Copy)]
pub struct ImportKey<'a> {
    pub key: &'a str,
    pub request_hash: &'a str,
}

/// An applied import.
#[derive(Debug, Clone)]
pub struct Applied {
    pub import_id: String,
    pub rows: u64,
    pub changed: u64,
    pub draft_version: i64,
}

/// How an import ended when it changed the draft (or had before).
#[derive(Debug)]
pub enum Imported {
    Applied(Applied),
    /// The same key was used by an import that applied first: its answer.
    Replayed(IdempotencyRecord),
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// `If-Match` named a version the draft is no longer at.
    #[error("the draft is no longer at version {0}")]
    Stale(i64),
    /// The file breaks rules; nothing was applied. The attempt is recorded
    /// under `import_id` with its error report.
    #[error("the file breaks {} rule(s)", violations.len())]
    Invalid {
        import_id: String,
        violations: Vec<RuleViolation>,
    },
    #[error("the file exceeds {limit_name} ({limit})")]
    TooLarge {
        limit_name: &'static str,
        limit: u64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

/// The idempotency scope of a CSV import: per migration.
pub fn operation(migration_id: &str) -> String {
    format!("import:{migration_id}")
}

/// Checks and applies `file` (see the module documentation).
pub async fn import_csv(
    job: CsvImport,
    file: File,
    key: Option<ImportKey<'_>>,
    render: impl FnOnce(&Applied) -> (u16, String),
) -> Result<Imported, ImportError> {
    let started = Instant::now();
    let (store, migration_id, actor, expected) = (
        job.store.clone(),
        job.migration_id.clone(),
        job.actor.clone(),
        job.expected,
    );
    let driven = driver::ImportJob {
        rt: tokio::runtime::Handle::current(),
        store: job.store,
        migration_id: job.migration_id,
        expected: job.expected,
        catalogue: job.catalogue,
        acting: job.acting,
        limits: job.limits,
    };
    let verdict = tokio::task::spawn_blocking(move || driver::run(&driven, BufReader::new(file)))
        .await
        .map_err(|e| ImportError::Internal(format!("import task: {e}")))??;
    let import_id = uuid::Uuid::now_v7().hyphenated().to_string();
    let validated = started.elapsed();
    let (import, summary) = match verdict {
        driver::Verdict::Valid(import, summary) => (import, summary),
        driver::Verdict::TooLarge { limit_name, limit } => {
            return Err(ImportError::TooLarge { limit_name, limit });
        }
        driver::Verdict::Invalid(violations) => {
            record(&store, &import_id, &migration_id, false, &violations).await?;
            return Err(ImportError::Invalid {
                import_id,
                violations,
            });
        }
    };
    let operation = operation(&migration_id);
    let idem = key.map(|k| Idempotent {
        api_key_id: &actor,
        operation: &operation,
        key: k.key,
        request_hash: k.request_hash,
    });
    let (rows, changed) = (summary.rows, summary.changed());
    let applied = |draft_version: i64| Applied {
        import_id: import_id.clone(),
        rows,
        changed,
        draft_version,
    };
    let before_version = import.version() - 1;
    let log = summary.log;
    let claim = import
        .commit(
            &store,
            idem,
            |version| render(&applied(version)),
            |version| {
                records::draft_change_recorded(
                    &actor,
                    AuditAction::DraftImported,
                    &migration_id,
                    Some(&import_id),
                    log.finish(before_version, version),
                )
            },
        )
        .await
        .map_err(|e| driver::version_error(e, expected))?;
    let version = match claim {
        IdempotencyClaim::Fresh(version) => version,
        // The same key raced in concurrently and won.
        IdempotencyClaim::Replay(previous) => return Ok(Imported::Replayed(previous)),
    };
    let saved = started.elapsed();
    record(&store, &import_id, &migration_id, true, &[]).await?;
    tracing::info!(
        import_id = %import_id,
        migration_id = %migration_id,
        rows,
        changed,
        check_and_write_ms = validated.as_millis() as u64,
        commit_ms = (saved - validated).as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        "csv import applied"
    );
    Ok(Imported::Applied(applied(version)))
}

/// The error report as the CSV a migrator downloads, rendered once at import.
fn report_csv(errors: &[RuleViolation]) -> Result<String, ImportError> {
    let mut out = Vec::new();
    write_error_report_csv(errors, &mut out).map_err(|e| ImportError::Internal(e.to_string()))?;
    // The report quotes the offending values, which may hold a NUL byte:
    // PostgreSQL text cannot store one, and a reader is better served by a
    // visible replacement character anyway.
    Ok(String::from_utf8_lossy(&out).replace('\0', "\u{FFFD}"))
}

/// Records an attempt, applied or refused, with its error report.
async fn record(
    store: &Store,
    id: &str,
    migration_id: &str,
    applied: bool,
    errors: &[RuleViolation],
) -> Result<(), ImportError> {
    store
        .record_import(&ImportRecord {
            id: id.to_owned(),
            migration_id: migration_id.to_owned(),
            created_at: String::new(),
            applied,
            error_count: errors.len() as i64,
            report_csv: report_csv(errors)?,
        })
        .await?;
    Ok(())
}
