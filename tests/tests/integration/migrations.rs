//! `/v1/migrations` end to end, on both run modes.

#![allow(clippy::unwrap_used)]

use ferry_tests::{Mode, assert_problem, both_modes, migration_body, spawn_app};
use serde_json::{Value, json};

both_modes!(
    create_and_get,
    every_bad_field_is_listed,
    malformed_and_oversized_bodies,
    tenant_is_unique_among_open_migrations,
    idempotent_create,
    list_filters_and_cursor,
    lifecycle_and_illegal_transitions,
    conditional_requests,
);

async fn create_and_get(mode: Mode) {
    let app = spawn_app(mode).await;
    let res = app
        .post("/v1/migrations", &app.admin_key)
        .json(&migration_body("acme"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["state"], "draft");
    assert_eq!(created["version"], 1);
    assert_eq!(etag, "\"1\"");
    assert_eq!(created["source"]["version"], "8.3 R05");
    assert_eq!(created["migrator"]["phone"], "+49 30 1234567");
    assert_eq!(
        location,
        format!("/v1/migrations/{}", created["id"].as_str().unwrap())
    );
    let got: Value = app
        .get(&location, &app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got, created);
    let missing = app
        .get(
            &format!("/v1/migrations/{}", uuid::Uuid::new_v4()),
            &app.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_problem(missing, 404, "not_found").await;
    let not_uuid = app
        .get("/v1/migrations/not-a-uuid", &app.admin_key)
        .send()
        .await
        .unwrap();
    assert_problem(not_uuid, 404, "not_found").await;
    app.stop().await;
}

async fn every_bad_field_is_listed(mode: Mode) {
    let app = spawn_app(mode).await;
    let mut body = migration_body("Not A Slug");
    body["source"]["version"] = json!("seven");
    body["requested_by"]["email"] = json!("sam-at-vendor");
    body["migrator"]["phone"] = json!("call me");
    body["source"]["archive_url"] = json!("ftp://old/docs");
    let res = app
        .post("/v1/migrations", &app.admin_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(res, 422, "validation_failed").await;
    let fields: Vec<(&str, &str)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fields,
        vec![
            ("tenant", "invalid_tenant_slug"),
            ("source.version", "invalid_version"),
            ("source.archive_url", "invalid_url"),
            ("requested_by.email", "invalid_email"),
            ("migrator.phone", "invalid_phone"),
        ]
    );
    // Nothing was created.
    let list: Value = app
        .get("/v1/migrations", &app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    // A missing field or a wrong type is a 422 too; an unknown field as well.
    let mut missing = migration_body("acme");
    missing.as_object_mut().unwrap().remove("migrator");
    let res = app
        .post("/v1/migrations", &app.admin_key)
        .json(&missing)
        .send()
        .await
        .unwrap();
    assert_problem(res, 422, "validation_failed").await;
    let mut extra = migration_body("acme");
    extra["surprise"] = json!(true);
    let res = app
        .post("/v1/migrations", &app.admin_key)
        .json(&extra)
        .send()
        .await
        .unwrap();
    assert_problem(res, 422, "validation_failed").await;
    app.stop().await;
}

async fn malformed_and_oversized_bodies(mode: Mode) {
    let app = spawn_app(mode).await;
    let bad_json = app
        .post("/v1/migrations", &app.admin_key)
        .header("content-type", "application/json")
        .body("{\"tenant\": ")
        .send()
        .await
        .unwrap();
    assert_problem(bad_json, 400, "invalid_json").await;
    let not_json = app
        .post("/v1/migrations", &app.admin_key)
        .header("content-type", "text/plain")
        .body("tenant=acme")
        .send()
        .await
        .unwrap();
    assert_problem(not_json, 415, "unsupported_media_type").await;
    let huge = format!("{{\"tenant\": \"{}\"}}", "a".repeat(2 << 20));
    let too_large = app
        .post("/v1/migrations", &app.admin_key)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(too_large, 413, "payload_too_large").await;
    assert_eq!(problem["limit"], 1 << 20);
    let no_route = app.get("/v1/nowhere", &app.admin_key).send().await.unwrap();
    assert_problem(no_route, 404, "not_found").await;
    // A known path with a method it does not have: 405 naming the allowed ones.
    let wrong_method = app
        .client
        .delete(app.url("/v1/migrations"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.headers()["allow"], "GET, POST, HEAD");
    assert_problem(wrong_method, 405, "method_not_allowed").await;
    let bad_query = app
        .get("/v1/migrations?limit=many", &app.admin_key)
        .send()
        .await
        .unwrap();
    assert_problem(bad_query, 400, "invalid_query").await;
    app.stop().await;
}

async fn tenant_is_unique_among_open_migrations(mode: Mode) {
    let app = spawn_app(mode).await;
    let first = app.create_migration("acme").await;
    let again = app
        .post("/v1/migrations", &app.admin_key)
        .json(&migration_body("acme"))
        .send()
        .await
        .unwrap();
    assert_problem(again, 409, "tenant_taken").await;
    // Once the first is cancelled the tenant is free again.
    let id = first["id"].as_str().unwrap();
    let res = app
        .post(&format!("/v1/migrations/{id}/cancel"), &app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    app.create_migration("acme").await;
    app.stop().await;
}

async fn idempotent_create(mode: Mode) {
    let app = spawn_app(mode).await;
    let send = |body: Value, key: &'static str| {
        app.post("/v1/migrations", &app.admin_key)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let first = send(migration_body("acme"), "k-1").await.unwrap();
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let replay = send(migration_body("acme"), "k-1").await.unwrap();
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.json::<Value>().await.unwrap(), first);
    let conflict = send(migration_body("other"), "k-1").await.unwrap();
    assert_problem(conflict, 422, "idempotency_key_reused").await;
    // Another caller may use the same key for its own request.
    let sales = app.key("sales", None).await;
    let res = app
        .post("/v1/migrations", &sales)
        .header("Idempotency-Key", "k-1")
        .json(&migration_body("globex"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let list: Value = app
        .get("/v1/migrations", &app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        2,
        "exactly one migration per distinct call"
    );
    let blank = app
        .post("/v1/migrations", &app.admin_key)
        .header("Idempotency-Key", "")
        .json(&migration_body("blank"))
        .send()
        .await
        .unwrap();
    assert_problem(blank, 400, "invalid_header").await;
    app.stop().await;
}

async fn list_filters_and_cursor(mode: Mode) {
    let app = spawn_app(mode).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            app.create_migration(&format!("tenant-{i}")).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    app.post(&format!("/v1/migrations/{}/cancel", ids[1]), &app.admin_key)
        .send()
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/migrations?limit=2&cursor={c}"),
            None => "/v1/migrations?limit=2".to_owned(),
        };
        let page: Value = app
            .get(&path, &app.admin_key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|m| m["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids, "pages cover every migration once, oldest first");
    let cancelled: Value = app
        .get("/v1/migrations?state=cancelled", &app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["items"].as_array().unwrap().len(), 1);
    assert_eq!(cancelled["items"][0]["id"], ids[1].as_str());
    let by_tenant: Value = app
        .get("/v1/migrations?tenant=tenant-3", &app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_tenant["items"][0]["id"], ids[3].as_str());
    for bad in [
        "state=open",
        "tenant=NOPE",
        "limit=0",
        "limit=201",
        "cursor=zzz",
    ] {
        let res = app
            .get(&format!("/v1/migrations?{bad}"), &app.admin_key)
            .send()
            .await
            .unwrap();
        assert_problem(res, 422, "validation_failed").await;
    }
    app.stop().await;
}

async fn lifecycle_and_illegal_transitions(mode: Mode) {
    let app = spawn_app(mode).await;
    let m = app.create_migration("acme").await;
    let id = m["id"].as_str().unwrap();
    let post = |action: &str| {
        app.post(&format!("/v1/migrations/{id}/{action}"), &app.admin_key)
            .send()
    };
    // Draft: cannot complete or reopen.
    let p = assert_problem(post("complete").await.unwrap(), 409, "illegal_transition").await;
    assert_eq!(p["current_state"], "draft");
    assert!(p["detail"].as_str().unwrap().contains("draft"));
    assert_problem(post("reopen").await.unwrap(), 409, "illegal_transition").await;
    // An empty draft fails pre-flight: 422 with the report, still a draft.
    let p = assert_problem(post("commit").await.unwrap(), 422, "preflight_failed").await;
    assert_eq!(p["preflight"]["passed"], false);
    let ready = app.make_ready(id).await;
    assert_eq!(ready["state"], "ready");
    let back: Value = post("reopen").await.unwrap().json().await.unwrap();
    assert_eq!(back["state"], "draft");
    // The draft was kept: committing again after going back works.
    let again: Value = post("commit").await.unwrap().json().await.unwrap();
    assert_eq!(again["state"], "ready");
    let p = assert_problem(post("commit").await.unwrap(), 409, "illegal_transition").await;
    assert_eq!(p["current_state"], "ready");
    let cancelled: Value = post("cancel").await.unwrap().json().await.unwrap();
    assert_eq!(cancelled["state"], "cancelled");
    for action in ["cancel", "commit", "start", "complete", "reopen"] {
        let p = assert_problem(post(action).await.unwrap(), 409, "illegal_transition").await;
        assert_eq!(p["current_state"], "cancelled", "{action}");
    }
    app.stop().await;
}

async fn conditional_requests(mode: Mode) {
    let app = spawn_app(mode).await;
    let m = app.create_migration("acme").await;
    let id = m["id"].as_str().unwrap();
    let path = format!("/v1/migrations/{id}");
    let unchanged = app
        .get(&path, &app.admin_key)
        .header("If-None-Match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), 304);
    let stale = app
        .post(&format!("{path}/commit"), &app.admin_key)
        .header("If-Match", "\"7\"")
        .send()
        .await
        .unwrap();
    assert_problem(stale, 412, "precondition_failed").await;
    let current: Value = app
        .get(&path, &app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        current["state"], "draft",
        "a failed precondition changes nothing"
    );
    app.prepare_draft(id).await;
    let ok = app
        .post(&format!("{path}/commit"), &app.admin_key)
        .header("If-Match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["etag"], "\"2\"");
    let changed = app
        .get(&path, &app.admin_key)
        .header("If-None-Match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let garbage = app
        .post(&format!("{path}/reopen"), &app.admin_key)
        .header("If-Match", "yesterday")
        .send()
        .await
        .unwrap();
    assert_problem(garbage, 400, "invalid_header").await;
    app.stop().await;
}
