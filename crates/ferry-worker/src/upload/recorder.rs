//! Records document outcomes in batches, off the copy path: copies hand
//! their outcomes over a channel and go on, while this task writes them every
//! `flush_rows` outcomes or `flush_interval`, whichever comes first — a few
//! round trips per second instead of one per document, up to two at once. Each flush writes the
//! outcomes and the job's counters in one transaction (see
//! `Store::record_outcomes`). The same tick notices a cancelled migration
//! or a job that ended elsewhere (cancelled through the API, or failed by
//! another batch of a split job).

use std::time::Duration;

use ferry_domain::MigrationState;
use ferry_store::{DocumentOutcome, DocumentStatus, JobRecord, Store, StoreError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Tries of one flush before the job gives up (a database blip heals).
const FLUSH_TRIES: u32 = 4;
/// How long a flush waits for an unavailable database (a restart, a
/// failover) before the job gives up.
const UNAVAILABLE_PATIENCE: Duration = Duration::from_secs(120);

pub struct Recorder {
    pub store: Store,
    pub job: JobRecord,
    pub flush_rows: usize,
    pub flush_interval: Duration,
    /// Cancelled here when the migration is cancelled or the job ended
    /// elsewhere: copies stop.
    pub cancel: CancellationToken,
}

/// Flushes in flight at once: while the database writes one batch, the next
/// fills and may start, so the copies never wait for a flush and both cores
/// serve the database once the copies are done. (Each flush is its own
/// transaction; they touch disjoint ledger rows and meet only on the job's
/// counter row, briefly.)
const FLUSHES_IN_FLIGHT: usize = 2;

/// Outcomes that start a flush as soon as a slot is idle (below this, the
/// per-transaction cost would dominate; the tick flushes the rest).
const MIN_EAGER_ROWS: usize = 200;

type Flushes = tokio::task::JoinSet<Result<(), StoreError>>;

impl Recorder {
    /// Runs until every sender is gone and the last outcomes are written.
    pub async fn run(self, mut rx: mpsc::Receiver<DocumentOutcome>) -> Result<(), StoreError> {
        let mut pending: Vec<DocumentOutcome> = Vec::with_capacity(self.flush_rows);
        let mut flushes = Flushes::new();
        let mut tick = tokio::time::interval(self.flush_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                next = rx.recv() => match next {
                    Some(outcome) => {
                        pending.push(outcome);
                        // Full, or a flush slot is idle and enough waits:
                        // the flush size follows the database's pace, and
                        // little is left to write when the copies end.
                        if pending.len() >= self.flush_rows
                            || (pending.len() >= MIN_EAGER_ROWS && flushes.len() < FLUSHES_IN_FLIGHT)
                        {
                            self.start_flush(&mut flushes, &mut pending).await?;
                        }
                    }
                    None => {
                        self.start_flush(&mut flushes, &mut pending).await?;
                        return drain(&mut flushes, 0).await;
                    }
                },
                Some(done) = flushes.join_next(), if !flushes.is_empty() => {
                    done.map_err(|e| StoreError::Corrupt(format!("a flush failed: {e}")))??;
                    if pending.len() >= MIN_EAGER_ROWS {
                        self.start_flush(&mut flushes, &mut pending).await?;
                    }
                }
                _ = tick.tick() => {
                    self.start_flush(&mut flushes, &mut pending).await?;
                    self.watch_for_cancel().await;
                }
            }
        }
    }

    /// Hands `pending` to a new flush, after waiting for a free slot.
    async fn start_flush(
        &self,
        flushes: &mut Flushes,
        pending: &mut Vec<DocumentOutcome>,
    ) -> Result<(), StoreError> {
        // Finished flushes report their errors here, not only at the end.
        drain(flushes, FLUSHES_IN_FLIGHT - 1).await?;
        if pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(pending, Vec::with_capacity(self.flush_rows));
        let (store, job) = (self.store.clone(), self.job.clone());
        flushes.spawn(async move { flush(&store, &job, &batch).await });
        Ok(())
    }

    async fn watch_for_cancel(&self) {
        if self.cancel.is_cancelled() {
            return;
        }
        match stop_reason(&self.store, &self.job).await {
            Ok(Some(why)) => {
                tracing::info!(why, "stopping the job");
                self.cancel.cancel();
            }
            Ok(None) => {}
            // Not fatal: the next tick asks again.
            Err(e) => tracing::debug!(error = %e, "cannot check for cancellation"),
        }
    }
}

/// Waits until at most `keep` flushes are in flight; the first error.
async fn drain(flushes: &mut Flushes, keep: usize) -> Result<(), StoreError> {
    while flushes.len() > keep {
        match flushes.join_next().await {
            Some(Ok(result)) => result?,
            Some(Err(e)) => return Err(StoreError::Corrupt(format!("a flush failed: {e}"))),
            None => break,
        }
    }
    Ok(())
}

/// Writes `outcomes` and the job's counters in one transaction, riding out a
/// database blip or restart.
async fn flush(
    store: &Store,
    job: &JobRecord,
    outcomes: &[DocumentOutcome],
) -> Result<(), StoreError> {
    let last_error = outcomes
        .iter()
        .rev()
        .find(|o| o.status == DocumentStatus::Failed)
        .map(|o| {
            format!(
                "document {}: {}",
                o.item.document_id,
                o.reason.as_deref().unwrap_or("failed")
            )
        });
    let mut attempt = 1;
    let since = tokio::time::Instant::now();
    loop {
        match store
            .record_outcomes(job, outcomes, last_error.as_deref())
            .await
        {
            Ok(()) => break,
            // The database is restarting or unreachable: the copies are
            // worth keeping, so wait for it rather than fail the job.
            Err(e) if e.is_unavailable() && since.elapsed() < UNAVAILABLE_PATIENCE => {
                tracing::warn!(error = %e, "database unavailable; outcomes wait");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) if attempt < FLUSH_TRIES => {
                tracing::warn!(error = %e, attempt, "recording outcomes failed; retrying");
                tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
    tracing::debug!(rows = outcomes.len(), took = ?since.elapsed(), "outcomes recorded");
    Ok(())
}

/// Why the work of `job` must stop, if it must: its migration was cancelled,
/// or the job itself ended without this worker (cancelled through the API;
/// for a split job, failed by another batch).
pub async fn stop_reason(
    store: &Store,
    job: &JobRecord,
) -> Result<Option<&'static str>, StoreError> {
    if let Some(m) = store.get_migration(&job.migration_id).await?
        && m.state == MigrationState::Cancelled
    {
        return Ok(Some("migration cancelled"));
    }
    Ok(match store.get_job(&job.id).await? {
        Some(j) if j.state.is_finished() => Some("job ended elsewhere (cancelled)"),
        _ => None,
    })
}
