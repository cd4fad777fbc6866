//! Ferry's HTTP surface: actix-web handlers documented by utoipa.
//!
//! Handlers only parse, call the store/queue/domain and map; every rule lives
//! in `ferry-domain`. Every error is a [`problem::Problem`].

pub mod allow;
pub mod auth;
mod caller;
pub mod extract;
pub mod hot_cache;
pub mod metrics_text;
pub mod openapi;
pub mod problem;
pub mod roster_cache;
pub mod routes;
pub mod state;
pub mod stream;
pub mod views;

use std::net::TcpListener;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpMessage, HttpResponse, HttpServer, web};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_actix_web::{RequestId, TracingLogger};
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

pub use state::{AppState, HttpSettings};

use crate::problem::ApiError;

/// The process-wide Prometheus recorder (a `metrics` recorder can be
/// installed once per process; tests start several apps in one process).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .expect("no other metrics recorder is installed in this process")
        })
        .clone()
}

/// Starts the API on `listener`. Signals are not handled here: the caller
/// stops the returned server (gracefully) when its shutdown token fires.
pub fn serve(
    listener: TcpListener,
    state: AppState,
    workers: usize,
    shutdown_timeout: Duration,
) -> std::io::Result<Server> {
    let doc = openapi::document();
    let allowed = web::Data::new(allow::AllowedMethods::from_document(&doc));
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        let max_body = data.settings.max_body_bytes;
        let (app, _) = App::new()
            .into_utoipa_app()
            .configure(openapi::routes)
            .split_for_parts();
        app.app_data(data.clone())
            .app_data(allowed.clone())
            .app_data(
                web::QueryConfig::default()
                    .error_handler(|e, _| ApiError::BadQuery(e.to_string()).into()),
            )
            .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::NoRoute.into()))
            .app_data(web::PayloadConfig::new(max_body))
            .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", doc.clone()))
            .service(web::resource("/docs").to(|| async {
                HttpResponse::PermanentRedirect()
                    .insert_header(("Location", "/docs/"))
                    .finish()
            }))
            .default_service(web::to(allow::fallback))
            .wrap(from_fn(request_id_header))
            .wrap(from_fn(track_metrics))
            .wrap(TracingLogger::default())
    })
    .workers(workers.max(1))
    .shutdown_timeout(shutdown_timeout.as_secs())
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}

/// Echoes the request id that tracing-actix-web put on the request's span,
/// so a client can quote it and an operator can grep the logs for it.
async fn request_id_header(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req.extensions().get::<RequestId>().map(|id| id.to_string());
    let mut res = next.call(req).await?;
    if let Some(value) = id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(res)
}

/// Request rate, errors and latency per route pattern (not per raw path, so
/// ids do not explode the label set).
async fn track_metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let res = next.call(req).await?;
    let status = res.status().as_u16().to_string();
    metrics::counter!("ferry_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("ferry_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    Ok(res)
}
