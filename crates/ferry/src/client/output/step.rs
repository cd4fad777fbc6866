//! Human renderings of the licence step's documents: the catalogue, the
//! overview and the user list (read loosely, like `render`).

use serde_json::Value;

use super::render::s;
use super::table::Table;

fn items<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v[key].as_array().into_iter().flatten()
}

pub fn catalogue(c: &Value) -> String {
    let mut t = Table::new(&["plan", "capacity", "add-ons allowed"]);
    for p in items(c, "plans") {
        let allowed = if p["addons_allowed"] == true {
            "yes"
        } else {
            "no"
        };
        t.row(vec![s(&p["name"]), s(&p["capacity"]), allowed.to_owned()]);
    }
    let mut a = Table::new(&["add-on", "capacity"]);
    for x in items(c, "addons") {
        a.row(vec![s(&x["name"]), s(&x["capacity"])]);
    }
    format!("{}\n{}", t.render(), a.render())
}

/// Plans and add-ons with what remains; a line over the contract says so.
pub fn overview(o: &Value) -> String {
    let lines = |key: &str, head: &str| {
        let mut t = Table::new(&[
            head,
            "holders today",
            "in the draft",
            "capacity",
            "remaining",
        ]);
        for l in items(o, key) {
            let remaining = l["remaining"].as_i64().unwrap_or(0);
            let left = if remaining < 0 {
                format!("{remaining} OVER CAPACITY")
            } else {
                remaining.to_string()
            };
            t.row(vec![
                s(&l["name"]),
                s(&l["current_holders"]),
                s(&l["assigned"]),
                s(&l["capacity"]),
                left,
            ]);
        }
        t.render()
    };
    let mut out = format!("{}\n{}", lines("plans", "plan"), lines("addons", "add-on"));
    let old = |key: &str, head: &str| {
        let mut t = Table::new(&[head, "holders today"]);
        for l in items(o, key) {
            t.row(vec![s(&l["name"]), s(&l["current_holders"])]);
        }
        (!t.is_empty()).then(|| t.render())
    };
    for part in [
        old("old_licences", "old licence (no plan of that name)"),
        old("old_addons", "old add-on (no add-on of that name)"),
    ]
    .into_iter()
    .flatten()
    {
        out.push('\n');
        out.push_str(&part);
    }
    out.push_str(&format!(
        "\nactive users without a plan (they lose access): {}\n",
        s(&o["active_without_plan"])
    ));
    out
}

pub fn users(page: &Value) -> String {
    let mut t = Table::new(&[
        "user",
        "name",
        "addresses",
        "plan",
        "add-ons",
        "user name",
        "problems",
    ]);
    for u in items(page, "items") {
        let mut name = s(&u["full_name"]);
        if u["is_admin"] == true {
            name.push_str(" (admin)");
        }
        if u["active"] == false {
            name.push_str(" (inactive)");
        }
        let mut addresses = s(&u["emails"]);
        let unusable = s(&u["unusable_emails"]);
        if !unusable.is_empty() {
            addresses = format!("{addresses} [unusable: {unusable}]");
        }
        let a = &u["assignment"];
        t.row(vec![
            s(&u["user_id"]),
            name,
            addresses,
            s(&a["plan"]),
            s(&a["addons"]),
            s(&a["username"]),
            s(&u["problems"]),
        ]);
    }
    let count = page["items"].as_array().map_or(0, Vec::len);
    format!("{}{count} user(s)\n", t.render())
}
