//! A roster upload: the source's users (and satellites) replace the
//! migration's roster while it is a draft. The users are validated as a
//! whole; the draft keeps the entries of users still in the roster and the
//! upload's audit record names those it dropped — one transaction.

use ferry_domain::licensing::{
    Draft, Roster, RosterUserInput, RowError, SatelliteInput, prune_to_roster,
};
use ferry_store::{Store, StoreError};

use crate::records;

/// The roster and draft an upload replaces.
#[derive(Debug, Clone, Copy)]
pub struct Current<'a> {
    pub migration_id: &'a str,
    pub roster: &'a Roster,
    pub draft: &'a Draft,
}

/// A loaded roster.
#[derive(Debug)]
pub struct Loaded {
    pub roster: Roster,
    /// The draft's new version.
    pub draft_version: i64,
    /// The roster's generation (see `Store::roster_generation`), under which
    /// a validated copy may be cached.
    pub generation: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum RosterError {
    /// Rows that break the roster's rules; nothing was replaced.
    #[error("the roster has {} invalid row(s)", .0.len())]
    Invalid(Vec<RowError>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Validates and stores `users` and `satellites` in place of `current`, as
/// `actor` (an API key id).
pub async fn upload_roster(
    store: &Store,
    actor: &str,
    current: Current<'_>,
    users: &[RosterUserInput],
    satellites: &[SatelliteInput],
) -> Result<Loaded, RosterError> {
    let roster = Roster::from_inputs(users, satellites).map_err(RosterError::Invalid)?;
    let kept = prune_to_roster(&roster, &current.draft.assignments);
    // Stored as validated (normalised), not as sent.
    let (users, satellites) = roster.to_inputs();
    let (draft_version, generation) = store
        .replace_roster(current.migration_id, &users, &satellites, &kept, |v| {
            let change = records::RosterChange {
                migration_id: current.migration_id,
                users_before: current.roster.users().len(),
                draft_before: current.draft,
                kept: &kept,
                users: users.len(),
                satellites: satellites.len(),
            };
            records::roster_uploaded(actor, change, v)
        })
        .await?;
    tracing::info!(migration_id = %current.migration_id, users = users.len(), "roster loaded");
    Ok(Loaded {
        roster,
        draft_version,
        generation,
    })
}
