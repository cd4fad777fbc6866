//! The source side of an upload: the database dump and the document archive
//! behind the migration's URLs.
//!
//! A manifest path can only name something below the archive root (the
//! domain's `DocumentPath` rules), but on a local disk a *symlink* inside the
//! archive can still point anywhere, and `object_store`'s `LocalFileSystem`
//! follows it. So for `file://` archives every document is resolved first
//! (`canonicalize`) and refused unless it stays inside the archive's own
//! resolved root. The check and the open are two steps; the source is frozen
//! while it is read, and the check is about mistakes and planted links in an
//! export, not about an attacker racing the worker on the source host.

use std::path::PathBuf;
use std::sync::Arc;

use ferry_domain::manifest::DocumentPath;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use super::files::DocumentFiles;
use crate::transfer::{CopyError, under};

/// A source URL opened for reading.
pub struct Source {
    pub store: Arc<dyn ObjectStore>,
    pub path: Path,
    local: bool,
}

impl Source {
    pub fn open(url: &str) -> anyhow::Result<Source> {
        let (store, path) = ferry_tenant::source::open_source(url)
            .map_err(|e| anyhow::anyhow!("cannot open the source URL: {e}"))?;
        let local = url.starts_with("file:");
        Ok(Source { store, path, local })
    }

    /// The file behind a `file://` URL (`None` for other stores).
    pub fn local_file(&self) -> Option<PathBuf> {
        if !self.local {
            return None;
        }
        LocalFileSystem::new().path_to_filesystem(&self.path).ok()
    }

    /// The object's size; `None` when it does not exist.
    pub async fn size(&self) -> anyhow::Result<Option<u64>> {
        match self.store.head(&self.path).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(anyhow::anyhow!("cannot read the source: {e}")),
        }
    }
}

/// The document archive.
pub struct Archive {
    pub store: Arc<dyn ObjectStore>,
    base: Path,
    local: Option<LocalRoot>,
}

struct LocalRoot {
    files: DocumentFiles,
    /// The archive folder with every symlink resolved.
    root: PathBuf,
}

/// Why a local document may not be read.
enum Refusal {
    NotFound,
    Outside,
    Io(String),
}

impl Archive {
    /// One listing of the whole archive: every object's path (relative to
    /// the archive), size and tag — its ETag, else its modification time.
    /// What a manifest row without a SHA-256 is compared by (issue 15).
    /// Streamed, so an archive of millions of documents is never held whole.
    pub fn listing(
        &self,
    ) -> impl futures::Stream<Item = anyhow::Result<(String, u64, String)>> + '_ {
        use futures::StreamExt;
        let prefix = self.base.as_ref().trim_end_matches('/').to_owned();
        let base = (!prefix.is_empty()).then(|| self.base.clone());
        self.store.list(base.as_ref()).filter_map(move |meta| {
            let entry = match meta {
                Err(e) => Some(Err(anyhow::anyhow!("cannot list the archive: {e}"))),
                Ok(m) => {
                    let full = m.location.as_ref();
                    let rel = if prefix.is_empty() {
                        Some(full)
                    } else {
                        full.strip_prefix(prefix.as_str())
                            .and_then(|r| r.strip_prefix('/'))
                    };
                    rel.map(|rel| {
                        let tag = m.e_tag.clone().unwrap_or_else(|| {
                            m.last_modified
                                .timestamp_nanos_opt()
                                .unwrap_or(0)
                                .to_string()
                        });
                        Ok((rel.to_owned(), m.size, tag))
                    })
                }
            };
            std::future::ready(entry)
        })
    }

    pub fn open(url: &str) -> anyhow::Result<Archive> {
        let Source { store, path, .. } = Source::open(url)?;
        let local = if url.starts_with("file:") {
            // The same mapping `object_store` uses to open the files.
            let files = DocumentFiles::new(&LocalFileSystem::new(), &path)?;
            // A missing archive folder is not an error here: every document
            // then ends up `missing`, like any absent file.
            let dir = files.dir();
            let root = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
            Some(LocalRoot { files, root })
        } else {
            None
        };
        Ok(Archive {
            store,
            base: path,
            local,
        })
    }

    /// Whether the archive is a local folder.
    pub fn is_local(&self) -> bool {
        self.local.is_some()
    }

    /// For a local archive, the file of `doc` and the archive's resolved
    /// root, for a copy that checks the symlink rule on the file it opens
    /// (`transfer::local`); `None` for other stores.
    pub fn local_file(&self, doc: &DocumentPath) -> Result<Option<(PathBuf, PathBuf)>, CopyError> {
        let Some(local) = &self.local else {
            return Ok(None);
        };
        Ok(Some((local.files.file(doc), local.root.clone())))
    }

    /// Where `doc` is read from, after the local symlink check.
    pub async fn source_path(&self, doc: &DocumentPath) -> Result<Path, CopyError> {
        let src = under(&self.base, doc)?;
        let Some(local) = &self.local else {
            return Ok(src);
        };
        let file = local.files.file(doc);
        let root = local.root.clone();
        let verdict = tokio::task::spawn_blocking(move || inside(&root, &file))
            .await
            .map_err(|e| CopyError::Transient(format!("resolving the path: {e}")))?;
        match verdict {
            Ok(()) => Ok(src),
            Err(Refusal::NotFound) => Err(CopyError::Missing),
            Err(Refusal::Outside) => Err(CopyError::Permanent(
                "the path resolves outside the archive (a symbolic link leaves it); not followed"
                    .to_owned(),
            )),
            Err(Refusal::Io(e)) => Err(CopyError::Permanent(format!("resolving the path: {e}"))),
        }
    }
}

fn inside(root: &std::path::Path, file: &std::path::Path) -> Result<(), Refusal> {
    match std::fs::canonicalize(file) {
        Ok(resolved) if resolved.starts_with(root) => Ok(()),
        Ok(_) => Err(Refusal::Outside),
        // A dangling link is refused for where it points, not reported as
        // missing: putting a file "back" would not make it readable.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            match std::fs::symlink_metadata(file) {
                Ok(meta) if meta.file_type().is_symlink() => Err(Refusal::Outside),
                _ => Err(Refusal::NotFound),
            }
        }
        Err(e) => Err(Refusal::Io(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[tokio::test]
    async fn symlinks_leaving_the_archive_are_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let archive = dir.path().join("archive");
        std::fs::create_dir_all(archive.join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("secret.txt"), b"secret").expect("secret");
        std::fs::write(archive.join("sub/ok.txt"), b"ok").expect("ok");
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), archive.join("out.txt"))
            .expect("link out");
        std::os::unix::fs::symlink(archive.join("sub/ok.txt"), archive.join("in.txt"))
            .expect("link in");
        std::os::unix::fs::symlink(dir.path(), archive.join("up")).expect("dir link");
        std::os::unix::fs::symlink(dir.path().join("gone"), archive.join("dangling"))
            .expect("dangling");
        let a = Archive::open(&format!("file://{}/", archive.display())).expect("open");
        let check = |p: &str| {
            let doc = DocumentPath::parse(p).expect("path");
            let a = &a;
            async move { a.source_path(&doc).await }
        };
        assert!(check("sub/ok.txt").await.is_ok());
        assert!(check("in.txt").await.is_ok(), "links inside are fine");
        assert!(matches!(check("nope.txt").await, Err(CopyError::Missing)));
        for outside in ["out.txt", "up/secret.txt", "dangling"] {
            assert!(
                matches!(check(outside).await, Err(CopyError::Permanent(_))),
                "{outside}"
            );
        }
    }
}
