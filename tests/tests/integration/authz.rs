//! The authorisation matrix (issue 5 §2): every operation of the OpenAPI
//! document × every caller (admin, sales, migrator, ops, no key, revoked
//! key), and a tenant-limited key against every route that names another
//! tenant's migration or job. The table below is the policy; an operation
//! missing from it fails the test, so a new route cannot ship unreviewed.

#![allow(clippy::unwrap_used)]

use ferry_tests::{Mode, TestApp, assert_problem, both_modes, spawn_app};
use serde_json::{Value, json};

both_modes!(
    every_operation_for_every_caller,
    tenant_keys_see_only_their_tenant
);

const ALL: &[&str] = &["admin", "sales", "migrator", "ops"];
const OPERATORS: &[&str] = &["admin", "migrator"];
const CANCELLERS: &[&str] = &["admin", "sales", "migrator"];
const CREATORS: &[&str] = &["admin", "sales"];
const ADMIN: &[&str] = &["admin"];
/// Public: probes and the scrape endpoint answer without a key.
const PUBLIC: Option<&[&str]> = None;

/// (method, path as in the OpenAPI document, roles that may; `None`: public).
const POLICY: &[(&str, &str, Option<&[&str]>)] = &[
    ("GET", "/healthz", PUBLIC),
    ("GET", "/readyz", PUBLIC),
    ("GET", "/metrics", PUBLIC),
    ("GET", "/v1/keys", Some(ADMIN)),
    ("POST", "/v1/keys", Some(ADMIN)),
    ("DELETE", "/v1/keys/{id}", Some(ADMIN)),
    ("GET", "/v1/webhooks", Some(ADMIN)),
    ("POST", "/v1/webhooks", Some(ADMIN)),
    ("DELETE", "/v1/webhooks/{id}", Some(ADMIN)),
    ("GET", "/v1/webhooks/{id}/deliveries", Some(ADMIN)),
    (
        "POST",
        "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
        Some(ADMIN),
    ),
    ("GET", "/v1/jobs/{id}", Some(ALL)),
    ("POST", "/v1/jobs/{id}/cancel", Some(OPERATORS)),
    ("GET", "/v1/migrations", Some(ALL)),
    ("POST", "/v1/migrations", Some(CREATORS)),
    ("GET", "/v1/migrations/{id}", Some(ALL)),
    ("POST", "/v1/migrations/{id}/cancel", Some(CANCELLERS)),
    ("POST", "/v1/migrations/{id}/commit", Some(OPERATORS)),
    ("POST", "/v1/migrations/{id}/reopen", Some(OPERATORS)),
    ("POST", "/v1/migrations/{id}/complete", Some(OPERATORS)),
    ("POST", "/v1/migrations/{id}/start", Some(OPERATORS)),
    ("POST", "/v1/migrations/{id}/precopy", Some(OPERATORS)),
    ("GET", "/v1/migrations/{id}/precopy", Some(ALL)),
    ("GET", "/v1/migrations/{id}/jobs", Some(ALL)),
    ("PUT", "/v1/migrations/{id}/roster", Some(OPERATORS)),
    (
        "PUT",
        "/v1/migrations/{id}/roster/satellites",
        Some(OPERATORS),
    ),
    ("GET", "/v1/migrations/{id}/users", Some(ALL)),
    ("GET", "/v1/migrations/{id}/catalogue", Some(ALL)),
    ("PUT", "/v1/migrations/{id}/catalogue", Some(OPERATORS)),
    ("GET", "/v1/migrations/{id}/overview", Some(ALL)),
    ("GET", "/v1/migrations/{id}/draft", Some(ALL)),
    ("PATCH", "/v1/migrations/{id}/draft", Some(OPERATORS)),
    ("GET", "/v1/migrations/{id}/assignments.csv", Some(ALL)),
    (
        "POST",
        "/v1/migrations/{id}/assignments.csv",
        Some(OPERATORS),
    ),
    (
        "GET",
        "/v1/migrations/{id}/imports/{import_id}/errors.csv",
        Some(ALL),
    ),
    ("GET", "/v1/migrations/{id}/review", Some(ALL)),
    ("GET", "/v1/migrations/{id}/preflight", Some(ALL)),
    ("PUT", "/v1/migrations/{id}/manifest", Some(OPERATORS)),
    ("GET", "/v1/migrations/{id}/documents", Some(ALL)),
    ("GET", "/v1/migrations/{id}/documents.csv", Some(ALL)),
    ("GET", "/v1/migrations/{id}/documents.ndjson", Some(ALL)),
    ("GET", "/v1/migrations/{id}/freeze", Some(ALL)),
    ("GET", "/v1/migrations/{id}/audit", Some(ALL)),
    ("GET", "/v1/audit", Some(ADMIN)),
    ("GET", "/v1/me", Some(ALL)),
    ("GET", "/v1/audit/verify", Some(ADMIN)),
];

/// Every (method, path) of the served OpenAPI document.
fn operations() -> Vec<(String, String)> {
    let doc: Value = serde_json::from_str(&ferry_http::openapi::document_json()).unwrap();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                out.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

#[test]
fn the_policy_covers_exactly_the_documented_operations() {
    let mut documented = operations();
    documented.sort();
    let mut policy: Vec<(String, String)> = POLICY
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    policy.sort();
    assert_eq!(policy, documented);
}

fn fill(path: &str, migration: &str, job: &str) -> String {
    let id = if path.starts_with("/v1/jobs/") {
        job
    } else {
        migration
    };
    path.replace("{id}", id)
        .replace("{import_id}", &uuid::Uuid::new_v4().to_string())
        .replace("{delivery_id}", &uuid::Uuid::new_v4().to_string())
}

async fn call(app: &TestApp, method: &str, path: &str, key: Option<&str>) -> reqwest::Response {
    let mut req = app.client.request(method.parse().unwrap(), app.url(path));
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    if method != "GET" && method != "DELETE" {
        // A well-formed request of its kind: a refusal must be about the
        // caller, not the body.
        let csv = path.ends_with(".csv") || path.ends_with("/manifest");
        req = if csv {
            req.header("content-type", "text/csv")
                .body("document_id,path,size\n")
        } else {
            req.json(&json!({}))
        };
    }
    req.send().await.unwrap()
}

/// A started migration of `tenant`: its id and its job's id.
async fn started(app: &TestApp, tenant: &str) -> (String, String) {
    let id = app.create_migration(tenant).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.make_ready(&id).await;
    let s = app.post_json(&format!("/v1/migrations/{id}/start")).await;
    (id, s["job"]["id"].as_str().unwrap().to_owned())
}

async fn revoked_key(app: &TestApp) -> String {
    let created = app
        .post("/v1/keys", &app.admin_key)
        .json(&json!({"name": "gone", "role": "admin"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let res = app
        .client
        .delete(app.url(&format!("/v1/keys/{}", created["id"].as_str().unwrap())))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    created["key"].as_str().unwrap().to_owned()
}

async fn every_operation_for_every_caller(mode: Mode) {
    let app = spawn_app(mode).await;
    let (migration, job) = started(&app, "matrix").await;
    let keys = [
        ("admin", app.admin_key.clone()),
        ("sales", app.key("sales", None).await),
        ("migrator", app.key("migrator", None).await),
        ("ops", app.key("ops", None).await),
    ];
    let revoked = revoked_key(&app).await;
    // Reads first, then writes: a write that succeeds (say a cancel) must
    // not change what a later read of another role is checked against.
    let mut ordered: Vec<_> = POLICY.iter().collect();
    ordered.sort_by_key(|(m, _, _)| *m != "GET");
    for (method, template, allowed) in ordered {
        let path = fill(template, &migration, &job);
        let Some(allowed) = allowed else {
            let res = call(&app, method, &path, None).await;
            assert!(
                res.status().is_success(),
                "{method} {path}: {}",
                res.status()
            );
            continue;
        };
        let res = call(&app, method, &path, None).await;
        assert_problem(res, 401, "unauthorized").await;
        let res = call(&app, method, &path, Some(&revoked)).await;
        assert_problem(res, 401, "unauthorized").await;
        for (role, key) in &keys {
            let res = call(&app, method, &path, Some(key)).await;
            let status = res.status().as_u16();
            if allowed.contains(role) {
                assert!(
                    status != 401 && status != 403 && status < 500,
                    "{role} {method} {path}: {status} {}",
                    res.text().await.unwrap_or_default()
                );
            } else {
                let p = assert_problem(res, 403, "forbidden").await;
                assert!(p["detail"].as_str().unwrap().contains(role), "{p}");
            }
        }
    }
    app.stop().await;
}

/// A key limited to `acme` gets 404 — never data, never a hint — for every
/// route that names a `globex` migration or job, and sees its own.
async fn tenant_keys_see_only_their_tenant(mode: Mode) {
    let app = spawn_app(mode).await;
    let (own, own_job) = started(&app, "acme").await;
    let (other, other_job) = started(&app, "globex").await;
    let acme_admin = app.key("admin", Some("acme")).await;
    let mut checked = 0;
    for (method, template, allowed) in POLICY {
        // Webhook ids are not migration ids: tenant limits of webhooks are
        // tested in webhooks.rs.
        if !template.contains("{id}")
            || template.starts_with("/v1/keys")
            || template.starts_with("/v1/webhooks")
            || allowed.is_none()
        {
            continue;
        }
        let path = fill(template, &other, &other_job);
        let res = call(&app, method, &path, Some(&acme_admin)).await;
        let status = res.status().as_u16();
        let body = res.text().await.unwrap();
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert!(!body.contains("globex"), "{method} {path} leaks: {body}");
        if *method == "GET" && !template.contains("{import_id}") {
            let own_path = fill(template, &own, &own_job);
            let res = call(&app, "GET", &own_path, Some(&acme_admin)).await;
            assert!(
                res.status().is_success(),
                "own {own_path}: {}",
                res.status()
            );
        }
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} routes checked");
    // The other tenant is untouched by all of that.
    let m = app.get_json(&format!("/v1/migrations/{other}")).await;
    assert!(
        matches!(m["state"].as_str(), Some("uploading" | "uploaded")),
        "{m}"
    );
    let job = app.get_json(&format!("/v1/jobs/{other_job}")).await;
    assert_ne!(job["state"], "cancelled", "{job}");
    app.stop().await;
}
