//! `ferry receipt verify <tenant-store-url> <tenant>` (issue 16): checks a
//! tenant store against the receipt an upload left in it — every delivered
//! file (database dump, assignment, ledger) and every document the ledger
//! calls uploaded, by size and SHA-256. It reads the tenant store directly
//! (`file://…`, or `s3://bucket/prefix` with the usual `AWS_*` variables),
//! not the Ferry server: the cloud side runs it on what it received.
//! Exit 0 when everything matches, 1 when anything does not.

use std::sync::Arc;

use ferry_domain::TenantSlug;
use ferry_domain::delivery::{
    LEDGER_PATH, LedgerLine, RECEIPT_FORMAT, RECEIPT_PATH, Receipt, part_mismatch,
};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::exit::{Exit, Failure, Outcome};
use super::output::Out;

/// Documents hashed at once.
const CONCURRENT: usize = 8;

/// Problems listed one by one; the rest are counted.
const LISTED: usize = 50;

pub async fn verify(out: Out, url: &str, tenant: &str) -> Outcome {
    let tenant = TenantSlug::parse(tenant)
        .map_err(|e| Failure::usage(format!("tenant {tenant:?}: {}", e.message)))?;
    let store = ferry_tenant::TenantStore::open(url)
        .map_err(|e| Failure::usage(format!("tenant store {url:?}: {e}")))?
        .object_store();
    let at = |rel: &str| {
        Path::parse(format!("{}/{rel}", tenant.as_str()))
            .map_err(|e| Failure::internal(format!("{rel}: {e}")))
    };
    let receipt: Receipt = match store.get(&at(RECEIPT_PATH)?).await {
        Ok(got) => {
            let body = got.bytes().await.map_err(network)?;
            serde_json::from_slice(&body)
                .map_err(|e| mismatch(out, &[format!("{RECEIPT_PATH} is not a receipt: {e}")]))?
        }
        Err(object_store::Error::NotFound { .. }) => {
            return Err(mismatch(
                out,
                &[format!("no {RECEIPT_PATH} for tenant {tenant}")],
            ));
        }
        Err(e) => return Err(network(e)),
    };
    if receipt.format != RECEIPT_FORMAT || receipt.tenant != tenant.as_str() {
        return Err(mismatch(
            out,
            &[format!(
                "the receipt is {:?} for tenant {:?}, not {RECEIPT_FORMAT:?} for {tenant}",
                receipt.format, receipt.tenant
            )],
        ));
    }
    let mut problems = Vec::new();
    for (_, part) in receipt.parts() {
        let found = digest(&store, &at(&part.path)?).await.map_err(network)?;
        if let Some(p) = part_mismatch(part, found.as_ref().map(|(n, s)| (*n, s.as_str()))) {
            problems.push(p);
        }
    }
    // The documents, only when the ledger file itself is what the receipt
    // says: a changed ledger could claim anything.
    let mut documents = 0u64;
    if problems.is_empty() {
        // Streamed a line at a time: a ledger of millions of documents is
        // never held whole, and hashing starts with its first line.
        let got = store.get(&at(LEDGER_PATH)?).await.map_err(network)?;
        let reader =
            tokio_util::io::StreamReader::new(got.into_stream().map_err(std::io::Error::other));
        let lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(reader));
        let numbered = futures::stream::unfold((lines, 0u64), |(mut lines, n)| async move {
            match lines.next_line().await {
                Ok(Some(line)) => Some((Ok((n + 1, line)), (lines, n + 1))),
                Ok(None) => None,
                Err(e) => Some((Err(e), (lines, n + 1))),
            }
        });
        let checked = numbered
            .map(|item| {
                let (store, tenant) = (store.clone(), tenant.clone());
                async move {
                    let (n, line) = item.map_err(|e| {
                        Failure::new(Exit::Network, format!("reading {LEDGER_PATH}: {e}"))
                    })?;
                    if line.is_empty() {
                        return Ok::<_, Failure>((false, None));
                    }
                    match serde_json::from_str::<LedgerLine>(&line) {
                        Ok(l) if l.status == "uploaded" => {
                            let path =
                                Path::parse(format!("{}/documents/{}", tenant.as_str(), l.path));
                            Ok((true, check_document(&store, path, &l).await?))
                        }
                        Ok(_) => Ok((false, None)),
                        Err(e) => Ok((false, Some(format!("{LEDGER_PATH} line {n}: {e}")))),
                    }
                }
            })
            .buffered(CONCURRENT);
        let mut checked = std::pin::pin!(checked);
        while let Some(result) = checked.next().await {
            let (document, problem): (bool, Option<String>) = result?;
            documents += u64::from(document);
            problems.extend(problem);
        }
    }
    if !problems.is_empty() {
        return Err(mismatch(out, &problems));
    }
    let summary = json!({
        "ok": true,
        "migration_id": receipt.migration_id,
        "job_id": receipt.job_id,
        "written_at": receipt.written_at,
        "documents_checked": documents,
        "counts": receipt.counts,
        "audit_head": receipt.audit_head,
    });
    out.result(&summary, || {
        format!(
            "tenant {tenant} matches its receipt (migration {}, written {}): {} delivered files and {documents} documents checked",
            receipt.migration_id,
            receipt.written_at,
            receipt.parts().len()
        )
    });
    Ok(Exit::Ok)
}

async fn check_document(
    store: &Arc<dyn ObjectStore>,
    path: Result<Path, object_store::path::Error>,
    line: &LedgerLine<'_>,
) -> Result<Option<String>, Failure> {
    let Ok(path) = path else {
        return Ok(Some(format!("document {:?}: not a valid path", line.path)));
    };
    let found = digest(store, &path).await.map_err(network)?;
    Ok(match (found, &line.sha256) {
        (None, _) => Some(format!("document {} is not in the tenant store", line.path)),
        (Some((n, _)), _) if i64::try_from(n).ok() != Some(line.size) => Some(format!(
            "document {} has {n} bytes, the ledger says {}",
            line.path, line.size
        )),
        (Some((_, sha)), Some(want)) if !sha.eq_ignore_ascii_case(want) => Some(format!(
            "document {} has SHA-256 {sha}, the ledger says {want}",
            line.path
        )),
        _ => None,
    })
}

/// Size and SHA-256 of the object at `path`, read as a stream; `None` when
/// there is none.
async fn digest(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
) -> Result<Option<(u64, String)>, object_store::Error> {
    let got = match store.get(path).await {
        Ok(got) => got,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut stream = got.into_stream();
    let (mut sha, mut n) = (Sha256::new(), 0u64);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        sha.update(&chunk);
        n += chunk.len() as u64;
    }
    Ok(Some((n, hex::encode(sha.finalize()))))
}

fn network(e: object_store::Error) -> Failure {
    Failure::new(Exit::Network, format!("reading the tenant store: {e}"))
}

/// The failure that says what does not match (exit 1); under `--json` the
/// list is printed on stdout as well.
fn mismatch(out: Out, problems: &[String]) -> Failure {
    let listed: Vec<&String> = problems.iter().take(LISTED).collect();
    let more = problems.len().saturating_sub(LISTED);
    let body = json!({ "ok": false, "problems": listed, "more": more });
    let mut message = format!(
        "the tenant store does not match its receipt ({} problem{}):",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in &listed {
        message.push_str("\n  - ");
        message.push_str(p);
    }
    if more > 0 {
        message.push_str(&format!("\n  … and {more} more"));
    }
    Failure {
        exit: Exit::Internal,
        message,
        body: Some(body).filter(|_| out.json),
    }
}
