//! The CSV import streamed against the database (issue 3, memory target):
//! the rules that need the whole file must hold across batches, and users
//! without a row keep their stored entry, which the rules still see.
//! On both run modes, with a roster larger than two import batches.

#![allow(clippy::unwrap_used)]

use ferry_tests::{Mode, TestApp, assert_problem, both_modes, spawn_app};
use serde_json::{Value, json};

both_modes!(
    rules_hold_across_batches_and_kept_entries_count,
    a_slow_upload_holds_no_lock,
);

/// Active users: the migrator `u000000` plus this many; then 5 inactive.
/// Several batches of `IMPORT_BATCH_ROWS` (10,000) and more than one roster
/// snapshot chunk (10,000 users; each batch spans two or three).
const USERS: usize = 60_000;

fn uid(i: usize) -> String {
    format!("u{i:06}")
}

fn roster() -> Value {
    let mut users = vec![json!({
        "user_id": uid(0), "full_name": "Mia Migrator", "emails": ["mia@partner.example"],
        "is_admin": true, "old_license": "Admin"
    })];
    for i in 1..=USERS + 5 {
        users.push(json!({
            "user_id": uid(i), "full_name": format!("Person {i}"),
            "emails": [format!("n{i:06}@acme.example")], "active": i <= USERS
        }));
    }
    json!({"users": users})
}

/// `line` with cell `col` (export order) set to `value`; the generated
/// cells hold no commas or quotes.
fn set(line: &str, col: usize, value: &str) -> String {
    let mut cells: Vec<&str> = line.split(',').collect();
    cells[col] = value;
    cells.join(",")
}

const NEW_LICENSE: usize = 7;
const USERNAME: usize = 9;

fn import_request(app: &TestApp, id: &str, body: String) -> reqwest::RequestBuilder {
    app.post(
        &format!("/v1/migrations/{id}/assignments.csv"),
        &app.admin_key,
    )
    .header("content-type", "text/csv")
    .body(body)
}

async fn import(app: &TestApp, id: &str, body: String) -> reqwest::Response {
    import_request(app, id, body).send().await.unwrap()
}

async fn import_if_match(app: &TestApp, id: &str, v: i64, body: String) -> reqwest::Response {
    import_request(app, id, body)
        .header("If-Match", format!("\"d{v}\""))
        .send()
        .await
        .unwrap()
}

/// The assignment CSV as exported.
async fn export(app: &TestApp, id: &str) -> String {
    let res = app
        .get(
            &format!("/v1/migrations/{id}/assignments.csv"),
            &app.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

async fn draft(app: &TestApp, id: &str) -> Value {
    app.get_json(&format!("/v1/migrations/{id}/draft")).await
}

/// Spreadsheet row (header = 1) and code of each violation.
fn found(p: &Value) -> Vec<(u64, String, String)> {
    p["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["row"].as_u64().unwrap_or(0),
                v["code"].as_str().unwrap().to_owned(),
                v["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn rules_hold_across_batches_and_kept_entries_count(mode: Mode) {
    let app = spawn_app(mode).await;
    let m = app.create_migration("bigco").await;
    let id = m["id"].as_str().unwrap();
    let res = app
        .put(&format!("/v1/migrations/{id}/roster"), &app.admin_key)
        .json(&roster())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let res = app
        .put(&format!("/v1/migrations/{id}/catalogue"), &app.admin_key)
        .json(&json!({"plans": [
            {"name": "Admin", "capacity": 1, "addons_allowed": true},
            {"name": "Engage", "capacity": USERS, "addons_allowed": true}], "addons": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let export = export(&app, id).await;
    let mut lines: Vec<String> = export.lines().map(str::to_owned).collect();
    let header = lines.remove(0);
    assert_eq!(lines.len(), USERS + 1, "inactive users are not exported");
    // Everybody gets Engage (the migrator Admin); `Username` stays empty,
    // so each gets their own first address.
    let filled: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| set(l, NEW_LICENSE, if i == 0 { "Admin" } else { "Engage" }))
        .collect();
    let file = |rows: &[String]| format!("{header}\r\n{}\r\n", rows.join("\r\n"));
    let version = draft(&app, id).await["version"].as_i64().unwrap();

    // A row repeated two batches later, and a user name taken twice across
    // batches: both found, with the rows a spreadsheet shows.
    let mut bad = filled.clone();
    bad.push(filled[1].clone());
    bad[5] = set(&bad[5], USERNAME, "n020000@acme.example");
    let p = assert_problem(import(&app, id, file(&bad)).await, 422, "invalid_csv").await;
    let f = found(&p);
    let dup_row = USERS as u64 + 3;
    assert!(
        f.iter().any(|(row, code, msg)| *row == dup_row
            && code == "duplicate_row"
            && msg.contains("already on row 3")),
        "{f:?}"
    );
    let names: Vec<u64> = f
        .iter()
        .filter(|(_, code, _)| code == "duplicate_username")
        .map(|(row, _, _)| *row)
        .collect();
    assert_eq!(names, [7, 20_002], "{f:?}");
    assert_eq!(f.len(), 3, "nothing else is wrong: {f:?}");
    let d = draft(&app, id).await;
    assert_eq!(d["version"].as_i64().unwrap(), version, "nothing applied");
    assert!(d["assignments"].as_object().unwrap().is_empty());

    // The valid file applies in full.
    let res = import(&app, id, file(&filled)).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let ok: Value = res.json().await.unwrap();
    assert_eq!(ok["rows"], USERS + 1);
    assert_eq!(ok["changed"], USERS + 1);
    assert_eq!(ok["draft_version"].as_i64().unwrap(), version + 1);
    let d = draft(&app, id).await;
    let entries = d["assignments"].as_object().unwrap();
    assert_eq!(entries.len(), USERS + 1);
    assert_eq!(entries[&uid(12_345)]["plan"], "Engage");
    assert_eq!(entries[&uid(12_345)]["username"], "n012345@acme.example");
    assert_eq!(entries[&uid(0)]["plan"], "Admin");
    // The same rows in another order (sorted by anything but the export's
    // order): every user is then looked up by id, with the same verdict.
    let mut reversed = filled.clone();
    reversed.reverse();
    let res = import(&app, id, file(&reversed)).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let ok: Value = res.json().await.unwrap();
    assert_eq!(ok["changed"], 0, "{ok}");
    let d = draft(&app, id).await;

    // An inactive user's entry is kept (no row covers it) and the rules see
    // it: capacity counts it, and its user name may not be taken again.
    let v = d["version"].as_i64().unwrap();
    let inactive = uid(USERS + 2);
    let res = app
        .client
        .patch(app.url(&format!("/v1/migrations/{id}/draft")))
        .bearer_auth(&app.admin_key)
        .header("If-Match", format!("\"d{v}\""))
        .json(&json!({"user_ids": [uid(1)], "set_plan": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let v = v + 1;
    let res = app
        .client
        .patch(app.url(&format!("/v1/migrations/{id}/draft")))
        .bearer_auth(&app.admin_key)
        .header("If-Match", format!("\"d{v}\""))
        .json(&json!({"user_ids": [inactive], "set_plan": "Engage"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let v = v + 1;
    let inactive_name = format!("n{:06}@acme.example", USERS + 2);
    let mut taken = filled.clone();
    taken[3] = set(&taken[3], USERNAME, &inactive_name.to_uppercase());
    let p = assert_problem(import(&app, id, file(&taken)).await, 422, "invalid_csv").await;
    let f = found(&p);
    let holders: Vec<&(u64, String, String)> = f
        .iter()
        .filter(|(_, code, _)| code == "duplicate_username")
        .collect();
    assert_eq!(holders.len(), 2, "{f:?}");
    assert_eq!(holders[0].0, 5, "the row first: {f:?}");
    assert!(holders[0].2.contains(&inactive), "{f:?}");
    assert_eq!(holders[1].0, 0, "then the kept entry, which has no row");
    // Everybody back on Engage plus the inactive user: one over capacity.
    assert!(
        f.iter().any(|(_, code, _)| code == "capacity_exceeded"),
        "{f:?}"
    );
    assert_eq!(draft(&app, id).await["version"].as_i64().unwrap(), v);

    // A file that changes three users writes three, and says so; the kept
    // inactive entry survives the import.
    let mut three = filled.clone();
    three[1] = lines[1].clone();
    for i in [10_001, 54_999] {
        three[i] = lines[i].clone();
    }
    let res = import_if_match(&app, id, v, file(&three)).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let ok: Value = res.json().await.unwrap();
    // u000001 had no licence already (the bulk edit): two changed.
    assert_eq!(ok["changed"], 2, "{ok}");
    let d = draft(&app, id).await;
    let entries = d["assignments"].as_object().unwrap();
    assert!(!entries.contains_key(&uid(10_001)));
    assert!(!entries.contains_key(&uid(54_999)));
    assert!(!entries.contains_key(&uid(1)));
    assert_eq!(entries[&inactive]["plan"], "Engage");
    assert_eq!(entries.len(), 1 + (USERS - 3) + 1);
    // A stale If-Match is refused before anything is read or written.
    let res = import_if_match(&app, id, v, file(&filled)).await;
    assert_problem(res, 412, "precondition_failed").await;
    assert_eq!(draft(&app, id).await["version"].as_i64().unwrap(), v + 1);
    app.stop().await;
}

/// The body is spooled before the import's transaction opens: a client
/// that takes its time sending the file must not hold the database (on
/// SQLite, its one write lock) meanwhile, or every other write would wait
/// for it and then fail.
async fn a_slow_upload_holds_no_lock(mode: Mode) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app(mode).await;
    let m = app.create_migration("slowco").await;
    let id = m["id"].as_str().unwrap().to_owned();
    app.prepare_draft(&id).await;
    let export = export(&app, &id).await;
    let body = export.into_bytes();
    let (first, rest) = body.split_at(body.len() / 2);
    let host = app.base.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "POST /v1/migrations/{id}/assignments.csv HTTP/1.1\r\nHost: {host}\r\n\
         Authorization: Bearer {}\r\nContent-Type: text/csv\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        app.admin_key,
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(first).await.unwrap();
    conn.flush().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    // Meanwhile another migration's draft is edited: at once.
    let other = app.create_migration("otherco").await;
    let started = std::time::Instant::now();
    app.prepare_draft(other["id"].as_str().unwrap()).await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "a write waited {:?} for the upload",
        started.elapsed()
    );

    conn.write_all(rest).await.unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    app.stop().await;
}
