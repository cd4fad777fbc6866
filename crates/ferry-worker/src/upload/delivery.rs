//! Delivery (issue 16): after an upload's or a recovery's copies, the
//! committed assignment, the document ledger and the receipt go to the
//! tenant store beside the database and the documents (formats in
//! `ferry_domain::delivery`). Each file is hashed while it is written and
//! the receipt, written last, names each one's size and SHA-256.
//!
//! Idempotent: the files hold no time but the receipt's `written_at`, so a
//! redelivered job writes the same bytes again. A recovery or a later
//! cutover writes them anew, so the receipt always describes the ledger as
//! it stands.

use std::sync::Arc;

use anyhow::Context;
use ferry_domain::delivery::{
    ASSIGNMENT_PATH, AuditHead, LEDGER_PATH, LedgerLine, RECEIPT_FORMAT, RECEIPT_PATH, Receipt,
    ReceiptCounts, ReceiptPart, delivered_users,
};
use ferry_domain::licensing::Roster;
use ferry_store::{DocumentStatus, JobRecord, MigrationRecord};
use futures::TryStreamExt;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::WorkerDeps;

/// Bytes gathered before they go to the writer.
const CHUNK: usize = 64 << 10;

/// Writes the assignment, the ledger and then the receipt for `job`.
pub(super) async fn deliver(
    deps: &WorkerDeps,
    job: &JobRecord,
    migration: &MigrationRecord,
    dst: Arc<dyn ObjectStore>,
) -> anyhow::Result<Receipt> {
    let store = &deps.store;
    let since = std::time::Instant::now();
    let tenant = migration.tenant.as_str();
    let at = |rel: &str| Path::parse(format!("{tenant}/{rel}"));

    let (users, sats) = store.load_roster(&migration.id).await?;
    let roster = Roster::from_inputs(&users, &sats)
        .map_err(|e| anyhow::anyhow!("the stored roster no longer loads: {e:?}"))?;
    let committed = store.load_committed(&migration.id).await?;
    let mut file = Hashed::new(dst.clone(), at(ASSIGNMENT_PATH)?);
    let mut counts = ReceiptCounts::default();
    for user in delivered_users(&roster, &committed) {
        counts.users += 1;
        counts.licensed_users += u64::from(user.plan.is_some());
        file.line(&user).await?;
    }
    let assignment = file.finish(ASSIGNMENT_PATH).await?;
    tracing::debug!(
        since_start_ms = since.elapsed().as_secs_f64() * 1e3,
        "assignment written"
    );

    let mut file = Hashed::new(dst.clone(), at(LEDGER_PATH)?);
    let mut rows = store.ledger_rows(&migration.id);
    while let Some(row) = rows.try_next().await? {
        counts.documents += 1;
        match row.status {
            DocumentStatus::Uploaded => counts.documents_uploaded += 1,
            DocumentStatus::Missing => counts.documents_missing += 1,
            DocumentStatus::Failed => counts.documents_failed += 1,
            DocumentStatus::Pending => {}
        }
        file.line(&LedgerLine {
            path: row.path.as_str().into(),
            size: row.size,
            sha256: row.sha256.as_deref().map(Into::into),
            status: row.status.as_str().into(),
        })
        .await?;
    }
    drop(rows);
    tracing::debug!(
        since_start_ms = since.elapsed().as_secs_f64() * 1e3,
        "ledger written"
    );
    let ledger = file.finish(LEDGER_PATH).await?;

    let database = match store.last_database_copy(&migration.id).await? {
        Some((bytes, sha256)) => Some(ReceiptPart {
            path: format!("database/{}", dump_name(&migration.database_url)?),
            bytes: u64::try_from(bytes).unwrap_or(0),
            sha256,
        }),
        None => None,
    };
    let (seq, hash) = store.audit_head().await?;
    let receipt = Receipt {
        format: RECEIPT_FORMAT.to_owned(),
        migration_id: migration.id.clone(),
        tenant: tenant.to_owned(),
        source_version: migration.source_version.to_string(),
        job_id: job.id.clone(),
        written_at: ferry_store::now(),
        database,
        assignment,
        ledger,
        counts,
        audit_head: AuditHead { seq, hash },
    };
    let body = serde_json::to_vec_pretty(&receipt)?;
    dst.put(&at(RECEIPT_PATH)?, PutPayload::from(body))
        .await
        .context("writing the receipt")?;
    tracing::info!(
        users = receipt.counts.users,
        documents = receipt.counts.documents,
        "assignment, ledger and receipt delivered"
    );
    Ok(receipt)
}

/// The dump's file name, as the upload stored it under `database/`.
fn dump_name(database_url: &str) -> anyhow::Result<String> {
    let source = super::archive::Source::open(database_url).context("the database dump")?;
    source
        .path
        .filename()
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .context("the database URL names no file")
}

/// A file written through `object_store` (multipart when large), hashed
/// and counted on the way.
struct Hashed {
    writer: BufWriter,
    sha: Sha256,
    bytes: u64,
    pending: Vec<u8>,
}

impl Hashed {
    fn new(store: Arc<dyn ObjectStore>, path: Path) -> Self {
        Self {
            writer: BufWriter::new(store, path),
            sha: Sha256::new(),
            bytes: 0,
            pending: Vec::with_capacity(CHUNK + 1024),
        }
    }

    /// One JSON value and a line feed.
    async fn line<T: serde::Serialize>(&mut self, value: &T) -> anyhow::Result<()> {
        serde_json::to_writer(&mut self.pending, value)?;
        self.pending.push(b'\n');
        if self.pending.len() >= CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        self.sha.update(&self.pending);
        self.bytes += self.pending.len() as u64;
        self.writer.write_all(&self.pending).await?;
        self.pending.clear();
        Ok(())
    }

    async fn finish(mut self, rel: &str) -> anyhow::Result<ReceiptPart> {
        self.flush().await?;
        self.writer
            .shutdown()
            .await
            .with_context(|| format!("writing {rel}"))?;
        Ok(ReceiptPart {
            path: rel.to_owned(),
            bytes: self.bytes,
            sha256: hex::encode(self.sha.finalize()),
        })
    }
}
