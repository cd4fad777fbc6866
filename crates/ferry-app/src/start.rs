//! Start an upload or a recovery (SPEC §3.6–§3.8): `POST …/start` and the
//! recovery sweep both come here.
//!
//! The state database decides everything in one transaction
//! (`Store::start_migration`: the lifecycle step, the job row, its dispatch
//! record, the freeze and the audit record); the dispatcher pushes the job
//! to the queue once that has committed. The queue is asked first whether it
//! answers at all: a start freezes the customer's source, and freezing it
//! while no worker can be told is refused (503) rather than left to wait.

use ferry_queue::QueueError;
use ferry_store::{IdempotencyClaim, StartRequest, Started, StoreError};

use crate::Dispatcher;

/// Why a start did not happen; nothing changed in any case.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the queue is unavailable: {0}")]
    QueueUnavailable(#[source] QueueError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Starts what the migration's state calls for; with an idempotency key a
/// retry gets the first answer back (`render` makes it).
pub async fn start(
    dispatcher: &Dispatcher,
    req: StartRequest<'_>,
    render: impl FnOnce(&Started) -> (u16, String),
) -> Result<IdempotencyClaim<Started>, StartError> {
    queue_answers(dispatcher).await?;
    let claim = dispatcher.store().start_migration(req, render).await?;
    Ok(announced(dispatcher, claim, "job started"))
}

/// Starts a pre-copy (issue 15): the documents are copied while the source
/// stays live; the migration's state and freeze do not change. The same
/// queue check as a start: a pre-copy no worker hears of would only sit in
/// the outbox, and the migrator is better told now.
pub async fn precopy(
    dispatcher: &Dispatcher,
    req: StartRequest<'_>,
    render: impl FnOnce(&Started) -> (u16, String),
) -> Result<IdempotencyClaim<Started>, StartError> {
    queue_answers(dispatcher).await?;
    let claim = dispatcher.store().start_precopy(req, render).await?;
    Ok(announced(dispatcher, claim, "pre-copy started"))
}

async fn queue_answers(dispatcher: &Dispatcher) -> Result<(), StartError> {
    dispatcher
        .queue()
        .ping(dispatcher.settings().queue_timeout)
        .await
        .map_err(StartError::QueueUnavailable)
}

/// Logs a fresh start and wakes the dispatcher to push it at once.
fn announced(
    dispatcher: &Dispatcher,
    claim: IdempotencyClaim<Started>,
    what: &'static str,
) -> IdempotencyClaim<Started> {
    if let IdempotencyClaim::Fresh(started) = &claim {
        tracing::info!(migration_id = %started.migration.id, job_id = %started.job.id, kind = %started.job.kind, "{what}");
        dispatcher.kick();
    }
    claim
}
