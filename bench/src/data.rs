//! The generated data set: a roster of `rows` active users (plus 1 % inactive
//! ones, who are not exported), the catalogue, and two files — the roster as
//! the `PUT …/roster` CSV and the filled-in assignment CSV.
//!
//! The assignment CSV is written by the domain's own `write_assignment_csv`,
//! so it is byte for byte what `GET …/assignments.csv` returns for a draft in
//! which every active user has a plan and a unique user name (the same bytes
//! a migrator produces by filling the `New License` and `Username` cells of an
//! export of an empty draft: those cells need no quoting or neutralising).
//! Everything is deterministic: the same `rows` give the same files.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use ferry_domain::Email;
use ferry_domain::licensing::{
    Assignment, Assignments, Catalogue, CatalogueInput, PlanInput, ROSTER_COLUMNS, Roster,
    RosterUserInput, write_assignment_csv,
};

/// The migration's migrator: must be in the roster and keep a licence.
pub const MIGRATOR_EMAIL: &str = "mia@partner.example";
pub const MIGRATOR_NAME: &str = "Mia Migrator";

const FIRST: [&str; 16] = [
    "Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hugo", "Ida", "Jonas", "Lena",
    "Max", "Nora", "Oskar", "Paula", "Tim",
];
const LAST: [&str; 13] = [
    "Schmidt",
    "Meyer",
    "Weber",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Neumann",
    "Braun",
    "Zimmermann",
];
const GROUPS: [&str; 6] = ["Sales", "Support", "Marketing", "Finance", "IT", "Service"];
const POSITIONS: [&str; 5] = ["Account Manager", "Agent", "Lead", "Analyst", "Consultant"];
const OLD_LICENSES: [&str; 3] = ["Standard", "Engage", "Basic"];

/// One generated size.
pub struct Dataset {
    /// Active users = data rows of the assignment CSV.
    pub rows: usize,
    /// Users in the roster, inactive ones included.
    pub roster_users: usize,
    pub roster_csv: PathBuf,
    pub roster_csv_bytes: u64,
    pub assignment_csv: PathBuf,
    pub assignment_csv_bytes: u64,
    /// The roster as the server will hold it after the upload.
    pub roster: Roster,
    /// How long `Roster::from_inputs` took for it (the server repeats this on
    /// every licence request, after reading the roster from its database).
    pub roster_check: Duration,
    pub catalogue_input: CatalogueInput,
    pub catalogue: Catalogue,
    pub acting: Email,
}

/// The catalogue the migration gets: room for everyone on `Standard`.
pub fn catalogue_input(rows: usize) -> CatalogueInput {
    let capacity = i64::try_from(rows).unwrap_or(i64::MAX).max(2_000_000);
    CatalogueInput {
        plans: vec![
            PlanInput {
                name: "Standard".into(),
                capacity,
                addons_allowed: false,
            },
            PlanInput {
                name: "Admin".into(),
                capacity: 10,
                addons_allowed: true,
            },
        ],
        addons: vec![],
    }
}

/// User `k` of the active users (`k = 0` is the migrator).
fn active_user(k: usize) -> RosterUserInput {
    if k == 0 {
        return RosterUserInput {
            user_id: format!("u{k:07}"),
            full_name: MIGRATOR_NAME.into(),
            emails: vec![MIGRATOR_EMAIL.into()],
            group: "IT".into(),
            position: "Migrator".into(),
            is_admin: true,
            old_license: Some("Admin".into()),
            active: true,
            ..Default::default()
        };
    }
    let first = FIRST[k % FIRST.len()];
    let last = LAST[(k / FIRST.len()) % LAST.len()];
    // The index makes every address (and so every user name) unique.
    let mut emails = vec![format!(
        "{}.{}{k}@acme-corp.de",
        first.to_ascii_lowercase(),
        last.to_ascii_lowercase()
    )];
    if k.is_multiple_of(5) {
        emails.push(format!(
            "{}{k}@acme-mail.de",
            &first[..1].to_ascii_lowercase()
        ));
    }
    RosterUserInput {
        user_id: format!("u{k:07}"),
        full_name: format!("{first} {last}"),
        emails,
        group: GROUPS[k % GROUPS.len()].into(),
        position: POSITIONS[(k / 7) % POSITIONS.len()].into(),
        is_admin: k % 1000 == 1,
        old_license: Some(OLD_LICENSES[k % OLD_LICENSES.len()].into()),
        old_addons: if k % 10 == 3 {
            vec!["Marketing".into()]
        } else {
            vec![]
        },
        on_travel: false,
        active: true,
        source_row: None,
    }
}

/// An inactive user: in the roster, not in the export.
fn inactive_user(j: usize) -> RosterUserInput {
    RosterUserInput {
        user_id: format!("x{j:07}"),
        full_name: format!("Former Employee {j}"),
        emails: vec![format!("former{j}@acme.io")],
        group: "Alumni".into(),
        active: false,
        ..Default::default()
    }
}

/// `rows` active users with one inactive user after every 100th.
fn roster_inputs(rows: usize) -> Vec<RosterUserInput> {
    let mut out = Vec::with_capacity(rows + rows / 100);
    for k in 0..rows {
        out.push(active_user(k));
        if k % 100 == 99 {
            out.push(inactive_user(k / 100));
        }
    }
    out
}

fn write_roster_csv(users: &[RosterUserInput], path: &Path) -> Result<()> {
    let mut w = csv::Writer::from_writer(BufWriter::new(File::create(path)?));
    w.write_record(ROSTER_COLUMNS)?;
    let flag = |b: bool| if b { "true" } else { "false" };
    for u in users {
        w.write_record([
            u.user_id.as_str(),
            &u.full_name,
            &u.emails.join(", "),
            &u.group,
            &u.position,
            flag(u.is_admin),
            u.old_license.as_deref().unwrap_or(""),
            &u.old_addons.join(", "),
            flag(u.on_travel),
            flag(u.active),
        ])?;
    }
    w.into_inner()
        .map_err(|e| anyhow!("roster CSV: {e}"))?
        .flush()?;
    Ok(())
}

/// Every active user gets a plan (the migrator `Admin`, everyone else
/// `Standard`) and their first address as user name.
fn filled_draft(roster: &Roster) -> Result<Assignments> {
    roster
        .active_users()
        .map(|u| {
            let plan = if u.emails()[0].as_str() == MIGRATOR_EMAIL {
                "Admin"
            } else {
                "Standard"
            };
            let username = Email::parse(u.emails()[0].as_str())
                .map_err(|e| anyhow!("generated address: {}", e.message))?;
            Ok((
                u.user_id().to_owned(),
                Assignment {
                    plan: Some(plan.to_owned()),
                    addons: vec![],
                    username: Some(username),
                },
            ))
        })
        .collect()
}

/// Generates the size `rows` into `dir` (files named after the size).
pub fn generate(rows: usize, dir: &Path) -> Result<Dataset> {
    let inputs = roster_inputs(rows);
    let roster_csv = dir.join(format!("roster-{rows}.csv"));
    write_roster_csv(&inputs, &roster_csv).context("writing the roster CSV")?;
    let start = Instant::now();
    let roster = Roster::from_inputs(&inputs, &[]).map_err(|errors| {
        anyhow!(
            "generated roster invalid ({} errors), first: {:?}",
            errors.len(),
            errors.first()
        )
    })?;
    let roster_check = start.elapsed();
    let roster_users = inputs.len();
    drop(inputs);

    let draft = filled_draft(&roster)?;
    let assignment_csv = dir.join(format!("assignments-{rows}.csv"));
    let mut out = BufWriter::new(File::create(&assignment_csv)?);
    write_assignment_csv(&roster, &draft, &mut out).context("writing the assignment CSV")?;
    out.flush()?;
    drop(out);
    drop(draft);

    let catalogue_input = catalogue_input(rows);
    let catalogue = Catalogue::parse(&catalogue_input)
        .map_err(|e| anyhow!("generated catalogue invalid: {e:?}"))?;
    let acting = Email::parse(MIGRATOR_EMAIL).map_err(|e| anyhow!("{}", e.message))?;
    Ok(Dataset {
        rows,
        roster_users,
        roster_csv_bytes: std::fs::metadata(&roster_csv)?.len(),
        roster_csv,
        assignment_csv_bytes: std::fs::metadata(&assignment_csv)?.len(),
        assignment_csv,
        roster,
        roster_check,
        catalogue_input,
        catalogue,
        acting,
    })
}
