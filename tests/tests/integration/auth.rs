//! Bearer keys and roles on every route: 401 without a valid key, 403 when the
//! role may not, tenant-limited keys see only their tenant. The full route ×
//! role matrix is in authz.rs.

#![allow(clippy::unwrap_used)]

use ferry_tests::{Mode, assert_problem, both_modes, migration_body, spawn_app};
use serde_json::{Value, json};

both_modes!(
    missing_and_bad_keys_are_401,
    tenant_limited_keys,
    revoked_keys_stop_working
);

async fn missing_and_bad_keys_are_401(mode: Mode) {
    let app = spawn_app(mode).await;
    let routes = [
        ("GET", "/v1/migrations".to_owned()),
        ("POST", "/v1/migrations".to_owned()),
        ("GET", format!("/v1/migrations/{}", uuid::Uuid::new_v4())),
        ("GET", format!("/v1/jobs/{}", uuid::Uuid::new_v4())),
        ("GET", "/v1/keys".to_owned()),
    ];
    for (method, path) in &routes {
        let req = app.client.request(method.parse().unwrap(), app.url(path));
        let res = req.send().await.unwrap();
        assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"ferry\"");
        assert_problem(res, 401, "unauthorized").await;
        let req = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .bearer_auth("fry_not_a_key");
        assert_problem(req.send().await.unwrap(), 401, "unauthorized").await;
        let req = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .header("authorization", "Basic YTpi");
        assert_problem(req.send().await.unwrap(), 401, "unauthorized").await;
    }
    app.stop().await;
}

async fn tenant_limited_keys(mode: Mode) {
    let app = spawn_app(mode).await;
    let acme = app.create_migration("acme").await;
    let globex = app.create_migration("globex").await;
    let acme_key = app.key("migrator", Some("acme")).await;
    let list: Value = app
        .get("/v1/migrations", &acme_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tenants: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["tenant"].as_str().unwrap())
        .collect();
    assert_eq!(tenants, vec!["acme"]);
    let asked_other: Value = app
        .get("/v1/migrations?tenant=globex", &acme_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(asked_other["items"].as_array().unwrap().len(), 0);
    let own = app
        .get(
            &format!("/v1/migrations/{}", acme["id"].as_str().unwrap()),
            &acme_key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200);
    let other_id = globex["id"].as_str().unwrap();
    let other = app
        .get(&format!("/v1/migrations/{other_id}"), &acme_key)
        .send()
        .await
        .unwrap();
    assert_problem(other, 404, "not_found").await;
    let touch = app
        .post(&format!("/v1/migrations/{other_id}/cancel"), &acme_key)
        .send()
        .await
        .unwrap();
    assert_problem(touch, 404, "not_found").await;
    let sales_acme = app.key("sales", Some("acme")).await;
    let res = app
        .post("/v1/migrations", &sales_acme)
        .json(&migration_body("initech"))
        .send()
        .await
        .unwrap();
    assert_problem(res, 403, "tenant_forbidden").await;
    app.stop().await;
}

async fn revoked_keys_stop_working(mode: Mode) {
    let app = spawn_app(mode).await;
    let res = app
        .post("/v1/keys", &app.admin_key)
        .json(&json!({"name": "temp", "role": "ops"}))
        .send()
        .await
        .unwrap();
    let created: Value = res.json().await.unwrap();
    let key = created["key"].as_str().unwrap();
    assert!(key.starts_with("fry_") && key.len() == 68);
    assert_eq!(
        app.get("/v1/migrations", key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let listed: Value = app
        .get("/v1/keys", &app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !listed.to_string().contains(key),
        "key listing never shows secrets"
    );
    let id = created["id"].as_str().unwrap();
    let res = app
        .client
        .delete(app.url(&format!("/v1/keys/{id}")))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_problem(
        app.get("/v1/migrations", key).send().await.unwrap(),
        401,
        "unauthorized",
    )
    .await;
    let again = app
        .client
        .delete(app.url(&format!("/v1/keys/{id}")))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_problem(again, 404, "not_found").await;
    let bad_role = app
        .post("/v1/keys", &app.admin_key)
        .json(&json!({"name": "x", "role": "root"}))
        .send()
        .await
        .unwrap();
    assert_problem(bad_role, 422, "validation_failed").await;
    app.stop().await;
}
