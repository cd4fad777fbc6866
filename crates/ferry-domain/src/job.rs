//! Jobs: long work that runs in a worker and is polled by clients.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a job does. The service decides it, never the caller (SPEC §3.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// First upload of the database and the documents.
    Upload,
    /// Retry of the documents that were missing or failed.
    Recovery,
    /// A copy of the documents while the source is live (no freeze, no
    /// database dump, no lifecycle move), so the cutover's upload only
    /// copies what changed since.
    Precopy,
}

/// A job's progress through the queue and the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Enqueued, no worker has taken it yet.
    Queued,
    /// A worker runs it.
    Running,
    /// Finished.
    Succeeded,
    /// Gave up after its retries; `last_error` says why.
    Failed,
    /// Stopped on request.
    Cancelled,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upload => "upload",
            Self::Recovery => "recovery",
            Self::Precopy => "precopy",
        }
    }
}

impl JobState {
    pub const ALL: [JobState; 5] = [
        Self::Queued,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

macro_rules! text_enum {
    ($t:ty, $all:expr) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $all.into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| format!("unknown value '{s}'"))
            }
        }
    };
}
text_enum!(
    JobKind,
    [JobKind::Upload, JobKind::Recovery, JobKind::Precopy]
);
text_enum!(JobState, JobState::ALL);

impl JobKind {
    /// The kind of job a start makes, from the state the migration is in.
    pub fn for_start(from: crate::MigrationState) -> Option<JobKind> {
        match from {
            // `uploading`/`recovering`: a restart after a failed or
            // cancelled job resumes the same kind of work.
            crate::MigrationState::Ready | crate::MigrationState::Uploading => {
                Some(JobKind::Upload)
            }
            crate::MigrationState::Uploaded | crate::MigrationState::Recovering => {
                Some(JobKind::Recovery)
            }
            _ => None,
        }
    }

    /// Whether a pre-copy may run on a migration in `state`: while it is
    /// prepared (`draft`, `ready`), before the cutover freezes the source.
    pub fn precopy_allowed(state: crate::MigrationState) -> bool {
        matches!(
            state,
            crate::MigrationState::Draft | crate::MigrationState::Ready
        )
    }

    /// Whether the job freezes the source and copies the database dump.
    pub fn freezes(self) -> bool {
        !matches!(self, Self::Precopy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MigrationState;

    #[test]
    fn start_mode_is_decided_by_state() {
        assert_eq!(
            JobKind::for_start(MigrationState::Ready),
            Some(JobKind::Upload)
        );
        assert_eq!(
            JobKind::for_start(MigrationState::Uploaded),
            Some(JobKind::Recovery)
        );
        assert_eq!(JobKind::for_start(MigrationState::Draft), None);
        assert_eq!(
            JobKind::for_start(MigrationState::Uploading),
            Some(JobKind::Upload)
        );
        assert_eq!(
            JobKind::for_start(MigrationState::Recovering),
            Some(JobKind::Recovery)
        );
        assert_eq!(JobKind::for_start(MigrationState::Completed), None);
    }

    #[test]
    fn precopy_only_before_the_cutover_and_never_frozen() {
        for state in MigrationState::ALL {
            let allowed = matches!(state, MigrationState::Draft | MigrationState::Ready);
            assert_eq!(JobKind::precopy_allowed(state), allowed, "{state:?}");
        }
        assert!(!JobKind::Precopy.freezes());
        assert!(JobKind::Upload.freezes() && JobKind::Recovery.freezes());
        assert_eq!("precopy".parse::<JobKind>(), Ok(JobKind::Precopy));
    }

    #[test]
    fn text_round_trip() {
        for s in JobState::ALL {
            assert_eq!(s.as_str().parse::<JobState>(), Ok(s));
        }
        assert!(JobState::Failed.is_finished() && !JobState::Running.is_finished());
        assert_eq!("recovery".parse::<JobKind>(), Ok(JobKind::Recovery));
    }
}
