//! A key cannot revoke itself (found by Schemathesis, which revoked the admin
//! key it was testing with): 409 `own_key`; another admin key can.

#![allow(clippy::unwrap_used)]

use ferry_tests::{Mode, assert_problem, both_modes, spawn_app};
use serde_json::{Value, json};

both_modes!(a_key_cannot_revoke_itself);

async fn a_key_cannot_revoke_itself(mode: Mode) {
    let app = spawn_app(mode).await;
    let created: Value = app
        .post("/v1/keys", &app.admin_key)
        .json(&json!({"name": "second admin", "role": "admin"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (id, key) = (
        created["id"].as_str().unwrap(),
        created["key"].as_str().unwrap(),
    );
    let revoke = |with: &str| {
        app.client
            .delete(app.url(&format!("/v1/keys/{id}")))
            .bearer_auth(with)
            .send()
    };
    assert_problem(revoke(key).await.unwrap(), 409, "own_key").await;
    assert_eq!(
        app.get("/v1/keys", key).send().await.unwrap().status(),
        200,
        "the refused self-revocation left the key working"
    );
    assert_eq!(revoke(&app.admin_key).await.unwrap().status(), 204);
    assert_problem(
        app.get("/v1/keys", key).send().await.unwrap(),
        401,
        "unauthorized",
    )
    .await;
    app.stop().await;
}
