//! What an upload delivers to the tenant besides the database and the
//! documents (issue 16), and the receipt the cloud side checks it against.
//! Formats only; the worker writes them and `ferry receipt verify` reads
//! them. Every file is versioned by its name or its `format` field: a new
//! version gets a new name, so a reader never mistakes one for the other.
//!
//! Under `<tenant>/` in the tenant store:
//! - `licences/assignment.v1.ndjson`: one [`DeliveredUser`] per line, every
//!   roster user in roster order (users without a licence too: their card's
//!   addresses may change), as committed.
//! - `ledger/documents.v1.ndjson`: one [`LedgerLine`] per manifest row, in
//!   manifest order.
//! - `MIGRATION.json`: the [`Receipt`], written last, so a receipt is never
//!   ahead of what it describes.

use serde::{Deserialize, Serialize};

use crate::licensing::{Assignment, Assignments, Roster, address_removals};

pub const RECEIPT_PATH: &str = "MIGRATION.json";
pub const ASSIGNMENT_PATH: &str = "licences/assignment.v1.ndjson";
pub const LEDGER_PATH: &str = "ledger/documents.v1.ndjson";
pub const RECEIPT_FORMAT: &str = "ferry.receipt.v1";

/// One line of the assignment file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveredUser {
    pub user_id: String,
    pub name: String,
    pub active: bool,
    pub administrator: bool,
    /// The login in the tenant; `None`: the user gets no login.
    pub username: Option<String>,
    pub plan: Option<String>,
    pub addons: Vec<String>,
    /// The card's addresses after the migration, as written on it.
    pub addresses_kept: Vec<String>,
    /// Addresses taken off this card because another user logs in with
    /// them.
    pub addresses_removed: Vec<RemovedAddress>,
    /// Addresses on the card, as written, that cannot be a login (quoted,
    /// misspelt, ...): contact data the cloud side may keep, never a user
    /// name.
    #[serde(default)]
    pub addresses_unusable: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovedAddress {
    pub address: String,
    /// The user whose user name it became.
    pub for_user_id: String,
}

/// The assignment file's lines for `roster` as `committed`.
pub fn delivered_users(roster: &Roster, committed: &Assignments) -> Vec<DeliveredUser> {
    let mut removed: std::collections::HashMap<&str, Vec<RemovedAddress>> =
        std::collections::HashMap::new();
    let removals = address_removals(roster, committed);
    for r in &removals {
        removed
            .entry(r.from_user_id.as_str())
            .or_default()
            .push(RemovedAddress {
                address: r.address.clone(),
                for_user_id: r.for_user_id.clone(),
            });
    }
    let none = Assignment::default();
    roster
        .users()
        .iter()
        .map(|user| {
            let a = committed.get(user.user_id()).unwrap_or(&none);
            let gone = removed.remove(user.user_id()).unwrap_or_default();
            DeliveredUser {
                user_id: user.user_id().to_owned(),
                name: user.full_name().to_string(),
                active: user.active(),
                administrator: user.is_admin(),
                username: a.username.as_ref().map(|e| e.as_str().to_owned()),
                plan: a.plan.clone(),
                addons: a.addons.clone(),
                addresses_kept: user
                    .emails()
                    .iter()
                    .filter(|e| !gone.iter().any(|g| g.address == e.as_str()))
                    .map(|e| e.as_str().to_owned())
                    .collect(),
                addresses_removed: gone,
                addresses_unusable: user.unusable_emails().to_vec(),
            }
        })
        .collect()
}

/// One line of the ledger file (borrowed: the worker writes a row at a
/// time without copying it; a reader deserializes into owned strings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerLine<'a> {
    /// Under `<tenant>/documents/`.
    #[serde(borrow)]
    pub path: std::borrow::Cow<'a, str>,
    pub size: i64,
    /// What was stored (for `uploaded`), else what the manifest expects.
    #[serde(borrow)]
    pub sha256: Option<std::borrow::Cow<'a, str>>,
    /// `uploaded`, `missing` or `failed`.
    #[serde(borrow)]
    pub status: std::borrow::Cow<'a, str>,
}

/// One delivered file: where (under `<tenant>/`), how long, which bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptPart {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptCounts {
    pub users: u64,
    pub licensed_users: u64,
    pub documents: u64,
    pub documents_uploaded: u64,
    pub documents_missing: u64,
    pub documents_failed: u64,
}

/// The audit chain's head when the receipt was written: the cloud side can
/// ask Ferry's audit trail for the records up to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHead {
    pub seq: i64,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Always [`RECEIPT_FORMAT`].
    pub format: String,
    pub migration_id: String,
    pub tenant: String,
    pub source_version: String,
    /// The job that wrote this receipt (an upload, a recovery).
    pub job_id: String,
    pub written_at: String,
    pub database: Option<ReceiptPart>,
    pub assignment: ReceiptPart,
    pub ledger: ReceiptPart,
    pub counts: ReceiptCounts,
    pub audit_head: AuditHead,
}

impl Receipt {
    /// The parts to check, by name.
    pub fn parts(&self) -> Vec<(&'static str, &ReceiptPart)> {
        let mut parts = Vec::with_capacity(3);
        if let Some(db) = &self.database {
            parts.push(("database", db));
        }
        parts.push(("assignment", &self.assignment));
        parts.push(("ledger", &self.ledger));
        parts
    }
}

/// What a check of one delivered file found wrong; `None`: it matches.
pub fn part_mismatch(expected: &ReceiptPart, found: Option<(u64, &str)>) -> Option<String> {
    match found {
        None => Some(format!("{} is not in the tenant store", expected.path)),
        Some((bytes, _)) if bytes != expected.bytes => Some(format!(
            "{} has {bytes} bytes, the receipt says {}",
            expected.path, expected.bytes
        )),
        Some((_, sha)) if !sha.eq_ignore_ascii_case(&expected.sha256) => Some(format!(
            "{} has SHA-256 {sha}, the receipt says {}",
            expected.path, expected.sha256
        )),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::licensing::test_support::{assign, roster};

    #[test]
    fn every_user_is_delivered_with_what_stays_on_the_card() {
        // u2 Bob logs in with shared@, which u3 Cid's card also lists (as
        // "Shared@"): it leaves Cid's card.
        let committed: Assignments = [
            (
                "u1".to_owned(),
                assign(Some("Admin"), &[], Some("ann@acme.example")),
            ),
            (
                "u2".to_owned(),
                assign(Some("Engage"), &["Marketing"], Some("shared@acme.example")),
            ),
        ]
        .into_iter()
        .collect();
        let users = delivered_users(&roster(), &committed);
        assert_eq!(users.len(), 5, "users without a licence are delivered too");
        assert!(users[0].administrator);
        assert_eq!(users[1].username.as_deref(), Some("shared@acme.example"));
        assert_eq!(users[1].addons, ["Marketing"]);
        assert_eq!(
            users[1].addresses_kept,
            ["bob@acme.example", "shared@acme.example"]
        );
        assert_eq!(users[2].plan, None);
        assert_eq!(users[2].addresses_kept, ["cid@acme.example"]);
        assert_eq!(
            users[2].addresses_removed,
            [RemovedAddress {
                address: "Shared@acme.example".into(),
                for_user_id: "u2".into()
            }]
        );
        assert!(!users[3].active);
    }

    #[test]
    fn a_part_matches_only_with_its_size_and_hash() {
        let part = ReceiptPart {
            path: "t/licences/assignment.v1.ndjson".into(),
            bytes: 3,
            sha256: "AB".into(),
        };
        assert_eq!(part_mismatch(&part, Some((3, "ab"))), None);
        assert!(
            part_mismatch(&part, None)
                .expect("a mismatch")
                .contains("not in")
        );
        assert!(
            part_mismatch(&part, Some((4, "ab")))
                .expect("a mismatch")
                .contains("4 bytes")
        );
        assert!(
            part_mismatch(&part, Some((3, "cd")))
                .expect("a mismatch")
                .contains("SHA-256 cd")
        );
    }
}
