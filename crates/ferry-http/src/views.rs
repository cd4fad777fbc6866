//! What the API sends: views of the store's records, with their schemas.

use ferry_domain::{JobKind, JobState, MigrationState, Role};
use ferry_store::{ApiKeyRecord, JobRecord, MigrationRecord};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct SourceView {
    pub version: String,
    pub database_url: String,
    pub archive_url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PersonView {
    pub name: String,
    pub email: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactView {
    pub name: String,
    pub email: String,
    pub phone: String,
}

/// A migration.
#[derive(Debug, Serialize, ToSchema)]
pub struct MigrationView {
    #[schema(format = Uuid)]
    pub id: String,
    pub tenant: String,
    pub customer_name: String,
    pub source: SourceView,
    pub requested_by: PersonView,
    pub migrator: ContactView,
    pub state: MigrationState,
    /// Optimistic-concurrency version; also the `ETag`.
    pub version: i64,
    /// Whether the source is frozen now (SPEC §3.8).
    pub frozen: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// The most recent upload or recovery job with its progress; only on
    /// `GET /v1/migrations/{id}`, once the migration was started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_job: Option<Box<JobView>>,
    /// How long the next start would take to copy its documents; only on
    /// `GET /v1/migrations/{id}`, while a start is possible (`draft`, `ready`:
    /// the whole manifest; `uploaded`: the missing and failed documents)
    /// and there is something to copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_estimate: Option<UploadEstimate>,
}

impl MigrationView {
    pub fn with_latest_job(mut self, job: Option<&JobRecord>) -> Self {
        self.latest_job = job.map(|j| Box::new(JobView::from(j)));
        self
    }

    pub fn with_upload_estimate(mut self, estimate: Option<UploadEstimate>) -> Self {
        self.upload_estimate = estimate;
        self
    }
}

/// Where an estimate's throughput comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EstimateBasis {
    /// Measured by the most recent finished upload and recovery jobs.
    Measured,
    /// No job has measured one yet: `FERRY_DEFAULT_THROUGHPUT_BYTES_PER_SEC`.
    Default,
}

/// The duration of an upload before it starts: the manifest's documents it
/// will copy (the database dump's size is not known before the start reads
/// it) at the throughput this installation reaches. After a pre-copy these
/// are only the documents not in the tenant store yet, so for a `ready`
/// migration `seconds` is the expected freeze window of the cutover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UploadEstimate {
    pub bytes_total: i64,
    pub documents_total: i64,
    /// Whole seconds, rounded up.
    pub seconds: u64,
    pub throughput_bytes_per_sec: u64,
    pub basis: EstimateBasis,
}

impl UploadEstimate {
    /// `bytes_total` over the throughput of `finished` jobs (all bytes over
    /// all their run times), or over `default_throughput` when none measured
    /// one.
    pub fn new(
        bytes_total: i64,
        documents_total: i64,
        finished: &[ferry_store::FinishedTransfer],
        default_throughput: u64,
    ) -> UploadEstimate {
        let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
        let (bytes, millis) = finished
            .iter()
            .filter_map(|f| {
                let ms = (parse(&f.finished_at)? - parse(&f.started_at)?).num_milliseconds();
                (ms > 0 && f.bytes_done > 0).then_some((f.bytes_done as u128, ms as u128))
            })
            .fold((0u128, 0u128), |(b, m), (fb, fm)| (b + fb, m + fm));
        let measured = (millis > 0)
            .then(|| u64::try_from(bytes * 1000 / millis).unwrap_or(u64::MAX))
            .filter(|t| *t > 0);
        let (throughput, basis) = match measured {
            Some(t) => (t, EstimateBasis::Measured),
            None => (default_throughput.max(1), EstimateBasis::Default),
        };
        let bytes_u = u64::try_from(bytes_total.max(0)).unwrap_or(0);
        UploadEstimate {
            bytes_total,
            documents_total,
            seconds: bytes_u.div_ceil(throughput),
            throughput_bytes_per_sec: throughput,
            basis,
        }
    }
}

impl From<&MigrationRecord> for MigrationView {
    fn from(m: &MigrationRecord) -> Self {
        MigrationView {
            id: m.id.clone(),
            tenant: m.tenant.to_string(),
            customer_name: m.customer_name.to_string(),
            source: SourceView {
                version: m.source_version.to_string(),
                database_url: m.database_url.to_string(),
                archive_url: m.archive_url.to_string(),
            },
            requested_by: PersonView {
                name: m.requested_by_name.to_string(),
                email: m.requested_by_email.to_string(),
            },
            migrator: ContactView {
                name: m.migrator_name.to_string(),
                email: m.migrator_email.to_string(),
                phone: m.migrator_phone.to_string(),
            },
            state: m.state,
            version: m.version,
            frozen: m.state.is_frozen(),
            created_at: m.created_at.clone(),
            updated_at: m.updated_at.clone(),
            latest_job: None,
            upload_estimate: None,
        }
    }
}

/// A page of migrations.
#[derive(Debug, Serialize, ToSchema)]
pub struct MigrationPage {
    pub items: Vec<MigrationView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A job: long work run by a worker, polled by clients.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub migration_id: String,
    pub tenant: String,
    pub kind: JobKind,
    pub state: JobState,
    /// How many times a worker has taken the job (more than one after a
    /// worker died or a retry).
    pub attempts: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub finished_at: Option<String>,
    pub progress: ProgressView,
}

/// How far a job got, for dashboards. Counters only grow.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressView {
    /// Documents this job works on: the manifest (upload) or the documents
    /// missing or failed when the recovery started.
    pub documents_total: i64,
    pub documents_uploaded: i64,
    /// Not found in the source archive (not a job failure).
    pub documents_missing: i64,
    pub documents_failed: i64,
    /// Not tried yet.
    pub documents_remaining: i64,
    /// Bytes to move: the documents' sizes plus the database dump.
    pub bytes_total: i64,
    /// Bytes moved and verified so far.
    pub bytes_done: i64,
    /// Average since the job started, up to its last progress update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throughput_bytes_per_sec: Option<u64>,
    /// Estimated seconds left at that throughput, while the job runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_seconds: Option<u64>,
    /// SHA-256 of the copied database dump, once copied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_sha256: Option<String>,
}

impl ProgressView {
    /// Derived from the stored timestamps only (never "now"), so the view
    /// and its ETag change only when the job does.
    fn of(j: &JobRecord) -> Self {
        let p = &j.progress;
        let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
        let until = j.finished_at.as_deref().unwrap_or(&j.updated_at);
        let elapsed = match (j.started_at.as_deref().and_then(parse), parse(until)) {
            (Some(from), Some(to)) => (to - from).num_milliseconds(),
            _ => 0,
        };
        let throughput = (elapsed > 0 && p.bytes_done > 0)
            .then(|| (p.bytes_done as f64 * 1000.0 / elapsed as f64) as u64)
            .filter(|t| *t > 0);
        let eta = throughput
            .filter(|_| j.state == JobState::Running)
            .map(|t| (p.bytes_total - p.bytes_done).max(0) as u64 / t);
        let done = p.documents_uploaded + p.documents_missing + p.documents_failed;
        ProgressView {
            documents_total: p.documents_total,
            documents_uploaded: p.documents_uploaded,
            documents_missing: p.documents_missing,
            documents_failed: p.documents_failed,
            documents_remaining: (p.documents_total - done).max(0),
            bytes_total: p.bytes_total,
            bytes_done: p.bytes_done,
            throughput_bytes_per_sec: throughput,
            eta_seconds: eta,
            database_sha256: p.database_sha256.clone(),
        }
    }
}

impl From<&JobRecord> for JobView {
    fn from(j: &JobRecord) -> Self {
        JobView {
            id: j.id.clone(),
            migration_id: j.migration_id.clone(),
            tenant: j.tenant.to_string(),
            kind: j.kind,
            state: j.state,
            attempts: j.attempts,
            last_error: j.last_error.clone(),
            created_at: j.created_at.clone(),
            updated_at: j.updated_at.clone(),
            started_at: j.started_at.clone(),
            finished_at: j.finished_at.clone(),
            progress: ProgressView::of(j),
        }
    }
}

/// The answer to a start: the migration as it is now and the job that runs.
#[derive(Debug, Serialize, ToSchema)]
pub struct StartView {
    pub migration: MigrationView,
    pub job: JobView,
}

/// A list of jobs.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobList {
    pub items: Vec<JobView>,
}

/// An API key's metadata (never the key itself).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub revoked_at: Option<String>,
}

impl From<&ApiKeyRecord> for KeyView {
    fn from(k: &ApiKeyRecord) -> Self {
        KeyView {
            id: k.id.clone(),
            name: k.name.clone(),
            role: k.role,
            tenant: k.tenant.clone(),
            created_at: k.created_at.clone(),
            revoked_at: k.revoked_at.clone(),
        }
    }
}

/// A newly created key: the secret is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub meta: KeyView,
    /// The bearer token. Store it now: Ferry keeps only its hash.
    pub key: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub items: Vec<KeyView>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_store::FinishedTransfer;

    fn job(bytes: i64, from: &str, to: &str) -> FinishedTransfer {
        FinishedTransfer {
            bytes_done: bytes,
            started_at: from.to_owned(),
            finished_at: to.to_owned(),
        }
    }

    #[test]
    fn estimate_uses_the_default_until_a_job_measured() {
        let e = UploadEstimate::new(250, 3, &[], 100);
        assert_eq!(e.basis, EstimateBasis::Default);
        assert_eq!((e.throughput_bytes_per_sec, e.seconds), (100, 3));
        // Jobs without a usable duration measure nothing.
        let t = "2026-01-01T00:00:00Z";
        let e = UploadEstimate::new(250, 3, &[job(10, t, t), job(10, "x", t)], 100);
        assert_eq!(e.basis, EstimateBasis::Default);
    }

    #[test]
    fn estimate_pools_the_finished_jobs() {
        // 3,000 bytes in 1 s and 1,000 bytes in 1 s: 2,000 bytes/s.
        let jobs = [
            job(3000, "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z"),
            job(1000, "2026-01-01T00:00:00.5Z", "2026-01-01T00:00:01.5Z"),
        ];
        let e = UploadEstimate::new(10_001, 2, &jobs, 1);
        assert_eq!(e.basis, EstimateBasis::Measured);
        assert_eq!(e.throughput_bytes_per_sec, 2000);
        assert_eq!(e.seconds, 6);
        assert_eq!(UploadEstimate::new(0, 0, &jobs, 1).seconds, 0);
    }
}
