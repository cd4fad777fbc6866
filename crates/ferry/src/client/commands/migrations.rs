//! `ferry migrations create|list|show`.

use std::io::Read;

use serde_json::{Value, json};

use super::{idempotency_key, migration_path};
use crate::client::args::Create;
use crate::client::exit::{Exit, Failure, Outcome};
use crate::client::http::{Api, CallError};
use crate::client::output::{Out, render};

fn read_body(from: &std::path::Path) -> Result<Value, Failure> {
    let mut text = String::new();
    let read = if from.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(from).map(|t| text = t)
    };
    read.map_err(|e| Failure::usage(format!("cannot read {}: {e}", from.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| Failure::usage(format!("{} is not JSON: {e}", from.display())))
}

/// Sets `body[path…] = value` when the flag was given.
fn set(body: &mut Value, path: &[&str], value: Option<String>) {
    let Some(value) = value else { return };
    let mut at = body;
    for key in &path[..path.len() - 1] {
        if !at[*key].is_object() {
            at[*key] = json!({});
        }
        at = &mut at[*key];
    }
    at[path[path.len() - 1]] = Value::String(value);
}

pub async fn create(api: &Api, out: Out, a: Create) -> Outcome {
    let mut body = match &a.from {
        Some(path) => read_body(path)?,
        None => json!({}),
    };
    if !body.is_object() {
        return Err(Failure::usage("the migration file must hold a JSON object"));
    }
    set(&mut body, &["tenant"], a.tenant);
    set(&mut body, &["customer_name"], a.customer_name);
    set(&mut body, &["source", "version"], a.source_version);
    set(&mut body, &["source", "database_url"], a.database_url);
    set(&mut body, &["source", "archive_url"], a.archive_url);
    set(&mut body, &["requested_by", "name"], a.requested_by_name);
    set(&mut body, &["requested_by", "email"], a.requested_by_email);
    set(&mut body, &["migrator", "name"], a.migrator_name);
    set(&mut body, &["migrator", "email"], a.migrator_email);
    set(&mut body, &["migrator", "phone"], a.migrator_phone);
    let req = api
        .post("/v1/migrations")
        .header("Idempotency-Key", idempotency_key(&a.idempotency_key))
        .json(&body);
    match api.call(req, true).await {
        Ok(reply) => {
            let m = reply.json()?;
            let replayed = reply.headers.contains_key("idempotent-replayed");
            out.result(&m, || {
                let mut text = render::migration(&m);
                if replayed {
                    text.push_str("(already created with this Idempotency-Key)\n");
                }
                text
            });
            Ok(Exit::Ok)
        }
        Err(CallError::Problem(p)) if p.code() == "validation_failed" => {
            let errors = p.body["errors"].as_array().cloned().unwrap_or_default();
            out.result(&p.body, || {
                format!(
                    "the migration was refused:\n{}",
                    render::field_errors(&errors)
                )
            });
            Ok(Exit::Invalid)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn list(api: &Api, out: Out, state: Option<String>, tenant: Option<String>) -> Outcome {
    let items = api
        .all_pages("/v1/migrations", &[("state", state), ("tenant", tenant)])
        .await?;
    let all = json!({ "items": items });
    out.result(&all, || render::migration_list(&all));
    Ok(Exit::Ok)
}

pub async fn show(api: &Api, out: Out, id: &str) -> Outcome {
    let m = api.get_json(&migration_path(id, "")).await?;
    out.result(&m, || render::migration(&m));
    Ok(Exit::Ok)
}
