//! Random bytes and random row edits against the real CSV import endpoint:
//! never a 5xx, and a refused file never changes the draft (all or nothing).
//! The domain crate's proptest explores the parser itself far more widely;
//! this one proves the HTTP path around it holds too.

#![allow(clippy::unwrap_used)]

use ferry_tests::{Mode, both_modes, spawn_app};
use serde_json::{Value, json};

both_modes!(random_uploads_never_5xx_never_partial);

/// xorshift64*: deterministic, so a failure names a seed that reproduces it.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const CELLS: [&str; 12] = [
    "",
    "Admin",
    "Engage",
    "Standard",
    "Platinum",
    "Marketing, Analytics",
    "=1+1",
    "\"",
    "a;b",
    "mia@partner.example",
    "x@y",
    "\u{0}",
];

fn mutate(rng: &mut Rng, csv: &str) -> Vec<u8> {
    let mut lines: Vec<String> = csv.lines().map(str::to_owned).collect();
    match rng.below(6) {
        0 => (0..rng.below(200)).map(|_| rng.next() as u8).collect(),
        1 => {
            let i = rng.below(lines.len());
            lines.remove(i);
            lines.join("\n").into_bytes()
        }
        2 => {
            let i = rng.below(lines.len());
            let dup = lines[i].clone();
            lines.push(dup);
            lines.join("\r\n").into_bytes()
        }
        3 => {
            // Replace one cell of one data row.
            let i = 1 + rng.below(lines.len() - 1);
            let mut cells: Vec<String> = lines[i].split(',').map(str::to_owned).collect();
            let c = rng.below(cells.len());
            cells[c] = CELLS[rng.below(CELLS.len())].to_owned();
            lines[i] = cells.join(",");
            lines.join("\n").into_bytes()
        }
        4 => {
            let mut bytes = csv.as_bytes().to_vec();
            for _ in 0..1 + rng.below(5) {
                let at = rng.below(bytes.len());
                bytes[at] = rng.next() as u8;
            }
            bytes
        }
        _ => lines.join("\n").replace(',', ";").into_bytes(),
    }
}

async fn random_uploads_never_5xx_never_partial(mode: Mode) {
    let app = spawn_app(mode).await;
    let m = app.create_migration("fuzz").await;
    let id = m["id"].as_str().unwrap();
    let roster = json!({"users": [
        {"user_id": "u1", "full_name": "Mia Migrator", "emails": ["mia@partner.example"], "is_admin": true},
        {"user_id": "u2", "full_name": "Ann Lee", "emails": ["ann@acme.example"], "old_license": "Engage"},
        {"user_id": "u3", "full_name": "Bob Roe", "emails": ["bob@acme.example"]}
    ]});
    app.client
        .put(app.url(&format!("/v1/migrations/{id}/roster")))
        .bearer_auth(&app.admin_key)
        .json(&roster)
        .send()
        .await
        .unwrap();
    let d: Value = app
        .get(&format!("/v1/migrations/{id}/draft"), &app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let v = d["version"].as_i64().unwrap();
    app.client
        .patch(app.url(&format!("/v1/migrations/{id}/draft")))
        .bearer_auth(&app.admin_key)
        .header("If-Match", format!("\"d{v}\""))
        .json(&json!({"user_ids": ["u1"], "set_plan": "Admin"}))
        .send()
        .await
        .unwrap();
    let export = app
        .get(
            &format!("/v1/migrations/{id}/assignments.csv"),
            &app.admin_key,
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let export = export.trim_start_matches('\u{feff}').to_owned();
    let seed = 0x5eed_u64 ^ (mode == Mode::Production) as u64;
    let mut rng = Rng(seed);
    let mut refused = 0;
    for round in 0..60 {
        let before: Value = app
            .get(&format!("/v1/migrations/{id}/draft"), &app.admin_key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let body = mutate(&mut rng, &export);
        let res = app
            .post(
                &format!("/v1/migrations/{id}/assignments.csv"),
                &app.admin_key,
            )
            .header("content-type", "text/csv")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        assert!(
            status == 200 || status == 422 || status == 413,
            "seed {seed} round {round}: {status} for {:?}",
            String::from_utf8_lossy(&body)
        );
        let after: Value = app
            .get(&format!("/v1/migrations/{id}/draft"), &app.admin_key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status != 200 {
            refused += 1;
            assert_eq!(
                before, after,
                "seed {seed} round {round}: a refused import changed the draft"
            );
        }
    }
    assert!(
        refused > 10,
        "the mutations should mostly be refused ({refused}/60)"
    );
    app.stop().await;
}
