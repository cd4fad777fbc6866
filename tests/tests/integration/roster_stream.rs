//! The streamed roster upload (issue 16, part 4): users are checked one by
//! one and written a batch (10,000) at a time, and ids repeated across
//! batches are found by the table's key. A refused upload still names
//! every bad row, the first of two equal ids by its own row, and changes
//! nothing.

use ferry_tests::{Mode, TestApp, assert_problem, both_modes, spawn_app};
use serde_json::{Value, json};

use crate::licences::{put_roster, roster};

both_modes!(a_large_roster_streams_and_names_every_bad_row);

const USERS: usize = 25_000;

fn csv(rows: impl Iterator<Item = String>) -> String {
    let mut out = String::from("user_id,full_name,emails,active\n");
    for r in rows {
        out.push_str(&r);
        out.push('\n');
    }
    out
}

fn user_row(i: usize) -> String {
    let active = if i.is_multiple_of(3) { "no" } else { "yes" };
    format!("u{i},User {i},user{i}@acme.example,{active}")
}

async fn put_csv(app: &TestApp, id: &str, body: String) -> reqwest::Response {
    app.put(&format!("/v1/migrations/{id}/roster"), &app.admin_key)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .unwrap()
}

fn fields(p: &Value) -> Vec<(String, String, String)> {
    p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn a_large_roster_streams_and_names_every_bad_row(mode: Mode) {
    let app = spawn_app(mode).await;
    let m = app.create_migration("acme").await;
    let id = m["id"].as_str().unwrap();
    let res = put_roster(&app, id, &roster()).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let before = app.get_json(&format!("/v1/migrations/{id}/overview")).await;

    // Row 5 (position 3) has no name, so it is skipped and every later user
    // is stored one place earlier than its row says; position 20,000 (row
    // 20,002, the third batch) repeats the id of position 10 (row 12), and
    // position 24,000 repeats one of its own batch.
    let rows = (0..USERS).map(|i| match i {
        3 => "u3,,u3@acme.example,yes".to_owned(),
        20_000 => "u10,Again Ten,again@acme.example,yes".to_owned(),
        24_000 => "u23999,Again,again2@acme.example,yes".to_owned(),
        _ => user_row(i),
    });
    let p = assert_problem(put_csv(&app, id, csv(rows)).await, 422, "validation_failed").await;
    let f = fields(&p);
    assert_eq!(f.len(), 3, "{p}");
    assert_eq!(
        (f[0].0.as_str(), f[0].1.as_str()),
        ("row 5: full_name", "invalid_name")
    );
    assert_eq!(f[1].0, "row 20002: user_id");
    assert_eq!(f[1].1, "duplicate_user_id");
    assert!(f[1].2.contains("already appears at row 12"), "{p}");
    assert!(
        f[2].2
            .contains("user id 'u23999' already appears at row 24001"),
        "{p}"
    );
    // Nothing changed.
    let after = app.get_json(&format!("/v1/migrations/{id}/overview")).await;
    assert_eq!(after, before);
    let page = app
        .get_json(&format!("/v1/migrations/{id}/users?limit=10"))
        .await;
    assert_eq!(page["items"][0]["user_id"], "u1");

    // JSON names positions, and a repeated id anywhere in the list.
    let body = json!({"users": [
        {"user_id": "a", "full_name": "A", "emails": []},
        {"user_id": "b", "full_name": "", "emails": []},
        {"user_id": "a", "full_name": "A again", "emails": []}
    ]});
    let p = assert_problem(put_roster(&app, id, &body).await, 422, "validation_failed").await;
    let f = fields(&p);
    assert_eq!(f.len(), 2, "{p}");
    assert_eq!(f[0].0, "users[1].full_name");
    assert_eq!(f[1].0, "users[2].user_id");
    assert!(f[1].2.contains("already appears at users[0]"), "{p}");

    // The whole file, fixed: every user in upload order, counted.
    let res = put_csv(&app, id, csv((0..USERS).map(user_row))).await;
    assert_eq!(res.status(), 200);
    let summary: Value = res.json().await.unwrap();
    let active = (0..USERS).filter(|i| !i.is_multiple_of(3)).count();
    assert_eq!(summary["users"], USERS);
    assert_eq!(summary["active_users"], active);
    assert_eq!(
        summary["satellites"], 1,
        "a CSV upload keeps the satellites"
    );
    let o = app.get_json(&format!("/v1/migrations/{id}/overview")).await;
    assert_eq!(o["active_without_plan"], active);
    let page = app
        .get_json(&format!("/v1/migrations/{id}/users?cursor=19999&limit=2"))
        .await;
    assert_eq!(page["items"][0]["user_id"], "u19999");
    assert_eq!(page["items"][1]["user_id"], "u20000");
    app.stop().await;
}
