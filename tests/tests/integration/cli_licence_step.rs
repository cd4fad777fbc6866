//! The licence step from the command line alone (issue 16, part 3):
//! `catalogue get|set`, `overview`, `users list` and `draft edit`, run as
//! the real binary against a real server, with the exit codes scripts use.

use ferry_tests::{Mode, migration_body, spawn_app};
use serde_json::json;

use crate::cli::{Cli, INVALID, OK, REFUSED, ROSTER_CSV, USAGE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_licence_step_without_http_calls() {
    let app = spawn_app(Mode::Embedded).await;
    let dir = tempfile::tempdir().unwrap();
    let sales = Cli::new(&app, app.key("sales", None).await, dir.path());
    let cli = Cli::new(&app, app.key("migrator", None).await, dir.path());
    let id = sales.create(&migration_body("acme")).await;
    std::fs::write(cli.path("roster.csv"), ROSTER_CSV).unwrap();
    cli.run(&["roster", "upload", &id, "roster.csv"])
        .await
        .expect(OK);

    // The catalogue: read, tightened from a file, refused when broken.
    let run = cli.run(&["catalogue", "get", &id]).await.expect(OK);
    assert!(run.stdout.contains("Engage"), "{run}");
    let catalogue = json!({
        "plans": [
            {"name": "Admin", "capacity": 1, "addons_allowed": true},
            {"name": "Engage", "capacity": 1, "addons_allowed": true},
            {"name": "Standard", "capacity": 5}
        ],
        "addons": [{"name": "Marketing", "capacity": 1}]
    });
    std::fs::write(cli.path("catalogue.json"), catalogue.to_string()).unwrap();
    cli.run(&["catalogue", "set", &id, "catalogue.json"])
        .await
        .expect(OK);
    let got = cli
        .run(&["--json", "catalogue", "get", &id])
        .await
        .expect(OK)
        .json();
    assert_eq!(got["plans"][1]["capacity"], 1, "{got}");
    std::fs::write(
        cli.path("bad.json"),
        json!({"plans": [{"name": "A,B", "capacity": 1}], "addons": []}).to_string(),
    )
    .unwrap();
    let run = cli
        .run(&["catalogue", "set", &id, "bad.json"])
        .await
        .expect(INVALID);
    assert!(run.stdout.contains("invalid_catalogue_name"), "{run}");

    // Bulk edits: plans for two users, then one over the contract.
    let run = cli
        .run(&["draft", "edit", &id, "--users", "u1", "--plan", "Admin"])
        .await
        .expect(OK);
    assert!(run.stdout.contains("draft edited: 1 user(s)"), "{run}");
    cli.run(&[
        "draft",
        "edit",
        &id,
        "--users",
        "u2",
        "--plan",
        "Engage",
        "--addons",
        "Marketing",
        "--username",
        "ann.lee@acme.example",
    ])
    .await
    .expect(OK);
    let run = cli
        .run(&["draft", "edit", &id, "--users", "u3", "--plan", "Engage"])
        .await
        .expect(INVALID);
    assert!(run.stdout.contains("capacity_exceeded"), "{run}");

    // A stale version is reported, not overwritten.
    let run = cli
        .run(&[
            "draft",
            "edit",
            &id,
            "--users",
            "u3",
            "--plan",
            "Standard",
            "--draft-version",
            "1",
        ])
        .await
        .expect(REFUSED);
    assert!(run.stderr.contains("changed since version 1"), "{run}");
    cli.run(&["draft", "edit", &id, "--users", "u3"])
        .await
        .expect(USAGE);

    // The overview counts the draft against the contract.
    let o = cli
        .run(&["--json", "overview", &id])
        .await
        .expect(OK)
        .json();
    let engage = o["plans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Engage")
        .unwrap();
    assert_eq!(
        (engage["assigned"].as_u64(), engage["remaining"].as_i64()),
        (Some(1), Some(0))
    );
    let run = cli.run(&["overview", &id]).await.expect(OK);
    assert!(
        run.stdout
            .contains("active users without a plan (they lose access): 1"),
        "{run}"
    );

    // The user list with its filters: every page, as text or JSON.
    let run = cli
        .run(&["users", "list", &id, "--plan", "Engage"])
        .await
        .expect(OK);
    assert!(
        run.stdout.contains("ann.lee@acme.example") && run.stdout.contains("1 user(s)"),
        "{run}"
    );
    let problems = cli
        .run(&["--json", "users", "list", &id, "--problems"])
        .await
        .expect(OK)
        .json();
    let ids: Vec<&str> = problems["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&"u1") && !ids.contains(&"u2"), "{problems}");
    let found = cli
        .run(&["--json", "users", "list", &id, "--q", "bob"])
        .await
        .expect(OK)
        .json();
    assert_eq!(found["items"][0]["user_id"], "u3", "{found}");

    // Taking a licence away clears its user name too.
    cli.run(&["draft", "edit", &id, "--users", "u2", "--no-plan"])
        .await
        .expect(OK);
    let d = app.get_json(&format!("/v1/migrations/{id}/draft")).await;
    assert!(d["assignments"]["u2"]["plan"].is_null(), "{d}");
    assert!(d["assignments"]["u2"]["username"].is_null(), "{d}");
    app.stop().await;
}
