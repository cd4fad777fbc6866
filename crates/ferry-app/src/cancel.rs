//! Cancel a queued or running job (SPEC §3.6): `POST /v1/jobs/{id}/cancel`.
//! The job ends `cancelled` with its batches, and the audit record is
//! written in that same transaction (`Store::cancel_job`), so a cancel is
//! never without its record. The migration keeps its state and freeze: a
//! start resumes the work.

use ferry_store::{JobRecord, Store, StoreError};

/// Why nothing was cancelled; nothing changed in any case.
#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    /// No such job, or one the caller may not see (the same answer, so a
    /// key cannot probe other tenants' job ids).
    #[error("no such job")]
    NotFound,
    #[error("job {0} already ended")]
    Ended(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Cancels job `job_id` on behalf of API key `actor`, if `visible` says the
/// caller may see its tenant; the cancelled job.
pub async fn cancel(
    store: &Store,
    job_id: &str,
    actor: &str,
    visible: impl FnOnce(&str) -> bool,
) -> Result<JobRecord, CancelError> {
    let job = match store.get_job(job_id).await? {
        Some(j) if visible(&j.tenant) => j,
        _ => return Err(CancelError::NotFound),
    };
    if job.state.is_finished() {
        return Err(CancelError::Ended(job.id));
    }
    match store.cancel_job(&job.id, Some(actor)).await? {
        Some((_, cancelled)) => {
            tracing::info!(job_id = %cancelled.id, migration_id = %cancelled.migration_id, "job cancelled");
            Ok(cancelled)
        }
        // It ended between the read and the cancel.
        None => Err(CancelError::Ended(job.id)),
    }
}
