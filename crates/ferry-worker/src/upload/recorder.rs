//! Records document outcomes in batches, off the copy path: copies hand
//! their outcomes over a channel and go on, while this task writes them every
//! `flush_rows` outcomes or `flush_interval`, whichever comes first — a few
//! round trips per second instead of one per document. Each flush writes the
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

impl Recorder {
    /// Runs until every sender is gone and the last outcomes are written.
    pub async fn run(self, mut rx: mpsc::Receiver<DocumentOutcome>) -> Result<(), StoreError> {
        let mut pending: Vec<DocumentOutcome> = Vec::with_capacity(self.flush_rows);
        let mut tick = tokio::time::interval(self.flush_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                next = rx.recv() => match next {
                    Some(outcome) => {
                        pending.push(outcome);
                        if pending.len() >= self.flush_rows {
                            self.flush(&mut pending).await?;
                        }
                    }
                    None => return self.flush(&mut pending).await,
                },
                _ = tick.tick() => {
                    self.flush(&mut pending).await?;
                    self.watch_for_cancel().await;
                }
            }
        }
    }

    async fn flush(&self, pending: &mut Vec<DocumentOutcome>) -> Result<(), StoreError> {
        if pending.is_empty() {
            return Ok(());
        }
        let last_error = pending
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
            match self
                .store
                .record_outcomes(&self.job, pending, last_error.as_deref())
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
        pending.clear();
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
