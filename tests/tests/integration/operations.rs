//! Probes, metrics, docs and the committed OpenAPI document.

#![allow(clippy::unwrap_used)]

use ferry_tests::{Mode, both_modes, spawn_app};
use serde_json::Value;

both_modes!(probes_metrics_and_docs);

async fn probes_metrics_and_docs(mode: Mode) {
    let app = spawn_app(mode).await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(health.headers().contains_key("x-request-id"));
    let ready: Value = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    for dep in ["database", "queue", "tenant_store"] {
        assert_eq!(ready["checks"][dep], "ok");
    }
    app.get("/v1/migrations", &app.admin_key)
        .send()
        .await
        .unwrap();
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ferry_http_requests_total")
            && metrics.contains("route=\"/v1/migrations\""),
        "{metrics}"
    );
    let docs = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger-ui"));
    // The UI assets are vendored: served by Ferry itself, no CDN.
    let bundle = app
        .client
        .get(app.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), 200);
    let spec: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    assert!(spec["paths"]["/v1/migrations"]["post"].is_object());
    app.stop().await;
}

/// `openapi/ferry.json` is generated (`make openapi`) and committed; this
/// fails when the handlers changed and the file was not regenerated.
#[test]
fn committed_openapi_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/ferry.json");
    let committed = std::fs::read_to_string(path).expect("openapi/ferry.json exists");
    let generated = ferry_http::openapi::document_json();
    assert!(
        committed == generated,
        "openapi/ferry.json is stale: run `make openapi` and commit the result"
    );
}

#[test]
fn every_error_response_in_the_spec_is_a_problem() {
    let spec: Value = serde_json::from_str(&ferry_http::openapi::document_json()).unwrap();
    let mut checked = 0;
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    let content =
                        &response["content"]["application/problem+json"]["schema"]["$ref"];
                    assert_eq!(
                        content, "#/components/schemas/Problem",
                        "{method} {path} {status}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 20);
}
