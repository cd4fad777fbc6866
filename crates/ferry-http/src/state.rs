//! What every handler can reach.

use std::sync::Arc;
use std::time::Duration;

use ferry_domain::SourceVersion;
use ferry_domain::licensing::CsvLimits;
use ferry_domain::manifest::ManifestLimits;
use ferry_store::Store;
use ferry_tenant::TenantStore;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::caller::Caller;
use crate::hot_cache::TtlCache;
use crate::roster_cache::RosterCache;

/// Limits and timings of the HTTP surface.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Largest accepted JSON body.
    pub max_body_bytes: usize,
    /// How long `/readyz` waits for each dependency.
    pub readiness_timeout: Duration,
    /// Largest page a list returns.
    pub max_page_size: u32,
    /// Limits of roster and assignment CSV uploads (413 above them).
    pub csv_limits: CsvLimits,
    /// Oldest source version that can migrate (pre-flight check 1).
    pub min_source_version: SourceVersion,
    /// How long pre-flight waits for each source URL.
    pub source_probe_timeout: Duration,
    /// Rows and line length of a document manifest (413 above `max_rows`).
    pub manifest_limits: ManifestLimits,
    /// Largest manifest body, in bytes (413 above).
    pub manifest_max_bytes: u64,
    /// Throughput the upload estimate assumes until a job measured one.
    pub default_throughput_bytes_per_sec: u64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 1 << 20,
            readiness_timeout: Duration::from_secs(2),
            max_page_size: 200,
            csv_limits: CsvLimits::default(),
            min_source_version: default_min_version(),
            source_probe_timeout: Duration::from_secs(5),
            manifest_limits: ManifestLimits::default(),
            manifest_max_bytes: 1 << 30,
            default_throughput_bytes_per_sec: 50_000_000,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// The queue, behind the job outbox's dispatcher (starts kick it).
    pub dispatcher: ferry_app::Dispatcher,
    pub tenants: TenantStore,
    pub settings: HttpSettings,
    pub metrics: PrometheusHandle,
    /// Validated rosters between requests (see `roster_cache`).
    pub rosters: Arc<RosterCache>,
    /// API key hash → caller, briefly (see `hot_cache`).
    pub callers: Arc<CallerCache>,
    /// Job id → rendered view, briefly: what dashboards poll.
    pub job_views: Arc<JobViewCache>,
}

pub type CallerCache = TtlCache<String, Caller>;
pub type JobViewCache = TtlCache<String, CachedJob>;

/// A job as `GET /v1/jobs/{id}` renders it.
#[derive(Debug, Clone)]
pub struct CachedJob {
    pub tenant: String,
    pub body: actix_web::web::Bytes,
    pub etag: String,
}

impl AppState {
    /// The hot caches with their TTLs (zero: off).
    pub fn caches(auth_ttl: Duration, job_ttl: Duration) -> (Arc<CallerCache>, Arc<JobViewCache>) {
        (
            Arc::new(TtlCache::new(auth_ttl)),
            Arc::new(TtlCache::new(job_ttl)),
        )
    }
}

/// SPEC §3.5: installations older than 7.1 upgrade first.
pub fn default_min_version() -> SourceVersion {
    SourceVersion::parse("7.1").unwrap_or_else(|_| unreachable!("7.1 is a valid version"))
}
