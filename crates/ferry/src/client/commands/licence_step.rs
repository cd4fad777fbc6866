//! The licence step without a spreadsheet (issue 16, part 3): the
//! catalogue, the overview, the user list and the bulk edit of the draft,
//! so a migrator can do the whole step from the command line.

use std::path::Path;

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::migration_path;
use crate::client::args::DraftEdit;
use crate::client::exit::{Exit, Failure, Outcome};
use crate::client::http::{Api, CallError, Problem};
use crate::client::output::{Out, render, step};
use crate::client::upload_body::with_file;

pub async fn catalogue_get(api: &Api, out: Out, id: &str) -> Outcome {
    let c = api.get_json(&migration_path(id, "/catalogue")).await?;
    out.result(&c, || step::catalogue(&c));
    Ok(Exit::Ok)
}

pub async fn catalogue_set(api: &Api, out: Out, id: &str, file: &Path) -> Outcome {
    let req = with_file(
        api.put(&migration_path(id, "/catalogue")),
        file,
        "application/json",
    )
    .await?;
    match api.call(req, false).await {
        Ok(reply) => {
            let c = reply.json()?;
            out.result(&c, || format!("catalogue stored\n{}", step::catalogue(&c)));
            Ok(Exit::Ok)
        }
        Err(CallError::Problem(p)) => listed(out, p),
        Err(CallError::Failure(f)) => Err(f),
    }
}

pub async fn overview(api: &Api, out: Out, id: &str) -> Outcome {
    let o = api.get_json(&migration_path(id, "/overview")).await?;
    out.result(&o, || step::overview(&o));
    Ok(Exit::Ok)
}

/// Every page of `GET …/users` with the filters given.
pub async fn users(
    api: &Api,
    out: Out,
    id: &str,
    q: Option<String>,
    plan: Option<String>,
    problems: bool,
) -> Outcome {
    let query = [
        ("limit", Some("200".to_owned())),
        ("q", q),
        ("plan", plan),
        ("has_problems", problems.then(|| "true".to_owned())),
    ];
    let items = api.all_pages(&migration_path(id, "/users"), &query).await?;
    let all = json!({ "items": items });
    out.result(&all, || step::users(&all));
    Ok(Exit::Ok)
}

/// The bulk edit: one `PATCH …/draft` with `If-Match`.
pub async fn draft_edit(api: &Api, out: Out, edit: &DraftEdit) -> Outcome {
    let body = edit_body(edit)?;
    let version = match edit.draft_version {
        Some(v) => v,
        None => {
            let draft = api.get_json(&migration_path(&edit.id, "/draft")).await?;
            draft["version"]
                .as_i64()
                .ok_or_else(|| Failure::new(Exit::Refused, "the server's draft has no version"))?
        }
    };
    let req = api
        .request(Method::PATCH, &migration_path(&edit.id, "/draft"))
        .header("If-Match", format!("\"d{version}\""))
        .json(&body);
    match api.call(req, false).await {
        Ok(reply) => {
            let d = reply.json()?;
            out.result(&d, || {
                format!(
                    "draft edited: {} user(s); draft version {}",
                    edit.users.len(),
                    render::s(&d["version"])
                )
            });
            Ok(Exit::Ok)
        }
        Err(CallError::Problem(p)) if p.code() == "precondition_failed" => Err(Failure::new(
            Exit::Refused,
            format!(
                "the draft changed since version {version} (a colleague's edit?): \
                 nothing was changed; look at it again and repeat the edit"
            ),
        )),
        Err(CallError::Problem(p)) => listed(out, p),
        Err(CallError::Failure(f)) => Err(f),
    }
}

/// The request body: only what the flags name is sent, so what is left out
/// stays as it is.
fn edit_body(edit: &DraftEdit) -> Result<Value, Failure> {
    let mut body = Map::new();
    body.insert("user_ids".into(), json!(edit.users));
    if let Some(plan) = &edit.plan {
        body.insert("set_plan".into(), json!(plan));
    } else if edit.no_plan {
        body.insert("set_plan".into(), Value::Null);
    }
    if let Some(addons) = &edit.addons {
        let names: Vec<&str> = addons
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .collect();
        body.insert("set_addons".into(), json!(names));
    }
    if let Some(name) = &edit.username {
        body.insert("set_username".into(), json!(name));
    } else if edit.no_username {
        body.insert("set_username".into(), Value::Null);
    }
    if body.len() == 1 {
        return Err(Failure::usage(
            "nothing to change: give --plan/--no-plan, --addons and/or --username/--no-username",
        ));
    }
    Ok(Value::Object(body))
}

/// A refusal with its list (rule violations, field errors) printed as a
/// table: exit 5; anything else is a plain failure.
fn listed(out: Out, p: Problem) -> Outcome {
    let body = &p.body;
    let table = match p.code() {
        "invalid_assignment" => {
            render::violations(body["violations"].as_array().map_or(&[][..], Vec::as_slice))
        }
        "validation_failed" => {
            render::field_errors(body["errors"].as_array().map_or(&[][..], Vec::as_slice))
        }
        _ => return Err(p.into()),
    };
    out.result(body, || {
        format!("{}\n{table}", body["detail"].as_str().unwrap_or("refused"))
    });
    Ok(Exit::Invalid)
}
