//! One job, from message to finished record.

use std::sync::Arc;

use apalis_core::error::BoxDynError;
use apalis_core::task::data::Data;
use apalis_core::worker::context::WorkerContext;
use ferry_domain::{JobKind, JobState};
use ferry_queue::JobMessage;
use ferry_store::{BatchEnd, BatchRecord, JobRecord};
use tracing::Instrument;

use crate::WorkerDeps;

pub(crate) async fn handle(
    msg: JobMessage,
    deps: Data<Arc<WorkerDeps>>,
    worker: WorkerContext,
) -> Result<(), BoxDynError> {
    let Some(job) = take(&deps, &msg, worker.name()).await? else {
        return Ok(());
    };
    let span = tracing::info_span!("job", job_id = %job.id, kind = %job.kind, migration_id = %job.migration_id);
    execute(&deps, job).instrument(span).await
}

async fn execute(deps: &WorkerDeps, job: JobRecord) -> Result<(), BoxDynError> {
    if let Some(batch) = deps.store.get_batch(&job.id).await? {
        return execute_batch(deps, job, batch).await;
    }
    tracing::info!(attempt = job.attempts, "job running");
    match run_job(deps, &job).await {
        Ok(JobState::Running) => {
            tracing::info!("job handed to its batches; the last one finishes it");
        }
        Ok(state) => {
            deps.store.job_finished(&job.id, state, None).await?;
            tracing::info!(state = %state, "job finished");
        }
        Err(e) => {
            // A failure that will not heal by retrying (the transfer issue
            // adds retries with back-off for transient ones inside the job).
            let message = format!("{e:#}");
            deps.store
                .job_finished(&job.id, JobState::Failed, Some(&message))
                .await?;
            tracing::warn!(error = %message, "job failed");
        }
    }
    Ok(())
}

/// One batch of a job split into batches (see `ferry_store::BatchRecord`):
/// runs it for its parent and records its end; the last batch finishes the
/// parent.
async fn execute_batch(
    deps: &WorkerDeps,
    job: JobRecord,
    batch: BatchRecord,
) -> Result<(), BoxDynError> {
    let parent = deps.store.get_job(&batch.parent_id).await?.ok_or_else(|| {
        format!(
            "the parent job {} of batch {} vanished",
            batch.parent_id, job.id
        )
    })?;
    tracing::info!(
        attempt = job.attempts,
        parent_id = %batch.parent_id,
        first_seq = batch.first_seq,
        last_seq = batch.last_seq,
        "batch running"
    );
    let run = if parent.state.is_finished() {
        // Another batch failed or the job was cancelled: nothing to copy.
        Ok(JobState::Cancelled)
    } else {
        crate::upload::run_batch(deps, &parent, &batch, job.attempts).await
    };
    let (mut state, mut error) = match run {
        Ok(state) => (state, None),
        Err(e) => (JobState::Failed, Some(format!("{e:#}"))),
    };
    let mut end = deps
        .store
        .batch_finished(&batch, state, error.as_deref())
        .await?;
    if end == BatchEnd::EndDue {
        // Every other batch succeeded: the job's end (delivery, cleanup)
        // runs before the finishing commit, so a poller never sees the job
        // `succeeded` without its receipt, and a kill before that commit
        // leaves this batch running for its redelivery to end it. A failed
        // delivery fails the job.
        if let Err(e) = crate::upload::finish_split(deps, &parent).await {
            (state, error) = (JobState::Failed, Some(format!("{e:#}")));
        }
        end = deps
            .store
            .last_batch_finished(&batch, state, error.as_deref())
            .await?;
    }
    // A slot of the migration's batches is free: the next one may go.
    if let Some(dispatcher) = &deps.dispatcher {
        dispatcher.kick();
    }
    match end {
        BatchEnd::AlreadyFinished => {}
        BatchEnd::More { done, total } => {
            tracing::info!(state = %state, done, total, error, "batch finished");
        }
        BatchEnd::Last { state: end } => {
            tracing::info!(state = %state, job_state = %end, error, "batch finished; it was the last: job finished");
        }
        BatchEnd::EndDue => {
            return Err("the last batch was told its end is due after running it".into());
        }
    }
    Ok(())
}

/// Marks the job running for this worker, or `None` when there is nothing
/// to do: the job is finished (a redelivery), running under a later push,
/// or unknown. A message is pushed only after its job committed (see
/// `ferry_store::outbox`), so an unknown job is one purged since.
async fn take(
    deps: &WorkerDeps,
    msg: &JobMessage,
    worker: &str,
) -> Result<Option<JobRecord>, BoxDynError> {
    if let Some(job) = deps
        .store
        .job_started(&msg.job_id, worker, msg.push)
        .await?
    {
        return Ok(Some(job));
    }
    match deps.store.get_job(&msg.job_id).await? {
        Some(existing) => {
            tracing::info!(job_id = %msg.job_id, push = msg.push, state = %existing.state, "job finished or taken by another push; acknowledging the message");
        }
        None => tracing::warn!(job_id = %msg.job_id, "no job row for message; acknowledging it"),
    }
    Ok(None)
}

/// The work of one job; the state to record when it is done (`succeeded`,
/// or `cancelled` when the migration was cancelled meanwhile).
pub async fn run_job(deps: &WorkerDeps, job: &JobRecord) -> anyhow::Result<JobState> {
    match job.kind {
        JobKind::Upload | JobKind::Recovery | JobKind::Precopy => {
            crate::upload::run(deps, job).await
        }
    }
}
