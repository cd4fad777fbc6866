//! What every handler can reach.

use std::time::Duration;

use ferry_queue::Queue;
use ferry_store::Store;
use ferry_tenant::TenantStore;
use metrics_exporter_prometheus::PrometheusHandle;

/// Limits and timings of the HTTP surface.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Largest accepted JSON body.
    pub max_body_bytes: usize,
    /// How long `/readyz` waits for each dependency.
    pub readiness_timeout: Duration,
    /// Largest page a list returns.
    pub max_page_size: u32,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 1 << 20,
            readiness_timeout: Duration::from_secs(2),
            max_page_size: 200,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub queue: Queue,
    pub tenants: TenantStore,
    pub settings: HttpSettings,
    pub metrics: PrometheusHandle,
}
