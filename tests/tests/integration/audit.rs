//! The audit trail (issue 6 item 4): a migration's decisions recorded with
//! actor, time and before/after; tenant limits; the hash chain verified by
//! `ferry audit verify` (the real binary) and broken by editing a row;
//! concurrent appends never fork the chain.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ferry::Parts;
use ferry_domain::audit::AuditAction;
use ferry_store::{AuditEvent, Store};
use ferry_tests::processes::ferry_bin;
use ferry_tests::{Mode, TestApp, assert_problem, both_modes, spawn_app, spawn_with};
use serde_json::{Value, json};

both_modes!(
    a_flow_records_every_decision,
    tenant_keys_see_only_their_tenants_audit,
    concurrent_appends_do_not_fork_the_chain
);

fn roster() -> Value {
    json!({"users": [
        {"user_id": "u1", "full_name": "Mia Migrator", "emails": ["mia@partner.example"],
         "group": "IT", "position": "Consultant", "is_admin": true, "old_license": "Admin"},
        {"user_id": "u2", "full_name": "Ann Lee", "emails": ["ann@acme.example", "sales@acme.example"],
         "group": "Sales", "position": "Lead", "old_license": "Engage"},
        {"user_id": "u3", "full_name": "Bob Roe", "emails": ["bob@acme.example", "sales@acme.example"],
         "group": "Sales", "position": "Rep", "old_license": "Standard"}
    ]})
}

async fn ok(res: reqwest::Response) -> Value {
    let status = res.status();
    let text = res.text().await.unwrap();
    assert!(status.is_success(), "{status}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Every record of `path` (a list with cursor pagination), page by page.
async fn all_pages(app: &TestApp, path: &str, key: &str, limit: u32) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{path}?limit={limit}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = ok(app.get(&url, key).send().await.unwrap()).await;
        out.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

fn actions(records: &[Value]) -> Vec<&str> {
    records
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect()
}

fn find<'a>(records: &'a [Value], action: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["action"] == action)
        .unwrap_or_else(|| panic!("no {action} in {records:#?}"))
}

fn key_id(app_key_json: &Value) -> String {
    app_key_json["id"].as_str().unwrap().to_owned()
}

async fn create_key(
    app: &TestApp,
    name: &str,
    role: &str,
    tenant: Option<&str>,
) -> (String, String) {
    let created = ok(app
        .post("/v1/keys", &app.admin_key)
        .json(&json!({"name": name, "role": role, "tenant": tenant}))
        .send()
        .await
        .unwrap())
    .await;
    (
        key_id(&created),
        created["key"].as_str().unwrap().to_owned(),
    )
}

/// `ferry audit verify` against the app's database: (success, output).
fn verify_with_binary(app: &TestApp) -> (bool, String) {
    let out = std::process::Command::new(ferry_bin())
        .args(["audit", "verify"])
        .env_remove("FERRY_CONFIG")
        .env("FERRY_DATA_DIR", app.data_dir())
        .env("FERRY_DATABASE_URL", app.settings.database_url())
        .env("FERRY_LOG", "error")
        .output()
        .expect("ferry runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn raw_pool(app: &TestApp) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(&app.settings.database_url())
        .await
        .unwrap()
}

async fn a_flow_records_every_decision(mode: Mode) {
    // API only: the started job stays queued, so it can be cancelled.
    let app = spawn_with(mode, Parts::Api, |_| {}).await;
    let (migrator_id, migrator) = create_key(&app, "mia-laptop", "migrator", None).await;
    let id = app.create_migration("acme").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let m = |p: &str| format!("/v1/migrations/{id}{p}");

    let summary = ok(app
        .put(&m("/roster"), &migrator)
        .json(&roster())
        .send()
        .await
        .unwrap())
    .await;
    let v = summary["draft_version"].as_i64().unwrap();
    ok(app
        .put(&m("/catalogue"), &migrator)
        .json(&json!({
            "plans": [
                {"name": "Admin", "capacity": 6, "addons_allowed": true},
                {"name": "Engage", "capacity": 50, "addons_allowed": true},
                {"name": "Standard", "capacity": 100, "addons_allowed": false}
            ],
            "addons": [{"name": "Marketing", "capacity": 20}]
        }))
        .send()
        .await
        .unwrap())
    .await;
    ok(app
        .client
        .patch(app.url(&m("/draft")))
        .bearer_auth(&migrator)
        .header("If-Match", format!("\"d{v}\""))
        .json(&json!({"user_ids": ["u1"], "set_plan": "Admin"}))
        .send()
        .await
        .unwrap())
    .await;
    // The CSV round trip: Ann takes the shared address as user name, Bob
    // gets Standard.
    let csv = app
        .get(&m("/assignments.csv"), &migrator)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().unwrap().clone();
    let mut rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let edit = |r: &csv::StringRecord, plan: &str, user: &str| {
        let mut cells: Vec<String> = r.iter().map(str::to_owned).collect();
        cells[7] = plan.to_owned();
        cells[9] = user.to_owned();
        csv::StringRecord::from(cells)
    };
    rows[1] = edit(&rows[1], "Engage", "sales@acme.example");
    rows[2] = edit(&rows[2], "Standard", "bob@acme.example");
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&header).unwrap();
    for r in &rows {
        w.write_record(r).unwrap();
    }
    let body = String::from_utf8(w.into_inner().unwrap()).unwrap();
    let applied = ok(app
        .post(&m("/assignments.csv"), &migrator)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(applied["changed"], 2, "{applied}");

    ok(app.post(&m("/commit"), &migrator).send().await.unwrap()).await;
    ok(app.post(&m("/reopen"), &migrator).send().await.unwrap()).await;
    ok(app.post(&m("/commit"), &migrator).send().await.unwrap()).await;
    let started = ok(app.post(&m("/start"), &migrator).send().await.unwrap()).await;
    let job_id = started["job"]["id"].as_str().unwrap().to_owned();
    ok(app
        .post(&format!("/v1/jobs/{job_id}/cancel"), &migrator)
        .send()
        .await
        .unwrap())
    .await;
    ok(app.post(&m("/cancel"), &migrator).send().await.unwrap()).await;
    let res = app
        .client
        .delete(app.url(&format!("/v1/keys/{migrator_id}")))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);

    // The migration's trail, read by an ops key, two records a page.
    let (_, ops) = create_key(&app, "grafana", "ops", None).await;
    let records = all_pages(&app, &m("/audit"), &ops, 2).await;
    assert_eq!(
        actions(&records),
        [
            "migration.created",
            "roster.uploaded",
            "catalogue.changed",
            "draft.edited",
            "draft.imported",
            "preflight.checked",
            "migration.committed",
            "addresses.removed",
            "migration.reopened",
            "preflight.checked",
            "migration.committed",
            "addresses.removed",
            "migration.started",
            "source.frozen",
            "job.cancelled",
            "migration.cancelled",
            "source.unfrozen",
        ]
    );
    for r in &records {
        assert_eq!(r["migration_id"], id.as_str(), "{r}");
        assert_eq!(r["tenant"], "acme", "{r}");
        assert_eq!(r["acting_migrator"], "mia@partner.example", "{r}");
        assert!(r["at"].as_str().unwrap().ends_with('Z'), "{r}");
        assert_eq!(r["hash"].as_str().unwrap().len(), 64, "{r}");
        if r["action"] != "migration.created" {
            assert_eq!(r["actor"]["key_id"], migrator_id.as_str(), "{r}");
            assert_eq!(r["actor"]["name"], "mia-laptop", "{r}");
            assert_eq!(r["actor"]["role"], "migrator", "{r}");
        } else {
            assert_eq!(r["actor"]["role"], "admin", "{r}");
        }
    }
    // Draft edit: only u1, before nothing, after the plan with the default
    // user name.
    let edited = find(&records, "draft.edited");
    assert_eq!(edited["before"]["users"], json!({"u1": null}), "{edited}");
    assert_eq!(
        edited["after"]["users"]["u1"],
        json!({"plan": "Admin", "addons": [], "username": "mia@partner.example"})
    );
    assert_eq!(edited["after"]["changed"], 1);
    // Import: the two changed users, not the whole draft.
    let imported = find(&records, "draft.imported");
    assert_eq!(imported["subject"], applied["import_id"]);
    let users = imported["after"]["users"].as_object().unwrap();
    assert_eq!(users.keys().collect::<Vec<_>>(), ["u2", "u3"], "{imported}");
    assert_eq!(users["u2"]["plan"], "Engage");
    assert_eq!(users["u2"]["username"], "sales@acme.example");
    assert_eq!(imported["before"]["users"], json!({"u2": null, "u3": null}));
    assert_eq!(
        imported["after"]["draft_version"].as_i64(),
        Some(imported["before"]["draft_version"].as_i64().unwrap() + 1)
    );
    let catalogue = find(&records, "catalogue.changed");
    assert_eq!(catalogue["before"]["plans"][0]["capacity"], 5);
    assert_eq!(catalogue["after"]["plans"][0]["capacity"], 6);
    let pre = find(&records, "preflight.checked");
    assert_eq!(pre["after"]["passed"], true);
    assert!(
        pre["after"]["checks"].as_array().unwrap().len() > 3,
        "{pre}"
    );
    let removed = find(&records, "addresses.removed");
    assert_eq!(
        removed["after"]["removals"],
        json!([{"address": "sales@acme.example", "from_user_id": "u3", "for_user_id": "u2"}])
    );
    let start = find(&records, "migration.started");
    assert_eq!(start["before"]["state"], "ready");
    assert_eq!(start["after"]["state"], "uploading");
    assert_eq!(start["subject"], job_id.as_str());
    let cancelled = find(&records, "job.cancelled");
    assert_eq!(cancelled["subject"], job_id.as_str());
    assert_eq!(cancelled["before"]["state"], "queued");
    assert_eq!(cancelled["after"]["state"], "cancelled");
    let unfrozen = find(&records, "source.unfrozen");
    assert_eq!(unfrozen["after"]["reason"], "cancelled");

    // The global trail (admin) holds the key events and links every record.
    let global = all_pages(&app, "/v1/audit", &app.admin_key, 200).await;
    // First the admin key the first start created, then the migrator's.
    let bootstrap = &global[0];
    assert_eq!(bootstrap["action"], "key.created");
    assert_eq!(bootstrap["actor"]["name"], "bootstrap");
    assert!(bootstrap["actor"]["key_id"].is_null());
    assert_eq!(bootstrap["after"]["role"], "admin");
    let created = &global[1];
    assert_eq!(created["action"], "key.created");
    assert_eq!(created["subject"], migrator_id.as_str());
    assert_eq!(created["actor"]["role"], "admin");
    assert_eq!(created["after"]["role"], "migrator");
    assert_eq!(created["after"]["name"], "mia-laptop");
    assert!(created["migration_id"].is_null());
    let revoked = find(&global, "key.revoked");
    assert_eq!(revoked["subject"], migrator_id.as_str());
    let mut prev = "0".repeat(64);
    for (i, r) in global.iter().enumerate() {
        assert_eq!(r["seq"].as_i64(), Some(i as i64 + 1));
        assert_eq!(r["prev_hash"], prev.as_str());
        prev = r["hash"].as_str().unwrap().to_owned();
    }
    let ops_global = app.get("/v1/audit", &ops).send().await.unwrap();
    assert_problem(ops_global, 403, "forbidden").await;
    let verified = app.get_json("/v1/audit/verify").await;
    assert_eq!(verified["intact"], true, "{verified}");
    assert_eq!(verified["records"].as_i64(), Some(global.len() as i64));

    // The binary agrees; then a row is edited behind the service's back.
    let (passed, out) = verify_with_binary(&app);
    assert!(passed, "{out}");
    assert!(out.contains("intact"), "{out}");
    let draft_seq = edited["seq"].as_i64().unwrap();
    let pool = raw_pool(&app).await;
    sqlx::query("UPDATE audit_log SET after_json = $1 WHERE seq = $2")
        .bind(r#"{"changed":1,"draft_version":3,"users":{"u1":{"addons":[],"plan":"Basic","username":"mia@partner.example"}}}"#)
        .bind(draft_seq)
        .execute(&pool)
        .await
        .unwrap();
    let verified = app.get_json("/v1/audit/verify").await;
    assert_eq!(verified["intact"], false, "{verified}");
    assert_eq!(
        verified["broken_at"].as_i64(),
        Some(draft_seq),
        "{verified}"
    );
    let (passed, out) = verify_with_binary(&app);
    assert!(!passed, "{out}");
    assert!(out.contains(&format!("seq {draft_seq}:")), "{out}");

    // A deleted row is named too (after putting the edited one back).
    let restored = sqlx::query("UPDATE audit_log SET after_json = $1 WHERE seq = $2")
        .bind(serde_json::to_string(&edited["after"]).unwrap())
        .bind(draft_seq)
        .execute(&pool)
        .await;
    restored.unwrap();
    let (passed, out) = verify_with_binary(&app);
    assert!(passed, "canonical JSON is restorable: {out}");
    let gone = draft_seq + 2;
    sqlx::query("DELETE FROM audit_log WHERE seq = $1")
        .bind(gone)
        .execute(&pool)
        .await
        .unwrap();
    let (passed, out) = verify_with_binary(&app);
    assert!(!passed, "{out}");
    assert!(out.contains(&format!("seq {gone}:")), "{out}");
    pool.close().await;
    app.stop().await;
}

async fn tenant_keys_see_only_their_tenants_audit(mode: Mode) {
    let app = spawn_app(mode).await;
    let acme = app.create_migration("acme").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let globex = app.create_migration("globex").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.make_ready(&acme).await;
    app.make_ready(&globex).await;
    // acme runs to the end: start, the worker uploads, complete.
    let started = app.post_json(&format!("/v1/migrations/{acme}/start")).await;
    let job = app
        .wait_for_job(
            started["job"]["id"].as_str().unwrap(),
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    app.post_json(&format!("/v1/migrations/{acme}/complete"))
        .await;

    let (_, acme_migrator) = create_key(&app, "acme-mig", "migrator", Some("acme")).await;
    let (_, acme_admin) = create_key(&app, "acme-admin", "admin", Some("acme")).await;
    let res = app
        .get(&format!("/v1/migrations/{globex}/audit"), &acme_migrator)
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, 404, "not_found").await;
    assert!(!body.to_string().contains("globex"));
    let own = all_pages(
        &app,
        &format!("/v1/migrations/{acme}/audit"),
        &acme_migrator,
        50,
    )
    .await;
    let acts = actions(&own);
    for expected in [
        "migration.created",
        "migration.committed",
        "migration.started",
        "source.frozen",
        "migration.completed",
        "source.unfrozen",
    ] {
        assert!(acts.contains(&expected), "{expected} missing: {acts:?}");
    }
    let completed = find(&own, "migration.completed");
    assert_eq!(completed["before"]["state"], "uploaded");
    assert_eq!(completed["after"]["state"], "completed");
    assert_eq!(
        find(&own, "source.unfrozen")["after"]["reason"],
        "completed"
    );

    // A tenant-limited admin's global list is its tenant's records only:
    // no other tenant, no key events.
    let limited = all_pages(&app, "/v1/audit", &acme_admin, 200).await;
    assert_eq!(limited.len(), own.len());
    assert!(
        limited.iter().all(|r| r["tenant"] == "acme"),
        "{limited:#?}"
    );
    let everything = all_pages(&app, "/v1/audit", &app.admin_key, 200).await;
    assert!(everything.iter().any(|r| r["tenant"] == "globex"));
    assert!(everything.iter().any(|r| r["action"] == "key.created"));
    // Bad cursors and limits are refused like other lists.
    let res = app
        .get("/v1/audit?limit=0", &app.admin_key)
        .send()
        .await
        .unwrap();
    assert_problem(res, 422, "validation_failed").await;
    app.stop().await;
}

async fn concurrent_appends_do_not_fork_the_chain(mode: Mode) {
    let app = spawn_app(mode).await;
    // Two more handles on the same database, as two more processes would be.
    let url = app.settings.database_url();
    let stores = [
        Store::connect(&url, 4, Duration::from_secs(20))
            .await
            .unwrap(),
        Store::connect(&url, 4, Duration::from_secs(20))
            .await
            .unwrap(),
    ];
    let id = app.create_migration("acme").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = stores[i % 2].clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            let subject = format!("append-{i}");
            store
                .audit(
                    &AuditEvent::new(AuditAction::CatalogueChanged, Some("concurrency-test"))
                        .migration(&id)
                        .subject(&subject)
                        .after(json!({"i": i})),
                )
                .await
                .unwrap()
                .seq
        }));
    }
    // And API key creations through the HTTP API at the same time.
    for i in 0..10 {
        let (client, url, key) = (
            app.client.clone(),
            app.url("/v1/keys"),
            app.admin_key.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let res = client
                .post(url)
                .bearer_auth(key)
                .json(&json!({"name": format!("k{i}"), "role": "ops"}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201);
            0
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        let seq = t.await.unwrap();
        if seq > 0 {
            seqs.push(seq);
        }
    }
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 40, "every append got its own number");
    let summary = stores[0].verify_audit().await.unwrap().unwrap();
    // The bootstrap key + 1 migration.created + 40 appends + 10 key.created.
    assert_eq!(summary.records, 52);
    let global = all_pages(&app, "/v1/audit", &app.admin_key, 200).await;
    assert_eq!(global.len(), 52);
    let mut prevs: Vec<&str> = global
        .iter()
        .map(|r| r["prev_hash"].as_str().unwrap())
        .collect();
    prevs.sort_unstable();
    prevs.dedup();
    assert_eq!(prevs.len(), 52, "no two records share a predecessor");
    assert_eq!(
        global
            .iter()
            .filter(|r| r["actor"]["name"] == "concurrency-test")
            .count(),
        40
    );
    let (passed, out) = verify_with_binary(&app);
    assert!(passed, "{out}");
    assert!(out.contains("52 records"), "{out}");
    for s in &stores {
        s.close().await;
    }
    app.stop().await;
}
