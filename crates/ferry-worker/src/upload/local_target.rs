//! The tenant store as a local folder: documents and the dump whose source
//! is a local file too are copied by `transfer::local` (one blocking task per
//! document, no `object_store` hops), at the same paths `object_store` would
//! use and under the job's bandwidth limit.

use std::path::PathBuf;
use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::path::Path;
use tokio_util::sync::CancellationToken;

use super::files::DocumentFiles;
use super::throttle::Pacer;
use crate::WorkerDeps;
use crate::transfer::local::{
    LocalCopy, LocalOptions, already_present_local, copy_file_with_retry, copy_local_with_retry,
};
use crate::transfer::{CopyError, CopyOutcome, Expected, RetryPolicy};

pub struct LocalTarget {
    /// Maps object paths to files exactly as the tenant store does.
    fs: LocalFileSystem,
    opts: LocalOptions,
    retry: RetryPolicy,
}

impl LocalTarget {
    /// `None` unless the tenant store is a local folder.
    pub fn of(deps: &WorkerDeps, cancel: &CancellationToken) -> Option<LocalTarget> {
        let root = deps.tenants.local_root()?;
        let fs = LocalFileSystem::new_with_prefix(root).ok()?;
        let pace = deps.transfer.max_bytes_per_sec.map(|rate| {
            let pacer = Arc::new(Pacer::new(rate));
            let handle = tokio::runtime::Handle::current();
            // Called on the copying (blocking) thread, never on the runtime.
            Arc::new(move |bytes| handle.block_on(pacer.wait(bytes))) as _
        });
        Some(LocalTarget {
            fs,
            opts: LocalOptions {
                cancel: cancel.clone(),
                pace,
                ..LocalOptions::default()
            },
            retry: deps.transfer.retry,
        })
    }

    /// The file behind the object `dst`.
    pub fn file(&self, dst: &Path) -> Result<PathBuf, CopyError> {
        self.fs
            .path_to_filesystem(dst)
            .map_err(|e| CopyError::Permanent(e.to_string()))
    }

    /// The files of the documents under `prefix`, as the tenant store
    /// names them.
    pub fn documents(&self, prefix: &Path) -> Option<DocumentFiles> {
        DocumentFiles::new(&self.fs, prefix).ok()
    }

    /// [`LocalTarget::copy`] on this (blocking) thread, into the file `dst`
    /// (see [`LocalTarget::documents`]); `resume`: first look whether an
    /// earlier attempt stored the document already.
    pub fn copy_blocking(
        &self,
        src: PathBuf,
        src_root: PathBuf,
        dst: PathBuf,
        expected: &Expected,
        resume: bool,
    ) -> Result<CopyOutcome, CopyError> {
        if resume
            && let Some(sha) = &expected.sha256
            && already_present_local(&dst, expected)
        {
            return Ok(CopyOutcome {
                bytes: expected.size.unwrap_or_default(),
                sha256: sha.to_ascii_lowercase(),
            });
        }
        let job = LocalCopy {
            src,
            src_root: Some(src_root),
            dst,
            expected: expected.clone(),
        };
        copy_file_with_retry(&job, &self.opts, &self.retry)
    }

    /// Copies the local file `src` to the object `dst`, verified; `src_root`:
    /// the folder `src` must resolve inside (the archive's).
    pub async fn copy(
        &self,
        src: PathBuf,
        src_root: Option<PathBuf>,
        dst: &Path,
        expected: &Expected,
    ) -> Result<CopyOutcome, CopyError> {
        let job = LocalCopy {
            src,
            src_root,
            dst: self.file(dst)?,
            expected: expected.clone(),
        };
        copy_local_with_retry(job, &self.opts, &self.retry).await
    }
}
