//! Manifest rows without a SHA-256 (issue 15): whether such a document is
//! unchanged since it was copied is decided from one listing of the archive
//! — its size and tag (ETag, else modification time) against those the
//! listing showed when the copy was made — never by reading it again.

use anyhow::Context;
use ferry_domain::JobKind;
use ferry_store::{JobRecord, MigrationRecord};
use futures::TryStreamExt;

use super::archive::Archive;
use crate::WorkerDeps;

/// Listing entries sent to the store per statement.
const PAGE: usize = 5000;

/// Lists the archive once (only when a row lacks a SHA-256) and hands the
/// listing to the store (`Store::apply_listing`).
pub(super) async fn compare(
    deps: &WorkerDeps,
    job: &JobRecord,
    migration: &MigrationRecord,
) -> anyhow::Result<()> {
    // An upload with no earlier copies to compare against (no pre-copy, or
    // nothing left over from one) has no use for the tags: after it the
    // manifest can no longer change. A pre-copy always records them.
    // (Asked first: one row at most, where the next question reads every
    // open row of the ledger — a first upload's whole manifest.)
    if job.kind == JobKind::Upload
        && deps
            .store
            .pending_removals(&job.migration_id, 1)
            .await?
            .is_empty()
    {
        return Ok(());
    }
    if !deps.store.has_rows_without_sha(&job.migration_id).await? {
        return Ok(());
    }
    // A web server lists nothing (a static one refuses WebDAV's PROPFIND):
    // the rows without a SHA-256 stay pending and are simply copied again.
    if migration.archive_url.starts_with("http://") || migration.archive_url.starts_with("https://")
    {
        tracing::info!("no listing of a web archive: documents without a SHA-256 are copied again");
        return Ok(());
    }
    let archive = Archive::open(&migration.archive_url).context("opening the document archive")?;
    let mut pages = std::pin::pin!(archive.listing().try_chunks(PAGE));
    let mut listed = 0;
    while let Some(page) = pages.try_next().await.map_err(|e| e.1)? {
        deps.store.apply_listing(&job.migration_id, &page).await?;
        listed += page.len();
    }
    tracing::info!(listed, "archive listed for documents without a SHA-256");
    Ok(())
}
