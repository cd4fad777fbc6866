//! One job, from message to finished record.

use std::sync::Arc;

use apalis_core::error::BoxDynError;
use apalis_core::task::data::Data;
use apalis_core::worker::context::WorkerContext;
use ferry_domain::{JobKind, JobState};
use ferry_queue::JobMessage;
use ferry_store::{BatchEnd, BatchRecord, JobRecord};
use tokio_util::task::AbortOnDropHandle;
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
    let deps = Arc::clone(&deps);
    own_task(async move { execute(&deps, job).await }.instrument(span)).await
}

/// Runs `work` as a task of its own, not inside the worker's task.
///
/// apalis-core 1.0 asks the queue for work every time the worker's task is
/// polled with a free slot (the poll strategy only adds wake-ups), and a
/// job polled inside that task woke it at every I/O completion: an upload
/// to S3 made ~50 queue fetches a second, about 1 ms of CPU each on the
/// embedded queue. Dropping the returned future (a shutdown past its
/// timeout) aborts the work, as dropping the job's future did.
async fn own_task<T: Send + 'static>(
    work: impl Future<Output = Result<T, BoxDynError>> + Send + 'static,
) -> Result<T, BoxDynError> {
    match AbortOnDropHandle::new(tokio::spawn(work)).await {
        Ok(result) => result,
        Err(e) => Err(format!("the job's task ended abnormally: {e}").into()),
    }
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll};

    use apalis_core::backend::TaskSink;
    use apalis_core::backend::ext::BackendExt;
    use apalis_core::backend::ext::poll_strategy::{PollSnapshot, PollStrategy};
    use apalis_core::backend::memory::MemoryStorage;
    use apalis_core::worker::builder::WorkerBuilder;

    use super::*;

    /// Counts how often the worker polls its queue stream (apalis-core
    /// drives the strategy once per poll of the backend).
    struct Counting(Arc<AtomicUsize>);

    impl PollStrategy for Counting {
        fn poll_drive(&mut self, _: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Poll::Pending
        }
    }

    /// A job that is woken often, as a copy is by its reads and writes.
    async fn wakeful() -> Result<(), BoxDynError> {
        for _ in 0..2_000 {
            tokio::task::yield_now().await;
        }
        Ok(())
    }

    async fn inline(_: u32, worker: WorkerContext) -> Result<(), BoxDynError> {
        let done = wakeful().await;
        worker.stop()?;
        done
    }

    async fn spawned(_: u32, worker: WorkerContext) -> Result<(), BoxDynError> {
        let done = own_task(wakeful()).await;
        worker.stop()?;
        done
    }

    async fn queue_polls(spawn: bool) -> usize {
        let polls = Arc::new(AtomicUsize::new(0));
        let mut store = MemoryStorage::new();
        store.push(1_u32).await.expect("push");
        let backend = store.poll_with_strategy(Counting(polls.clone()));
        if spawn {
            WorkerBuilder::new("spawned")
                .backend(backend)
                .build(spawned)
                .run()
                .await
        } else {
            WorkerBuilder::new("inline")
                .backend(backend)
                .build(inline)
                .run()
                .await
        }
        .expect("worker");
        polls.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn a_running_job_does_not_make_the_worker_poll_its_queue() {
        let inline = queue_polls(false).await;
        assert!(inline > 1_000, "inside the worker's task: {inline} polls");
        let own = queue_polls(true).await;
        assert!(own < 20, "as its own task: {own} polls");
    }
}
