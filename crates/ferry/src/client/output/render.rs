//! Human renderings of the API's documents. They read the JSON loosely
//! (missing fields print as empty) so a newer server with more fields, or an
//! older one with fewer, still prints.

use indicatif::{HumanBytes, HumanDuration};
use serde_json::Value;
use std::time::Duration;

use super::table::Table;

pub fn s(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(s).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

fn bytes(v: &Value) -> String {
    HumanBytes(v.as_u64().unwrap_or(0)).to_string()
}

pub fn migration(m: &Value) -> String {
    let mut out = format!(
        "migration {}\n  tenant     {} ({})\n  state      {}{}\n  source     {} — {}, {}\n  migrator   {} <{}>\n  version    {}\n",
        s(&m["id"]),
        s(&m["tenant"]),
        s(&m["customer_name"]),
        s(&m["state"]),
        if m["frozen"] == true {
            " (source frozen)"
        } else {
            ""
        },
        s(&m["source"]["version"]),
        s(&m["source"]["database_url"]),
        s(&m["source"]["archive_url"]),
        s(&m["migrator"]["name"]),
        s(&m["migrator"]["email"]),
        s(&m["version"]),
    );
    if let Some(job) = m.get("latest_job").filter(|j| j.is_object()) {
        out.push_str(&format!("  latest job {}\n", job_line(job)));
    }
    if let Some(e) = m.get("upload_estimate").filter(|e| e.is_object()) {
        out.push_str(&format!(
            "  next start {} documents, {}, about {} ({} throughput)\n",
            s(&e["documents_total"]),
            bytes(&e["bytes_total"]),
            HumanDuration(Duration::from_secs(e["seconds"].as_u64().unwrap_or(0))),
            s(&e["basis"]),
        ));
    }
    out
}

pub fn migration_list(page: &Value) -> String {
    let mut t = Table::new(&["id", "tenant", "state", "customer", "updated"]);
    for m in page["items"].as_array().into_iter().flatten() {
        t.row(vec![
            s(&m["id"]),
            s(&m["tenant"]),
            s(&m["state"]),
            s(&m["customer_name"]),
            s(&m["updated_at"]),
        ]);
    }
    if t.is_empty() {
        "no migrations\n".to_owned()
    } else {
        t.render()
    }
}

/// One line: kind, id, state and the counters that matter.
pub fn job_line(j: &Value) -> String {
    let p = &j["progress"];
    let mut line = format!(
        "{} {} {}: {} uploaded, {} missing, {} failed of {} documents; {} of {}",
        s(&j["kind"]),
        s(&j["id"]),
        s(&j["state"]),
        s(&p["documents_uploaded"]),
        s(&p["documents_missing"]),
        s(&p["documents_failed"]),
        s(&p["documents_total"]),
        bytes(&p["bytes_done"]),
        bytes(&p["bytes_total"]),
    );
    if let Some(t) = p["throughput_bytes_per_sec"].as_u64() {
        line.push_str(&format!(", {}/s", HumanBytes(t)));
    }
    if let Some(eta) = p["eta_seconds"].as_u64() {
        line.push_str(&format!(
            ", ETA {}",
            HumanDuration(Duration::from_secs(eta))
        ));
    }
    if let Some(e) = j["last_error"].as_str() {
        line.push_str(&format!("\n  last error: {e}"));
    }
    line
}

pub fn preflight(report: &Value) -> String {
    let mut t = Table::new(&["check", "status", "message"]);
    let mut offenders = String::new();
    for c in report["checks"].as_array().into_iter().flatten() {
        t.row(vec![s(&c["id"]), s(&c["status"]), s(&c["message"])]);
        for o in c["offenders"].as_array().into_iter().flatten() {
            offenders.push_str(&format!("  {}: {}\n", s(&c["id"]), s(o)));
        }
    }
    let mut out = t.render();
    if !offenders.is_empty() {
        out.push_str("\nconcerned:\n");
        out.push_str(&offenders);
    }
    out.push_str(if report["passed"] == true {
        "\npre-flight passes\n"
    } else {
        "\npre-flight FAILS: fix the failing checks, then run it again\n"
    });
    out
}

fn assignment(a: &Value) -> String {
    match a["plan"].as_str() {
        None => "no licence".to_owned(),
        Some(plan) => {
            let mut out = plan.to_owned();
            let addons = s(&a["addons"]);
            if !addons.is_empty() {
                out.push_str(&format!(" + {addons}"));
            }
            if let Some(u) = a["username"].as_str() {
                out.push_str(&format!(" as {u}"));
            }
            out
        }
    }
}

pub fn review(r: &Value) -> String {
    let changes = r["changes"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let mut out = String::new();
    if changes.is_empty() {
        out.push_str("the draft changes no assignment\n");
    } else {
        let mut t = Table::new(&["user", "name", "before", "after"]);
        for c in changes {
            t.row(vec![
                s(&c["user_id"]),
                s(&c["name"]),
                assignment(&c["before"]),
                assignment(&c["after"]),
            ]);
        }
        out.push_str(&format!("{} change(s):\n", changes.len()));
        out.push_str(&t.render());
    }
    let lost = r["no_licence"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if !lost.is_empty() {
        // The spec asks that these stand out: they cannot log in afterwards.
        let mut t = Table::new(&["user", "name", "current licence"]);
        for u in lost {
            t.row(vec![s(&u["user_id"]), s(&u["name"]), s(&u["old_license"])]);
        }
        out.push_str(&format!(
            "\nWARNING: {} active user(s) get NO LICENCE and lose access:\n",
            lost.len()
        ));
        out.push_str(&t.render());
    }
    let removals = r["address_removals"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if !removals.is_empty() {
        let mut t = Table::new(&["address", "removed from", "taken by"]);
        for a in removals {
            t.row(vec![
                s(&a["address"]),
                s(&a["from_user_id"]),
                s(&a["for_user_id"]),
            ]);
        }
        out.push_str("\naddresses removed from other cards at migration:\n");
        out.push_str(&t.render());
    }
    out
}

/// The rule violations of a refused CSV import or bulk edit.
pub fn violations(list: &[Value]) -> String {
    let mut t = Table::new(&["row", "column", "value", "code", "message"]);
    for v in list {
        t.row(vec![
            s(&v["row"]),
            s(&v["column"]),
            s(&v["value"]),
            s(&v["code"]),
            s(&v["message"]),
        ]);
    }
    t.render()
}

/// The field errors of a `validation_failed` problem (roster, manifest,
/// migration body).
pub fn field_errors(list: &[Value]) -> String {
    let mut t = Table::new(&["where", "code", "message"]);
    for e in list {
        t.row(vec![s(&e["field"]), s(&e["code"]), s(&e["message"])]);
    }
    t.render()
}

pub fn documents(page: &Value) -> String {
    let mut t = Table::new(&["document", "path", "size", "status", "reason"]);
    for d in page["items"].as_array().into_iter().flatten() {
        t.row(vec![
            s(&d["document_id"]),
            s(&d["path"]),
            bytes(&d["size"]),
            s(&d["status"]),
            s(&d["reason"]),
        ]);
    }
    if t.is_empty() {
        "no documents\n".to_owned()
    } else {
        t.render()
    }
}
