//! The cutover's removals (issue 15): copies in the tenant store that the
//! manifest no longer lists, or lists changed, are deleted before the delta
//! is copied, so the tenant matches the source. Each page of deletions is
//! recorded (ledger and audit) once done; a crash in between deletes the
//! page again on the next attempt, and deleting what is already gone is
//! not an error.

use anyhow::Context;
use ferry_store::JobRecord;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::WorkerDeps;

/// Paths deleted per round (and per audit record).
const PAGE: u32 = 1000;

/// Deletes every pending removal of `job`'s migration; how many.
pub(super) async fn remove_stale(
    deps: &WorkerDeps,
    job: &JobRecord,
    dst: &dyn ObjectStore,
) -> anyhow::Result<usize> {
    let mut removed = 0;
    loop {
        let paths = deps.store.pending_removals(&job.migration_id, PAGE).await?;
        if paths.is_empty() {
            return Ok(removed);
        }
        for path in &paths {
            let location = Path::parse(format!("{}/documents/{path}", job.tenant))
                .with_context(|| format!("removal path {path:?}"))?;
            match dst.delete(&location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e).with_context(|| format!("removing {path:?}")),
            }
        }
        deps.store.record_removals(job, &paths).await?;
        removed += paths.len();
        tracing::info!(removed, "removed documents the manifest no longer lists");
    }
}
