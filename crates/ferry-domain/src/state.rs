//! The migration lifecycle of SPEC §3.7 as a pure function: `(state, event) →
//! state`, so every transition the service makes goes through one table.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a migration is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MigrationState {
    /// Being prepared: roster, plans and user names may change.
    Draft,
    /// The draft is committed and the pre-flight checks passed.
    Ready,
    /// The initial upload runs; the source is frozen.
    Uploading,
    /// An upload finished, possibly with missing documents.
    Uploaded,
    /// A recovery run uploads documents that were missing or failed.
    Recovering,
    /// Closed by the migrator; the source is unfrozen. Terminal.
    Completed,
    /// Abandoned before completion; the source is unfrozen. Terminal.
    Cancelled,
}

impl MigrationState {
    pub const ALL: [MigrationState; 7] = [
        Self::Draft,
        Self::Ready,
        Self::Uploading,
        Self::Uploaded,
        Self::Recovering,
        Self::Completed,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Ready => "ready",
            Self::Uploading => "uploading",
            Self::Uploaded => "uploaded",
            Self::Recovering => "recovering",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Open migrations hold their tenant slug: at most one open migration per tenant.
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Completed | Self::Cancelled)
    }

    /// While a job moves data the source must not change (SPEC §3.8).
    pub fn is_frozen(self) -> bool {
        matches!(self, Self::Uploading | Self::Uploaded | Self::Recovering)
    }

    /// Applies `event`, or names why it is not allowed from here.
    pub fn apply(self, event: LifecycleEvent) -> Result<MigrationState, IllegalTransition> {
        use LifecycleEvent as E;
        use MigrationState as S;
        let next = match (self, event) {
            (S::Draft, E::Commit) => S::Ready,
            (S::Ready, E::Reopen) => S::Draft,
            (S::Ready, E::Start) => S::Uploading,
            (S::Uploaded, E::Start) => S::Recovering,
            // A restart after the job failed or was cancelled (SPEC §3.6:
            // "the migration can be started again"): the state, and with it
            // the freeze, stays; the store refuses while a job is active.
            (S::Uploading, E::Start) => S::Uploading,
            (S::Recovering, E::Start) => S::Recovering,
            (S::Uploading | S::Recovering, E::Finish) => S::Uploaded,
            (S::Uploaded, E::Complete) => S::Completed,
            (s, E::Cancel) if s.is_open() => S::Cancelled,
            (from, event) => return Err(IllegalTransition { from, event }),
        };
        Ok(next)
    }
}

impl fmt::Display for MigrationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MigrationState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown migration state '{s}'"))
    }
}

/// Something that happens to a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LifecycleEvent {
    /// The migrator commits the draft (pre-flight passed).
    Commit,
    /// The migrator goes back to editing a committed draft.
    Reopen,
    /// An upload (from `ready`) or a recovery (from `uploaded`) starts, or
    /// one whose job failed or was cancelled starts again.
    Start,
    /// The running job finished.
    Finish,
    /// The migrator closes the migration.
    Complete,
    /// Anybody allowed abandons the migration.
    Cancel,
}

impl LifecycleEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Commit => "commit",
            Self::Reopen => "reopen",
            Self::Start => "start",
            Self::Finish => "finish",
            Self::Complete => "complete",
            Self::Cancel => "cancel",
        }
    }
}

/// A transition the lifecycle does not have; answered 409 naming `from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot {} a migration that is {from}", event.as_str())]
pub struct IllegalTransition {
    pub from: MigrationState,
    pub event: LifecycleEvent,
}

#[cfg(test)]
mod tests {
    use super::LifecycleEvent as E;
    use super::MigrationState as S;

    const EVENTS: [E; 6] = [
        E::Commit,
        E::Reopen,
        E::Start,
        E::Finish,
        E::Complete,
        E::Cancel,
    ];

    /// The full table: every (state, event) pair, so adding a transition by
    /// accident fails here.
    #[test]
    fn transition_table_is_exactly_the_spec() {
        let allowed = [
            (S::Draft, E::Commit, S::Ready),
            (S::Ready, E::Reopen, S::Draft),
            (S::Ready, E::Start, S::Uploading),
            (S::Uploaded, E::Start, S::Recovering),
            (S::Uploading, E::Start, S::Uploading),
            (S::Recovering, E::Start, S::Recovering),
            (S::Uploading, E::Finish, S::Uploaded),
            (S::Recovering, E::Finish, S::Uploaded),
            (S::Uploaded, E::Complete, S::Completed),
            (S::Draft, E::Cancel, S::Cancelled),
            (S::Ready, E::Cancel, S::Cancelled),
            (S::Uploading, E::Cancel, S::Cancelled),
            (S::Uploaded, E::Cancel, S::Cancelled),
            (S::Recovering, E::Cancel, S::Cancelled),
        ];
        for from in S::ALL {
            for event in EVENTS {
                let expected = allowed
                    .iter()
                    .find(|(f, e, _)| *f == from && *e == event)
                    .map(|(_, _, to)| *to);
                match (from.apply(event), expected) {
                    (Ok(got), Some(want)) => assert_eq!(got, want, "{from} + {event:?}"),
                    (Err(err), None) => {
                        assert_eq!(err.from, from);
                        assert!(err.to_string().contains(from.as_str()));
                    }
                    (got, want) => panic!("{from} + {event:?}: got {got:?}, want {want:?}"),
                }
            }
        }
    }

    #[test]
    fn terminal_states_are_closed_and_unfrozen() {
        assert!(!S::Completed.is_open() && !S::Cancelled.is_open());
        assert!(S::Draft.is_open() && S::Uploaded.is_open());
        assert!(S::Uploading.is_frozen() && S::Recovering.is_frozen() && S::Uploaded.is_frozen());
        assert!(!S::Completed.is_frozen() && !S::Cancelled.is_frozen() && !S::Ready.is_frozen());
    }

    #[test]
    fn states_round_trip_through_text() {
        for s in S::ALL {
            assert_eq!(s.as_str().parse::<S>(), Ok(s));
        }
        assert!("open".parse::<S>().is_err());
    }
}
