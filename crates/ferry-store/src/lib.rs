//! Ferry's state: migrations, jobs, API keys and idempotency records in SQLite
//! (embedded mode) or PostgreSQL (production), through one code path.
//!
//! Why `sqlx::Any` rather than two typed pools: every query here is plain SQL
//! that both databases accept (`$1` placeholders work in SQLite too), so one
//! implementation serves both modes and the same test suite proves it on both.
//! Types are kept to what `Any` carries (text, integers, booleans): ids are
//! UUID text and timestamps fixed-width RFC 3339 text.

mod audit;
mod documents;
mod freeze;
mod history;
mod idempotency;
mod jobs;
mod keys;
mod licensing;
mod migrations;
pub mod outbox;
mod precopy;
mod stats;
mod webhooks;

use std::str::FromStr;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use sqlx::any::{AnyPoolOptions, AnyRow, install_default_drivers};
use sqlx::{AnyPool, Row};

pub use audit::{AuditEvent, AuditFilter};

/// One page of a list plus the cursor of the next page, if there is one.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

pub use documents::{BatchEnd, BatchRecord, DocumentScope, FinishedTransfer, LedgerRow};
pub use documents::{
    DocumentFilter, DocumentOutcome, DocumentRecord, DocumentStatus, ManifestOpen, ManifestSummary,
    ManifestWriter, WorkItem,
};
pub use freeze::FreezeRecord;
pub use history::Purged;
pub use idempotency::{IdempotencyClaim, IdempotencyRecord, Idempotent};
pub use jobs::{JobProgress, JobRecord, StartRequest, Started};
pub use keys::{ApiKeyRecord, NewApiKey};
pub use licensing::{
    DraftImport, DraftWrite, ImportRecord, PreparedBatch, RosterReplace, RosterReplaced, UserBatch,
    attach_entries,
};
pub use migrations::{MigrationFilter, MigrationRecord};
pub use outbox::{Dispatch, DispatchLimits};
pub use stats::Stats;
pub use webhooks::{
    AttemptResult, ClaimedDelivery, DeliveryRecord, DeliveryStatus, NewWebhook, WebhookRecord,
    after_now,
};

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL '{0}': use sqlite:// or postgres://")]
    UnsupportedUrl(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("schema migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("tenant '{0}' already has an open migration")]
    TenantTaken(String),
    #[error(transparent)]
    Transition(#[from] ferry_domain::IllegalTransition),
    #[error("job {0} is still queued or running")]
    JobActive(String),
    #[error("no missing or failed document is left to recover")]
    NothingToDo,
    #[error("every manifest document is in the tenant store already")]
    NothingToCopy,
    #[error("a pre-copy runs while the migration is draft or ready, not {0}")]
    PrecopyNotAllowed(ferry_domain::MigrationState),
    #[error("not found")]
    NotFound,
    #[error("the record changed since version {expected}")]
    VersionMismatch { expected: i64 },
}

impl StoreError {
    fn from_encode(e: sqlx::error::BoxDynError) -> Self {
        StoreError::Db(sqlx::Error::Encode(e))
    }

    /// True when the database could not be reached (as opposed to a bad query):
    /// the HTTP layer answers 503 naming the database for these.
    pub fn is_unavailable(&self) -> bool {
        // SQLite still busy after the busy timeout: a temporary overload,
        // answered 503 with Retry-After rather than 500.
        if let StoreError::Db(sqlx::Error::Database(db)) = self
            && (db.code().as_deref() == Some("5") || db.message().contains("database is locked"))
        {
            return true;
        }
        // PostgreSQL going down or starting up: class 08 (connection
        // exception) and 57P0x (admin/crash shutdown, cannot connect now)
        // are the server's state, not the request's fault.
        if let StoreError::Db(sqlx::Error::Database(db)) = self
            && db
                .code()
                .is_some_and(|c| c.starts_with("08") || c.starts_with("57P"))
        {
            return true;
        }
        matches!(
            self,
            StoreError::Db(
                sqlx::Error::Io(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::Protocol(_)
                    | sqlx::Error::WorkerCrashed
            )
        )
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Handle to the state database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects and brings the schema up to date. A SQLite file is created if
    /// it does not exist (embedded mode needs zero setup).
    pub async fn connect(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Store> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(redact(url)));
        };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        };
        let opts = sqlx::any::AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            // SQLite allows one writer; a small pool with WAL keeps readers
            // concurrent without turning writes into busy errors.
            .max_connections(if backend == Backend::Sqlite {
                max_connections.min(8)
            } else {
                max_connections
            })
            .acquire_timeout(acquire_timeout)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    use sqlx::Executor;
                    match backend {
                        Backend::Sqlite => {
                            conn.execute("PRAGMA busy_timeout = 10000").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                        }
                        // No JIT: every query here is short, and compiling
                        // one cost more than it saved (measured on the CSV
                        // import's roster reads: 7 ms of 130 per read, 80 ms
                        // for the repeated-user-name check).
                        Backend::Postgres => {
                            conn.execute("SET jit = off").await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(opts)
            .await?;
        if backend == Backend::Sqlite {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        MIGRATOR.run(&pool).await?;
        Ok(Store { pool, backend })
    }

    /// Starts a transaction. SQLite gets `BEGIN IMMEDIATE`: a deferred
    /// transaction that reads and then writes cannot wait for the write lock
    /// (SQLite answers "database is locked" at once, busy timeout or not), so
    /// every transaction here takes the lock up front and waits its turn.
    pub(crate) async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// One round trip, for `/readyz`.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Current time in the fixed-width format every timestamp column uses.
pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The time `d` ago, in the format of [`now`] (for cutoffs).
pub fn ago(d: Duration) -> String {
    let d = chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    (Utc::now() - d).to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A URL with its password replaced, for error messages and logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "<unparsable URL>".to_owned(),
    }
}

fn parse_col<T: FromStr>(value: &str, column: &str) -> Result<T> {
    value
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("{column} = '{value}'")))
}

/// Decodes a text column with a domain type's own parser, once, here: a
/// value the rules refuse is corrupt state, never passed on as a string
/// for a caller to parse again.
fn typed<T, E>(
    row: &AnyRow,
    column: &str,
    parse: impl FnOnce(&str) -> std::result::Result<T, E>,
) -> Result<T> {
    let raw: String = row.try_get(column)?;
    parse(&raw).map_err(|_| StoreError::Corrupt(format!("{column} = '{raw}'")))
}

/// [`typed`] for a column that may be NULL.
fn typed_opt<T, E>(
    row: &AnyRow,
    column: &str,
    parse: impl FnOnce(&str) -> std::result::Result<T, E>,
) -> Result<Option<T>> {
    let raw: Option<String> = row.try_get(column)?;
    raw.map(|raw| parse(&raw).map_err(|_| StoreError::Corrupt(format!("{column} = '{raw}'"))))
        .transpose()
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}
