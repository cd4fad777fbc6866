//! The cutover's removals (issue 15): copies in the tenant store that the
//! manifest no longer lists, or lists changed, are deleted before the delta
//! is copied, so the tenant matches the source. Each page of deletions is
//! recorded (ledger and audit) once done; a crash in between deletes the
//! page again on the next attempt, and deleting what is already gone is
//! not an error.

use std::sync::Arc;

use anyhow::Context;
use ferry_store::JobRecord;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::WorkerDeps;

/// Paths deleted per round (and per audit record).
const PAGE: u32 = 1000;

/// Deletes in flight at once.
const CONCURRENT: usize = 16;

/// Deletes every pending removal of `job`'s migration; how many.
pub(super) async fn remove_stale(
    deps: &WorkerDeps,
    job: &JobRecord,
    dst: Arc<dyn ObjectStore>,
) -> anyhow::Result<usize> {
    let mut removed = 0;
    loop {
        let paths = deps.store.pending_removals(&job.migration_id, PAGE).await?;
        if paths.is_empty() {
            return Ok(removed);
        }
        // Deletes are independent round trips (a file system call, an S3
        // request): several at once, as the copies run.
        // Owned values only: the future must be `Send` for any lifetime.
        let deletes: Vec<_> = paths
            .iter()
            .map(|path| {
                let location = Path::parse(format!("{}/documents/{path}", job.tenant))
                    .with_context(|| format!("removal path {path:?}"));
                let (dst, path) = (dst.clone(), path.clone());
                async move {
                    match dst.delete(&location?).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                        Err(e) => Err(e).with_context(|| format!("removing {path:?}")),
                    }
                }
            })
            .collect();
        futures::stream::iter(deletes)
            .buffer_unordered(CONCURRENT)
            .try_collect::<()>()
            .await?;
        deps.store.record_removals(job, &paths).await?;
        removed += paths.len();
        tracing::info!(removed, "removed documents the manifest no longer lists");
        if paths.len() < PAGE as usize {
            // A short page was the last: nothing is added meanwhile (the
            // manifest cannot change while the migration is frozen).
            return Ok(removed);
        }
    }
}
