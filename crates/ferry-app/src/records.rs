//! What each decision records in the audit trail (SPEC §3.8): the records
//! are made here, from the change's outcome, and handed to the store call
//! that makes the change, which appends them in the same transaction — a
//! crash can lose neither without the other (docs/audit.md, "Where records
//! are written").
//!
//! Every builder is pure: it only shapes `before`/`after`. Who acted is an
//! API key id or a name (`cli`); the store resolves it to the key's name and
//! role when it appends.

use ferry_domain::LifecycleEvent;
use ferry_domain::audit::AuditAction;
use ferry_domain::licensing::{
    Assignments, CatalogueInput, Draft, PreflightReport, Roster, address_removals, draft_change,
};
use ferry_store::{AuditEvent, MigrationRecord, RosterReplaced};
use serde_json::{Value, json};

/// A migration was opened.
pub fn migration_created(actor: &str, m: &MigrationRecord) -> Vec<AuditEvent> {
    vec![
        AuditEvent::new(AuditAction::MigrationCreated, Some(actor))
            .migration(&m.id)
            .after(json!({
                "state": m.state.as_str(),
                "tenant": m.tenant,
                "customer_name": m.customer_name,
                "source_version": m.source_version,
                "requested_by": m.requested_by_email,
                "migrator": m.migrator_email,
            })),
    ]
}

/// Cancel, complete, reopen; and the freeze's lift when the move ends it.
pub fn lifecycle(
    actor: &str,
    event: LifecycleEvent,
    before: &MigrationRecord,
    after: &MigrationRecord,
) -> Vec<AuditEvent> {
    let mut out = Vec::new();
    if let Some(action) = AuditAction::for_event(event) {
        out.push(
            AuditEvent::new(action, Some(actor))
                .migration(&after.id)
                .before(json!({"state": before.state.as_str(), "version": before.version}))
                .after(json!({"state": after.state.as_str(), "version": after.version})),
        );
    }
    if before.state.is_frozen() && !after.state.is_frozen() {
        out.push(
            AuditEvent::new(AuditAction::SourceUnfrozen, Some(actor))
                .migration(&after.id)
                .before(json!({"frozen": true}))
                .after(json!({"frozen": false, "reason": after.state.as_str()})),
        );
    }
    out
}

/// A roster upload: sizes before/after and the users whose draft entry it
/// dropped (they were no longer in the roster).
pub fn roster_uploaded(actor: &str, migration_id: &str, r: &RosterReplaced) -> Vec<AuditEvent> {
    vec![
        AuditEvent::new(AuditAction::RosterUploaded, Some(actor))
            .migration(migration_id)
            .before(json!({
                "users": r.users_before,
                "draft_version": r.draft_version - 1,
            }))
            .after(json!({
                "users": r.users,
                "satellites": r.satellites,
                "draft_version": r.draft_version,
                "draft_entries_dropped": r.dropped,
            })),
    ]
}

/// The catalogue was replaced.
pub fn catalogue_changed(
    actor: &str,
    migration_id: &str,
    before: &CatalogueInput,
    after: &CatalogueInput,
) -> Vec<AuditEvent> {
    let to = |c: &CatalogueInput| serde_json::to_value(c).unwrap_or(Value::Null);
    vec![
        AuditEvent::new(AuditAction::CatalogueChanged, Some(actor))
            .migration(migration_id)
            .before(to(before))
            .after(to(after)),
    ]
}

/// A draft edit: only the users that changed.
pub fn draft_edited(
    actor: &str,
    migration_id: &str,
    before: &Draft,
    after: &Assignments,
    after_version: i64,
) -> Vec<AuditEvent> {
    let change = draft_change(&before.assignments, before.version, after, after_version);
    draft_change_recorded(actor, AuditAction::DraftEdited, migration_id, None, change)
}

/// A draft change given as its audit before/after (see
/// `ferry_domain::licensing::DraftChangeLog`): how the streamed import, which
/// never holds either draft whole, records what it changed.
pub fn draft_change_recorded(
    actor: &str,
    action: AuditAction,
    migration_id: &str,
    subject: Option<&str>,
    (b, a): (Value, Value),
) -> Vec<AuditEvent> {
    let mut event = AuditEvent::new(action, Some(actor))
        .migration(migration_id)
        .before(b)
        .after(a);
    event.subject = subject.map(str::to_owned);
    vec![event]
}

/// The pre-flight report a commit was judged by, passed or not.
pub fn preflight_checked(actor: &str, migration_id: &str, report: &PreflightReport) -> AuditEvent {
    let checks: Vec<Value> = report
        .checks
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "status": c.status,
                "offenders": c.offenders.iter().take(50).collect::<Vec<_>>(),
                "offender_count": c.offenders.len(),
            })
        })
        .collect();
    AuditEvent::new(AuditAction::PreflightChecked, Some(actor))
        .migration(migration_id)
        .after(json!({"passed": report.passed, "checks": checks}))
}

/// What a commit is judged by and commits.
#[derive(Debug, Clone, Copy)]
pub struct CommitBasis<'a> {
    pub before: &'a MigrationRecord,
    pub roster: &'a Roster,
    pub draft: &'a Draft,
    pub report: &'a PreflightReport,
}

/// A passed commit: its pre-flight report, the commit, and the addresses it
/// takes off other users' cards.
pub fn committed(actor: &str, c: CommitBasis<'_>, after: &MigrationRecord) -> Vec<AuditEvent> {
    let mut out = vec![
        preflight_checked(actor, &after.id, c.report),
        AuditEvent::new(AuditAction::MigrationCommitted, Some(actor))
            .migration(&after.id)
            .before(json!({
                "state": c.before.state.as_str(),
                "version": c.before.version,
            }))
            .after(json!({
                "state": after.state.as_str(),
                "version": after.version,
                "draft_version": c.draft.version,
            })),
    ];
    let removals = address_removals(c.roster, &c.draft.assignments);
    if !removals.is_empty() {
        let list: Vec<Value> = removals
            .iter()
            .map(|r| {
                json!({"address": r.address, "from_user_id": r.from_user_id, "for_user_id": r.for_user_id})
            })
            .collect();
        out.push(
            AuditEvent::new(AuditAction::AddressesRemoved, Some(actor))
                .migration(&after.id)
                .after(json!({"removals": list})),
        );
    }
    out
}
