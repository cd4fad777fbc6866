//! The licence rules as the source products state them (issue 16, part 2),
//! each through the API on both run modes: cards without a usable address,
//! user names as logins, text that displays as another, control characters
//! in uploaded CSV files, and satellites from CSV.

use ferry_tests::{Mode, TestApp, assert_problem, both_modes, spawn_app};
use serde_json::{Value, json};

use crate::licences::{draft_version, edit, export, import, put_roster, roster, set_cells};

both_modes!(
    cards_without_a_usable_address_load_and_are_named,
    user_names_are_logins_everywhere,
    text_that_displays_as_another_is_refused,
    control_characters_in_an_uploaded_csv_are_refused,
    satellites_load_from_a_second_csv,
);

/// The fixture roster plus Eve (no address) and Fay (only addresses no
/// login takes).
fn roster_with_unusable_cards() -> Value {
    let mut r = roster();
    let users = r["users"].as_array_mut().unwrap();
    users.push(json!({"user_id": "u5", "full_name": "Eve Empty", "emails": []}));
    users.push(json!({"user_id": "u6", "full_name": "Fay Odd",
        "emails": ["Fay (home)", "\"fay\"@acme.example"]}));
    r
}

fn codes(problem: &Value, list: &str) -> Vec<String> {
    problem[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["code"].as_str().unwrap().to_owned())
        .collect()
}

async fn licensed_users_check(app: &TestApp, id: &str) -> Value {
    let report = app
        .get_json(&format!("/v1/migrations/{id}/preflight"))
        .await;
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "licensed_users_have_usernames")
        .unwrap()
        .clone()
}

async fn cards_without_a_usable_address_load_and_are_named(mode: Mode) {
    let app = spawn_app(mode).await;
    let m = app.create_migration("acme").await;
    let id = m["id"].as_str().unwrap();
    let res = put_roster(&app, id, &roster_with_unusable_cards()).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    // The user list shows what the card holds and names the problem.
    let page = app
        .get_json(&format!("/v1/migrations/{id}/users?q=fay"))
        .await;
    let fay = &page["items"][0];
    assert_eq!(fay["emails"], json!([]));
    assert_eq!(
        fay["unusable_emails"],
        json!(["Fay (home)", "\"fay\"@acme.example"])
    );
    assert!(
        fay["problems"]
            .as_array()
            .unwrap()
            .contains(&json!("no_usable_email")),
        "{fay}"
    );

    // Pre-flight names both users while they have no user name.
    let check = licensed_users_check(&app, id).await;
    let offenders = check["offenders"].to_string();
    assert!(
        offenders.contains("u5: the card has no address"),
        "{offenders}"
    );
    assert!(
        offenders.contains("u6: the card has only unusable addresses (Fay (home)"),
        "{offenders}"
    );

    // A plan alone is refused: there is no address to default to.
    let v = draft_version(&app, id).await;
    let p = assert_problem(
        edit(
            &app,
            id,
            v,
            json!({"user_ids": ["u5"], "set_plan": "Standard"}),
        )
        .await,
        422,
        "invalid_assignment",
    )
    .await;
    assert_eq!(codes(&p, "violations"), ["username_required"], "{p}");
    assert_eq!(draft_version(&app, id).await, v, "nothing saved");
    // With a written address it is taken, and pre-flight stops naming Eve.
    let body =
        json!({"user_ids": ["u5"], "set_plan": "Standard", "set_username": "eve@acme.example"});
    let res = edit(&app, id, v, body).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let offenders = licensed_users_check(&app, id).await["offenders"].to_string();
    assert!(!offenders.contains("u5:"), "{offenders}");

    // The export keeps the card's addresses as written, and takes itself
    // back (the migrator, u1, keeps a licence, as every import requires).
    let v = draft_version(&app, id).await;
    let res = edit(
        &app,
        id,
        v,
        json!({"user_ids": ["u1"], "set_plan": "Admin"}),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let csv = export(&app, id).await;
    assert!(
        csv.contains("\"Fay (home), \"\"fay\"\"@acme.example\""),
        "{csv}"
    );
    let res = import(&app, id, csv).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    app.stop().await;
}

async fn user_names_are_logins_everywhere(mode: Mode) {
    let app = spawn_app(mode).await;
    let m = app.create_migration("acme").await;
    let id = m["id"].as_str().unwrap();
    put_roster(&app, id, &roster()).await;
    let refused = [
        "\"ann\"@acme.example",
        "ann(sales)@acme.example",
        "ann,lee@acme.example",
        "ann..lee@acme.example",
        ".ann@acme.example",
        "ann\u{200B}@acme.example",
    ];
    // The bulk edit.
    for name in refused {
        let v = draft_version(&app, id).await;
        let body = json!({"user_ids": ["u1"], "set_plan": "Admin", "set_username": name});
        let res = edit(&app, id, v, body).await;
        assert_eq!(res.status(), 422, "{name}");
        let p: Value = res.json().await.unwrap();
        assert!(p.to_string().contains("invalid_"), "{name}: {p}");
        assert_eq!(draft_version(&app, id).await, v, "{name}: nothing saved");
    }
    // The CSV import names the row.
    let csv = export(&app, id).await;
    let lines: Vec<&str> = csv.lines().collect();
    let at = lines.iter().position(|l| l.starts_with("u1,")).unwrap();
    for name in refused {
        let mut rows: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
        rows[at] = set_cells(
            lines[0],
            lines[at],
            &[("New License", "Admin"), ("Username", name)],
        );
        let p = assert_problem(import(&app, id, rows.join("\n")).await, 422, "invalid_csv").await;
        assert_eq!(codes(&p, "violations"), ["invalid_username"], "{name}: {p}");
        assert_eq!(p["violations"][0]["row"], json!(at + 1), "{p}");
    }
    // What mail systems take is taken.
    let v = draft_version(&app, id).await;
    let body =
        json!({"user_ids": ["u1"], "set_plan": "Admin", "set_username": "o'neil+crm@acme.example"});
    let res = edit(&app, id, v, body).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    app.stop().await;
}

async fn text_that_displays_as_another_is_refused(mode: Mode) {
    let app = spawn_app(mode).await;
    let m = app.create_migration("acme").await;
    let id = m["id"].as_str().unwrap();
    // A plan name with a right-to-left override.
    let catalogue = json!({
        "plans": [{"name": "Admin", "capacity": 5, "addons_allowed": true},
                  {"name": "Basic\u{202E}cisaB", "capacity": 5}],
        "addons": []
    });
    let res = app
        .put(&format!("/v1/migrations/{id}/catalogue"), &app.admin_key)
        .json(&catalogue)
        .send()
        .await
        .unwrap();
    let p = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(codes(&p, "errors"), ["invalid_catalogue_name"], "{p}");
    assert!(p.to_string().contains("U+202E"), "{p}");
    // Manifest paths with an override or an invisible space, row by row.
    let manifest =
        "document_id,path,size\nd1,fine.pdf,1\nd2,invoice\u{202E}fdp.exe,1\nd3,a/\u{200B}b.txt,1\n";
    let res = app
        .put(&format!("/v1/migrations/{id}/manifest"), &app.admin_key)
        .header("content-type", "text/csv")
        .body(manifest)
        .send()
        .await
        .unwrap();
    let p = assert_problem(res, 422, "validation_failed").await;
    let fields: Vec<(String, String)> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().into(),
                e["code"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        fields,
        [
            ("line 3: path".to_owned(), "path_format_control".to_owned()),
            ("line 4: path".to_owned(), "path_format_control".to_owned())
        ],
        "{p}"
    );
    let docs = app
        .get_json(&format!("/v1/migrations/{id}/documents"))
        .await;
    assert_eq!(docs["items"], json!([]), "nothing stored");
    app.stop().await;
}

async fn control_characters_in_an_uploaded_csv_are_refused(mode: Mode) {
    let app = spawn_app(mode).await;
    let m = app.create_migration("acme").await;
    let id = m["id"].as_str().unwrap();
    put_roster(&app, id, &roster()).await;
    let v = draft_version(&app, id).await;
    let csv = export(&app, id).await;
    let lines: Vec<&str> = csv.lines().collect();
    // A tab in a cell the export wrote, and one in a header name.
    let mut tabbed: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    tabbed[2] = set_cells(lines[0], lines[2], &[("New Add-ons", "Marketing\t")]);
    let p = assert_problem(
        import(&app, id, tabbed.join("\n")).await,
        422,
        "invalid_csv",
    )
    .await;
    let text = p.to_string();
    assert!(
        text.contains("row 3") && text.contains("New Add-ons") && text.contains("U+0009"),
        "{p}"
    );
    let header = lines[0].replacen("Group", "Group\u{7}", 1);
    let mut belled: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    belled[0] = header;
    let p = assert_problem(
        import(&app, id, belled.join("\n")).await,
        422,
        "invalid_csv",
    )
    .await;
    assert!(p.to_string().contains("header"), "{p}");
    // A roster CSV with an escape sequence in a name.
    let res = app
        .put(&format!("/v1/migrations/{id}/roster"), &app.admin_key)
        .header("content-type", "text/csv")
        .body("user_id,full_name,emails\nu1,Mia \u{1b}[31mMigrator,mia@partner.example\n")
        .send()
        .await
        .unwrap();
    let p = assert_problem(res, 422, "validation_failed").await;
    assert!(p.to_string().contains("row 2"), "{p}");
    assert_eq!(draft_version(&app, id).await, v, "nothing changed");
    let users = app.get_json(&format!("/v1/migrations/{id}/users")).await;
    assert_eq!(users["items"].as_array().unwrap().len(), 4);
    app.stop().await;
}

async fn satellites_load_from_a_second_csv(mode: Mode) {
    let app = spawn_app(mode).await;
    let m = app.create_migration("acme").await;
    let id = m["id"].as_str().unwrap();
    let users_csv = "user_id,full_name,emails,is_admin\nu1,Mia Migrator,mia@partner.example,yes\n";
    let res = app
        .put(&format!("/v1/migrations/{id}/roster"), &app.admin_key)
        .header("content-type", "text/csv")
        .body(users_csv)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let v = draft_version(&app, id).await;
    let put_sats = |body: &'static str| {
        app.put(
            &format!("/v1/migrations/{id}/roster/satellites"),
            &app.admin_key,
        )
        .header("content-type", "text/csv")
        .body(body)
        .send()
    };
    // A bad file names its rows and changes nothing.
    let p = assert_problem(
        put_sats("Name;Active\nHamburg;no\nhamburg;yes\nMunich;perhaps\n")
            .await
            .unwrap(),
        422,
        "validation_failed",
    )
    .await;
    let text = p.to_string();
    assert!(
        text.contains("row 4")
            && text.contains("invalid_boolean")
            && !text.contains("duplicate_satellite"),
        "{p}"
    );
    let res = put_sats("Name;Active\nHamburg;no\nMunich;\n")
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let summary: Value = res.json().await.unwrap();
    assert_eq!(
        (summary["users"].as_u64(), summary["satellites"].as_u64()),
        (Some(1), Some(2))
    );
    // Munich still syncs (active by default): pre-flight names it.
    let report = app
        .get_json(&format!("/v1/migrations/{id}/preflight"))
        .await;
    let sats = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "no_active_satellites")
        .unwrap();
    assert_eq!(sats["status"], "fail", "{sats}");
    assert_eq!(sats["offenders"], json!(["Munich"]), "{sats}");
    // The users and their draft stayed.
    let users = app.get_json(&format!("/v1/migrations/{id}/users")).await;
    assert_eq!(users["items"][0]["user_id"], "u1");
    assert!(draft_version(&app, id).await > v);
    app.stop().await;
}
