//! `/metrics` after a real upload: the job, transfer and queue families
//! carry this app's figures, next to the HTTP request metrics.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ferry_tests::archive::{SourceArchive, ready_with_manifest};
use ferry_tests::{Mode, TestApp, both_modes, spawn_app};

both_modes!(metrics_follow_a_real_upload);

/// The value of the sample `name` (with labels, as printed) in `text`.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The `ferry_…` metric names a PromQL expression uses.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("ferry_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    out
}

async fn scrape(app: &TestApp) -> String {
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    res.text().await.unwrap()
}

async fn metrics_follow_a_real_upload(mode: Mode) {
    let app = spawn_app(mode).await;
    let before = scrape(&app).await;
    assert_eq!(
        sample(&before, "ferry_transfer_bytes_total"),
        Some(0.0),
        "{before}"
    );
    assert_eq!(sample(&before, "ferry_queue_depth"), Some(0.0));

    let src = SourceArchive::new(&app);
    src.write("a.txt", b"hello");
    src.write("b.txt", b"world!!");
    let manifest = "document_id,path,size\na,a.txt,5\nb,b.txt,7\nc,gone.txt,3\n";
    let id = ready_with_manifest(&app, &src, "metricco", manifest).await;
    let started = app.post_json(&format!("/v1/migrations/{id}/start")).await;
    let job = app
        .wait_for_job(
            started["job"]["id"].as_str().unwrap(),
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");

    let text = scrape(&app).await;
    let dump = std::fs::metadata(src.dump()).unwrap().len() as f64;
    assert_eq!(
        sample(&text, "ferry_jobs{state=\"succeeded\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "ferry_migrations{state=\"uploaded\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "ferry_transfer_bytes_total"),
        Some(12.0 + dump)
    );
    assert_eq!(
        sample(&text, "ferry_transfer_documents_uploaded_total"),
        Some(2.0)
    );
    assert_eq!(sample(&text, "ferry_transfer_documents_missing"), Some(1.0));
    assert_eq!(sample(&text, "ferry_transfer_documents_failed"), Some(0.0));
    assert_eq!(sample(&text, "ferry_queue_depth"), Some(0.0));
    assert_eq!(
        sample(&text, "ferry_transfer_running_bytes_total"),
        Some(0.0)
    );
    // The HTTP families are there too, labelled by route template.
    assert!(
        text.lines()
            .any(|l| l.starts_with("ferry_http_requests_total{")
                && l.contains("route=\"/v1/migrations/{id}/start\"")),
        "{text}"
    );
    assert!(text.contains("ferry_http_request_duration_seconds"));
    // Every series the Grafana dashboard plots exists (deploy/grafana).
    let dash = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/grafana/dashboards/ferry.json");
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dash).unwrap()).unwrap();
    let mut plotted = 0;
    for panel in dash["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for name in metric_names(expr) {
                plotted += 1;
                assert!(
                    text.lines().any(|l| l.starts_with(&name)),
                    "the dashboard plots {name}, which /metrics does not have"
                );
            }
        }
    }
    assert!(plotted >= 10, "{plotted}");
    app.stop().await;
}
