//! The overview answers from stored counts (issue 16, part 4): after every
//! kind of change to the roster, the draft and the catalogue, it must read
//! exactly what the domain's `overview` computes from the whole roster and
//! draft as the API lists them.

use ferry_domain::licensing::{
    Assignment, Assignments, Catalogue, CatalogueInput, Roster, RosterUserInput, overview,
};
use ferry_tests::{Mode, TestApp, both_modes, spawn_app};
use serde_json::{Value, json};

use crate::licences::{draft_version, edit, export, import, put_roster, roster, set_cells};

both_modes!(the_overview_counts_follow_every_change);

/// The overview the domain computes from the roster, draft and catalogue
/// as read through the API.
async fn recomputed(app: &TestApp, id: &str) -> Value {
    let mut users = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/migrations/{id}/users?limit=200");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = app.get_json(&path).await;
        for u in page["items"].as_array().unwrap() {
            let texts = |v: &Value| -> Vec<String> {
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap().to_owned())
                    .collect()
            };
            let mut emails = texts(&u["emails"]);
            emails.extend(texts(&u["unusable_emails"]));
            users.push(RosterUserInput {
                user_id: u["user_id"].as_str().unwrap().to_owned(),
                full_name: u["full_name"].as_str().unwrap().to_owned(),
                emails,
                group: u["group"].as_str().unwrap().to_owned(),
                position: u["position"].as_str().unwrap().to_owned(),
                is_admin: u["is_admin"].as_bool().unwrap(),
                old_license: u["old_license"].as_str().map(str::to_owned),
                old_addons: texts(&u["old_addons"]),
                on_travel: u["on_travel"].as_bool().unwrap(),
                active: u["active"].as_bool().unwrap(),
                source_row: None,
            });
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let roster = Roster::from_inputs(&users, &[]).unwrap();
    let draft = app.get_json(&format!("/v1/migrations/{id}/draft")).await;
    let assignments: Assignments = draft["assignments"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                serde_json::from_value::<Assignment>(v.clone()).unwrap(),
            )
        })
        .collect();
    let input: CatalogueInput = serde_json::from_value(
        app.get_json(&format!("/v1/migrations/{id}/catalogue"))
            .await,
    )
    .unwrap();
    let catalogue = Catalogue::parse(&input).unwrap();
    serde_json::to_value(overview(&roster, &catalogue, &assignments)).unwrap()
}

async fn same(app: &TestApp, id: &str, after: &str) {
    let stored = app.get_json(&format!("/v1/migrations/{id}/overview")).await;
    assert_eq!(stored, recomputed(app, id).await, "after {after}");
}

async fn ok(res: reqwest::Response) {
    let status = res.status();
    assert!(
        status.is_success(),
        "{status}: {}",
        res.text().await.unwrap()
    );
}

async fn the_overview_counts_follow_every_change(mode: Mode) {
    let app = spawn_app(mode).await;
    let m = app.create_migration("acme").await;
    let id = m["id"].as_str().unwrap();
    let mut r = roster();
    r["users"][1]["old_addons"] = json!(["Fax", "marketing", "Marketing"]);
    r["users"][2]["old_license"] = json!("Legacy Pro");
    ok(put_roster(&app, id, &r).await).await;
    same(&app, id, "the roster").await;

    let v = draft_version(&app, id).await;
    let body = json!({"user_ids": ["u1", "u2"], "set_plan": "Engage", "set_addons": ["Marketing"]});
    ok(edit(&app, id, v, body).await).await;
    let v = draft_version(&app, id).await;
    ok(edit(
        &app,
        id,
        v,
        json!({"user_ids": ["u3"], "set_plan": "standard"}),
    )
    .await)
    .await;
    same(&app, id, "bulk edits").await;

    // More edits than a fold takes (64 draft versions): the signed rows are
    // folded on the way and still add up.
    for i in 0..70 {
        let v = draft_version(&app, id).await;
        let plan = if i % 2 == 0 {
            json!("Admin")
        } else {
            json!(null)
        };
        ok(edit(&app, id, v, json!({"user_ids": ["u2"], "set_plan": plan})).await).await;
    }
    same(&app, id, "70 edits").await;

    // A CSV import that changes one row.
    let csv = export(&app, id).await;
    let mut lines: Vec<String> = csv.lines().map(str::to_owned).collect();
    let row = lines
        .iter()
        .position(|l| l.contains("bob@acme.example"))
        .unwrap();
    lines[row] = set_cells(&lines[0], &lines[row], &[("New License", "Basic")]);
    ok(import(&app, id, lines.join("\n") + "\n").await).await;
    same(&app, id, "an import").await;

    // A new roster: u3 turns inactive, u2 leaves, u7 arrives.
    let mut r2 = roster();
    r2["users"][2]["active"] = json!(false);
    let users = r2["users"].as_array_mut().unwrap();
    users.remove(1);
    users.push(
        json!({"user_id": "u7", "full_name": "New Comer", "emails": ["new@acme.example"],
        "old_license": "engage", "old_addons": ["Analytics"]}),
    );
    ok(put_roster(&app, id, &r2).await).await;
    same(&app, id, "a new roster").await;

    // A catalogue that renames nothing but drops a plan and an add-on.
    let res = app
        .put(&format!("/v1/migrations/{id}/catalogue"), &app.admin_key)
        .json(
            &json!({"plans": [{"name": "Admin", "capacity": 5, "addons_allowed": true},
            {"name": "Engage", "capacity": 10, "addons_allowed": true},
            {"name": "Standard", "capacity": 100, "addons_allowed": false},
            {"name": "Basic", "capacity": 100, "addons_allowed": false}],
            "addons": [{"name": "Marketing", "capacity": 20}]}),
        )
        .send()
        .await
        .unwrap();
    ok(res).await;
    same(&app, id, "a new catalogue").await;
    app.stop().await;
}
