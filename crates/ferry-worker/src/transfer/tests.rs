use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};

use super::*;

mod copy;
mod failures;

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn mem() -> Arc<dyn ObjectStore> {
    Arc::new(InMemory::new())
}

fn path(s: &str) -> Path {
    Path::parse(s).expect("path")
}

fn expect(bytes: &[u8]) -> Expected {
    Expected {
        size: Some(bytes.len() as u64),
        sha256: Some(sha(bytes)),
    }
}

/// Multipart from 4 KiB on, 1 KiB parts, odd-sized reads.
fn small_parts() -> CopyOptions {
    CopyOptions {
        multipart_threshold: 4096,
        min_part_size: 1024,
        part_concurrency: 2,
        read_chunk: 700,
        ..CopyOptions::default()
    }
}

async fn put(store: &dyn ObjectStore, at: &str, bytes: &[u8]) {
    store
        .put(&path(at), bytes.to_vec().into())
        .await
        .expect("put");
}

async fn read(store: &dyn ObjectStore, at: &str) -> Option<Vec<u8>> {
    let got = store.get(&path(at)).await.ok()?;
    Some(got.bytes().await.expect("bytes").to_vec())
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let p = entry.expect("entry").path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn local(dir: &tempfile::TempDir) -> Arc<dyn ObjectStore> {
    Arc::new(LocalFileSystem::new_with_prefix(dir.path()).expect("local store"))
}

async fn copy(
    src: &dyn ObjectStore,
    dst: &dyn ObjectStore,
    expected: &Expected,
    opts: &CopyOptions,
) -> Result<CopyOutcome, CopyError> {
    copy_object(src, &path("in/doc"), dst, &path("out/doc"), expected, opts).await
}
