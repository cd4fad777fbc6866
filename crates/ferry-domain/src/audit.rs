//! The audit trail's rules: which decisions are recorded and the hash chain that makes editing, deleting or
//! reordering a stored record detectable. Pure: the store appends and reads,
//! this decides what a record's hash is and whether a chain is intact.
//!
//! Hash scheme (version 1): every record has a gap-free sequence number
//! `seq` (1, 2, …), the `prev_hash` of the record before it (64 zeros for
//! seq 1) and `hash = hex(SHA-256(canonical(seq, prev_hash, fields)))`.
//! The canonical form is `ferry-audit-v1\n` followed by one line per field,
//! in a fixed order: `name=` then `-` for an absent value or
//! `<byte length>:<bytes>` — lengths make it unambiguous whatever a value
//! contains (newlines, `=`, …). `before` and `after` are stored as JSON text
//! with sorted keys ([`canonical_json`]) and hashed as that text, so the
//! hash never depends on a JSON library's key order.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::state::LifecycleEvent;

/// `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum AuditAction {
    #[serde(rename = "migration.created")]
    MigrationCreated,
    #[serde(rename = "roster.uploaded")]
    RosterUploaded,
    #[serde(rename = "catalogue.changed")]
    CatalogueChanged,
    /// `PATCH …/draft`: users changed, before/after.
    #[serde(rename = "draft.edited")]
    DraftEdited,
    /// CSV import applied: users changed, before/after.
    #[serde(rename = "draft.imported")]
    DraftImported,
    /// The pre-flight report a commit was judged by (passed or not).
    #[serde(rename = "preflight.checked")]
    PreflightChecked,
    /// Addresses taken off other users' cards by the committed user names.
    #[serde(rename = "addresses.removed")]
    AddressesRemoved,
    #[serde(rename = "migration.committed")]
    MigrationCommitted,
    #[serde(rename = "migration.started")]
    MigrationStarted,
    #[serde(rename = "migration.cancelled")]
    MigrationCancelled,
    #[serde(rename = "migration.completed")]
    MigrationCompleted,
    #[serde(rename = "migration.reopened")]
    MigrationReopened,
    #[serde(rename = "source.frozen")]
    SourceFrozen,
    #[serde(rename = "source.unfrozen")]
    SourceUnfrozen,
    #[serde(rename = "job.cancelled")]
    JobCancelled,
    /// A pre-copy was started (the source stays live).
    #[serde(rename = "precopy.started")]
    PrecopyStarted,
    /// The cutover removed documents the manifest no longer lists.
    #[serde(rename = "documents.removed")]
    DocumentsRemoved,
    #[serde(rename = "key.created")]
    KeyCreated,
    #[serde(rename = "key.revoked")]
    KeyRevoked,
}

impl AuditAction {
    pub const ALL: [AuditAction; 19] = [
        Self::MigrationCreated,
        Self::RosterUploaded,
        Self::CatalogueChanged,
        Self::DraftEdited,
        Self::DraftImported,
        Self::PreflightChecked,
        Self::AddressesRemoved,
        Self::MigrationCommitted,
        Self::MigrationStarted,
        Self::MigrationCancelled,
        Self::MigrationCompleted,
        Self::MigrationReopened,
        Self::SourceFrozen,
        Self::SourceUnfrozen,
        Self::JobCancelled,
        Self::PrecopyStarted,
        Self::DocumentsRemoved,
        Self::KeyCreated,
        Self::KeyRevoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::MigrationCreated => "migration.created",
            Self::RosterUploaded => "roster.uploaded",
            Self::CatalogueChanged => "catalogue.changed",
            Self::DraftEdited => "draft.edited",
            Self::DraftImported => "draft.imported",
            Self::PreflightChecked => "preflight.checked",
            Self::AddressesRemoved => "addresses.removed",
            Self::MigrationCommitted => "migration.committed",
            Self::MigrationStarted => "migration.started",
            Self::MigrationCancelled => "migration.cancelled",
            Self::MigrationCompleted => "migration.completed",
            Self::MigrationReopened => "migration.reopened",
            Self::SourceFrozen => "source.frozen",
            Self::SourceUnfrozen => "source.unfrozen",
            Self::JobCancelled => "job.cancelled",
            Self::PrecopyStarted => "precopy.started",
            Self::DocumentsRemoved => "documents.removed",
            Self::KeyCreated => "key.created",
            Self::KeyRevoked => "key.revoked",
        }
    }

    /// The record of a lifecycle event.
    pub fn for_event(event: LifecycleEvent) -> Option<AuditAction> {
        match event {
            LifecycleEvent::Commit => Some(Self::MigrationCommitted),
            LifecycleEvent::Start => Some(Self::MigrationStarted),
            LifecycleEvent::Cancel => Some(Self::MigrationCancelled),
            LifecycleEvent::Complete => Some(Self::MigrationCompleted),
            LifecycleEvent::Reopen => Some(Self::MigrationReopened),
            // A job's end is the worker's, not a decision.
            LifecycleEvent::Finish => None,
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AuditAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("unknown audit action '{s}'"))
    }
}

/// Everything a record says, as stored (text), except its place in the
/// chain. Every field is covered by the hash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFields {
    /// RFC 3339 UTC.
    pub at: String,
    pub action: String,
    /// The API key that decided; `None` for the command line or the
    /// worker (`actor_name` says which).
    pub actor_key_id: Option<String>,
    pub actor_name: Option<String>,
    pub actor_role: Option<String>,
    /// The migration's acting migrator (its `migrator.email`) at the time.
    pub acting_migrator: Option<String>,
    pub migration_id: Option<String>,
    pub tenant: Option<String>,
    /// What else the record is about: a job id, a key id.
    pub subject: Option<String>,
    /// Canonical JSON text ([`canonical_json`]).
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: i64,
    pub prev_hash: String,
    pub hash: String,
    pub fields: AuditFields,
}

impl AuditEntry {
    /// Seals `fields` as record `seq` after `prev_hash`.
    pub fn seal(seq: i64, prev_hash: &str, fields: AuditFields) -> AuditEntry {
        AuditEntry {
            seq,
            prev_hash: prev_hash.to_owned(),
            hash: entry_hash(seq, prev_hash, &fields),
            fields,
        }
    }
}

/// The bytes the hash covers (see the module documentation).
pub fn canonical_bytes(seq: i64, prev_hash: &str, f: &AuditFields) -> Vec<u8> {
    let seq = seq.to_string();
    let parts: [(&str, Option<&str>); 13] = [
        ("seq", Some(&seq)),
        ("prev_hash", Some(prev_hash)),
        ("at", Some(&f.at)),
        ("action", Some(&f.action)),
        ("actor_key_id", f.actor_key_id.as_deref()),
        ("actor_name", f.actor_name.as_deref()),
        ("actor_role", f.actor_role.as_deref()),
        ("acting_migrator", f.acting_migrator.as_deref()),
        ("migration_id", f.migration_id.as_deref()),
        ("tenant", f.tenant.as_deref()),
        ("subject", f.subject.as_deref()),
        ("before", f.before.as_deref()),
        ("after", f.after.as_deref()),
    ];
    let mut out = b"ferry-audit-v1\n".to_vec();
    for (name, value) in parts {
        out.extend_from_slice(name.as_bytes());
        out.push(b'=');
        match value {
            None => out.push(b'-'),
            Some(v) => {
                out.extend_from_slice(v.len().to_string().as_bytes());
                out.push(b':');
                out.extend_from_slice(v.as_bytes());
            }
        }
        out.push(b'\n');
    }
    out
}

/// `hex(SHA-256(canonical_bytes(…)))`.
pub fn entry_hash(seq: i64, prev_hash: &str, fields: &AuditFields) -> String {
    hex::encode(Sha256::digest(canonical_bytes(seq, prev_hash, fields)))
}

/// JSON text with object keys sorted at every level and no whitespace.
pub fn canonical_json(value: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(map) => {
                let ordered: BTreeMap<&String, Value> =
                    map.iter().map(|(k, v)| (k, sorted(v))).collect();
                let mut out = serde_json::Map::new();
                for (k, v) in ordered {
                    out.insert(k.clone(), v);
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    // With serde_json's `preserve_order` the map keeps insertion order,
    // which `sorted` made alphabetical; without it the map sorts anyway.
    sorted(value).to_string()
}

/// Why a chain is not intact, located at the first record concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The first sequence number that does not verify.
    pub seq: i64,
    pub reason: BreakReason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakReason {
    /// The record's content does not match its hash: it was edited.
    HashMismatch,
    /// The record does not link to the one before: a record before it was
    /// replaced, or records were reordered.
    PrevHashMismatch,
    /// This sequence number is missing (the next record found is `found`,
    /// `None` at the end): a record was deleted or renumbered.
    Missing { found: Option<i64> },
    /// The chain head says the chain ends at another record or hash than
    /// the last one found: records at the end were deleted.
    HeadMismatch,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seq = self.seq;
        match &self.reason {
            BreakReason::HashMismatch => write!(
                f,
                "record {seq} does not match its hash (its content was changed)"
            ),
            BreakReason::PrevHashMismatch => write!(
                f,
                "record {seq} does not link to record {} (a record was replaced or the records were reordered)",
                seq - 1
            ),
            BreakReason::Missing { found: Some(n) } => write!(
                f,
                "record {seq} is missing (found {n} next: records were deleted or renumbered)"
            ),
            BreakReason::Missing { found: None } => {
                write!(
                    f,
                    "record {seq} is missing (records at the end were deleted)"
                )
            }
            BreakReason::HeadMismatch => write!(
                f,
                "the chain head does not match record {seq} (records at the end were deleted, or the head was edited)"
            ),
        }
    }
}

/// What an intact chain ends with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSummary {
    pub records: i64,
    /// Hash of the last record; [`GENESIS_HASH`] for an empty chain.
    pub head_hash: String,
}

/// Walks a chain record by record, in `seq` order, so a store can feed it
/// page by page without holding the whole log.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    next_seq: i64,
    prev_hash: String,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            next_seq: 1,
            prev_hash: GENESIS_HASH.to_owned(),
        }
    }
}

impl ChainVerifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the next record: its number, its link, its hash.
    pub fn push(&mut self, entry: &AuditEntry) -> Result<(), ChainBreak> {
        let seq = self.next_seq;
        if entry.seq != seq {
            return Err(ChainBreak {
                seq,
                reason: BreakReason::Missing {
                    found: Some(entry.seq),
                },
            });
        }
        if entry.prev_hash != self.prev_hash {
            return Err(ChainBreak {
                seq,
                reason: BreakReason::PrevHashMismatch,
            });
        }
        if entry_hash(entry.seq, &entry.prev_hash, &entry.fields) != entry.hash {
            return Err(ChainBreak {
                seq,
                reason: BreakReason::HashMismatch,
            });
        }
        self.next_seq += 1;
        self.prev_hash = entry.hash.clone();
        Ok(())
    }

    /// Ends the walk. `head` is the chain head the store keeps next to the
    /// log (last seq, last hash), which catches deleted records at the end.
    pub fn finish(self, head: Option<(i64, &str)>) -> Result<ChainSummary, ChainBreak> {
        let records = self.next_seq - 1;
        if let Some((head_seq, head_hash)) = head {
            if head_seq > records {
                return Err(ChainBreak {
                    seq: records + 1,
                    reason: BreakReason::Missing { found: None },
                });
            }
            if head_seq != records || head_hash != self.prev_hash {
                return Err(ChainBreak {
                    seq: records.max(1),
                    reason: BreakReason::HeadMismatch,
                });
            }
        }
        Ok(ChainSummary {
            records,
            head_hash: self.prev_hash,
        })
    }
}

/// Verifies a whole chain in memory.
pub fn verify_chain<'a>(
    entries: impl IntoIterator<Item = &'a AuditEntry>,
    head: Option<(i64, &str)>,
) -> Result<ChainSummary, ChainBreak> {
    let mut v = ChainVerifier::new();
    for e in entries {
        v.push(e)?;
    }
    v.finish(head)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn fields(i: i64) -> AuditFields {
        AuditFields {
            at: format!("2026-01-01T00:00:{i:02}.000000Z"),
            action: AuditAction::DraftEdited.as_str().to_owned(),
            actor_key_id: Some("k1".into()),
            actor_name: Some("mia's key".into()),
            actor_role: Some("migrator".into()),
            acting_migrator: Some("mia@partner.example".into()),
            migration_id: Some("m1".into()),
            tenant: Some("acme".into()),
            subject: None,
            before: Some(canonical_json(&serde_json::json!({"plan": null}))),
            after: Some(canonical_json(
                &serde_json::json!({"plan": format!("P{i}")}),
            )),
        }
    }

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|i| {
                let e = AuditEntry::seal(i, &prev, fields(i));
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    fn head(c: &[AuditEntry]) -> Option<(i64, &str)> {
        c.last().map(|e| (e.seq, e.hash.as_str()))
    }

    #[test]
    fn an_intact_chain_verifies() {
        let c = chain(5);
        let s = verify_chain(&c, head(&c)).unwrap();
        assert_eq!(s.records, 5);
        assert_eq!(s.head_hash, c[4].hash);
        let empty = verify_chain(&[], Some((0, GENESIS_HASH))).unwrap();
        assert_eq!(empty.records, 0);
    }

    #[test]
    fn a_changed_field_is_detected_at_its_record() {
        let c = chain(5);
        for edit in [
            |f: &mut AuditFields| f.after = Some("{\"plan\":\"Admin\"}".into()),
            |f: &mut AuditFields| f.actor_key_id = None,
            |f: &mut AuditFields| f.at.push('0'),
            |f: &mut AuditFields| f.tenant = Some("globex".into()),
        ] {
            let mut t = c.clone();
            edit(&mut t[2].fields);
            let err = verify_chain(&t, head(&c)).unwrap_err();
            assert_eq!(err.seq, 3);
            assert_eq!(err.reason, BreakReason::HashMismatch);
        }
    }

    #[test]
    fn a_rehashed_edit_breaks_the_next_link() {
        let c = chain(5);
        let mut t = c.clone();
        t[2].fields.actor_name = Some("someone else".into());
        t[2] = AuditEntry::seal(3, &t[2].prev_hash.clone(), t[2].fields.clone());
        let err = verify_chain(&t, head(&c)).unwrap_err();
        assert_eq!(err.seq, 4);
        assert_eq!(err.reason, BreakReason::PrevHashMismatch);
    }

    #[test]
    fn a_deleted_record_is_named() {
        let c = chain(5);
        let mut t = c.clone();
        t.remove(1);
        let err = verify_chain(&t, head(&c)).unwrap_err();
        assert_eq!(
            err,
            ChainBreak {
                seq: 2,
                reason: BreakReason::Missing { found: Some(3) }
            }
        );
        // Deleted and the rest renumbered: the link breaks.
        let mut t = c.clone();
        t.remove(1);
        for (i, e) in t.iter_mut().enumerate() {
            e.seq = i as i64 + 1;
        }
        let err = verify_chain(&t, head(&c)).unwrap_err();
        assert_eq!(err.seq, 2);
    }

    #[test]
    fn deleted_records_at_the_end_are_caught_by_the_head() {
        let c = chain(5);
        let err = verify_chain(&c[..3], head(&c)).unwrap_err();
        assert_eq!(
            err,
            ChainBreak {
                seq: 4,
                reason: BreakReason::Missing { found: None }
            }
        );
        // Without a head only the records themselves are checked.
        assert!(verify_chain(&c[..3], None).is_ok());
    }

    #[test]
    fn reordered_records_are_detected() {
        let c = chain(5);
        let mut t = c.clone();
        t.swap(1, 2);
        let err = verify_chain(&t, head(&c)).unwrap_err();
        assert_eq!(err.seq, 2);
        // Swapped with their numbers swapped too.
        let mut t = c.clone();
        t.swap(1, 2);
        t[1].seq = 2;
        t[2].seq = 3;
        let err = verify_chain(&t, head(&c)).unwrap_err();
        assert_eq!(err.seq, 2);
        assert!(matches!(
            err.reason,
            BreakReason::PrevHashMismatch | BreakReason::HashMismatch
        ));
    }

    #[test]
    fn a_fork_is_not_a_chain() {
        let c = chain(3);
        let mut t = c.clone();
        // Two records claiming the same predecessor.
        t.push(AuditEntry::seal(4, &c[2].hash, fields(9)));
        t.push(AuditEntry::seal(5, &c[2].hash, fields(8)));
        let err = verify_chain(&t, None).unwrap_err();
        assert_eq!(err.seq, 5);
        assert_eq!(err.reason, BreakReason::PrevHashMismatch);
    }

    #[test]
    fn the_serialisation_is_unambiguous() {
        let mut a = fields(1);
        let mut b = fields(1);
        a.actor_name = Some("x\nactor_role=1:y".into());
        a.actor_role = None;
        b.actor_name = Some("x".into());
        b.actor_role = Some("y".into());
        assert_ne!(
            entry_hash(1, GENESIS_HASH, &a),
            entry_hash(1, GENESIS_HASH, &b)
        );
        let mut c = fields(1);
        c.subject = Some(String::new());
        assert_ne!(
            entry_hash(1, GENESIS_HASH, &c),
            entry_hash(1, GENESIS_HASH, &fields(1)),
            "empty is not absent"
        );
        assert_eq!(entry_hash(1, GENESIS_HASH, &fields(1)).len(), 64);
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v: Value =
            serde_json::from_str(r#"{"b":1,"a":{"z":[{"y":1,"x":2}],"c":null}}"#).unwrap();
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":null,"z":[{"x":2,"y":1}]},"b":1}"#
        );
    }

    #[test]
    fn actions_round_trip() {
        for a in AuditAction::ALL {
            assert_eq!(a.as_str().parse::<AuditAction>().unwrap(), a);
            assert_eq!(serde_json::to_value(a).unwrap(), Value::from(a.as_str()));
        }
    }
}
