//! Liveness, readiness and metrics: unauthenticated, for probes and scrapers.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::problem::{ApiError, Problem};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Liveness: the process answers HTTP.
#[utoipa::path(tag = "operations", responses((status = 200, body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    #[schema(example = "ready")]
    pub status: &'static str,
    /// Each dependency and `ok` or why it failed.
    pub checks: BTreeMap<&'static str, String>,
}

/// Readiness: the database, the queue and the tenant store all answer.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, body = Readiness),
        (status = 503, description = "a dependency is down; `dependency` names it", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let t = state.settings.readiness_timeout;
    let (db, queue, tenants) = tokio::join!(
        async {
            match tokio::time::timeout(t, state.store.ping()).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {t:?}")),
            }
        },
        async {
            state
                .dispatcher
                .queue()
                .ping(t)
                .await
                .map_err(|e| e.to_string())
        },
        async { state.tenants.ping(t).await.map_err(|e| e.to_string()) },
    );
    let results = [
        ("database", db),
        ("queue", queue),
        ("tenant_store", tenants),
    ];
    if let Some((dependency, Err(cause))) = results.iter().find(|(_, r)| r.is_err()) {
        return Err(ApiError::Unavailable {
            dependency,
            cause: cause.clone(),
        });
    }
    let checks = results
        .into_iter()
        .map(|(name, _)| (name, "ok".to_owned()))
        .collect();
    Ok(HttpResponse::Ok().json(Readiness {
        status: "ready",
        checks,
    }))
}

// HTTP (requests by route and status, latency), jobs by state, retries,
// queue depth, bytes and documents transferred, migrations by state.
/// Prometheus metrics in the text exposition format.
#[utoipa::path(tag = "operations", responses((status = 200, content_type = "text/plain", body = String)))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let mut body = state.metrics.render();
    // The state-derived families; without the database the scrape still
    // answers with the process's own metrics (and /readyz says why).
    match tokio::time::timeout(state.settings.readiness_timeout, state.store.stats()).await {
        Ok(Ok(stats)) => crate::metrics_text::render(&stats, &mut body),
        Ok(Err(e)) => tracing::warn!(error = %e, "metrics: cannot read job figures"),
        Err(_) => tracing::warn!("metrics: job figures timed out"),
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(body)
}
