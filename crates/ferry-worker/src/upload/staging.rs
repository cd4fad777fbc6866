//! Staging files left by killed workers. `object_store`'s `LocalFileSystem`
//! writes every object to `<name>#<n>` and renames it into place when the
//! write completes (the multipart `complete` or the `put`); a failed write
//! is aborted, which deletes it. A process killed with SIGKILL aborts
//! nothing, so its staging files stay — invisible through `object_store`
//! (its listings skip them), but taking disk space in the tenant's folder.
//!
//! When an upload's work is done (every document of the migration
//! recorded), the job removes the staging files under `<root>/<tenant>/`
//! that were last written before that moment: every writer of this
//! migration has finished by then, so they are leftovers. (S3 and other
//! stores: configure a lifecycle rule that aborts incomplete multipart
//! uploads; a killed process cannot.)

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// `name#digits`: the staging names `LocalFileSystem` makes (it refuses
/// such names as object names, so no document is ever called that).
fn is_staging(name: &str) -> bool {
    match name.rsplit_once('#') {
        Some((base, n)) => {
            !base.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// Removes the staging files under `dir` last modified before `before`;
/// how many. Symbolic links are neither followed nor removed.
pub fn sweep(dir: &Path, before: SystemTime) -> std::io::Result<usize> {
    let mut removed = 0;
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let ty = entry.file_type()?;
            if ty.is_dir() {
                stack.push(entry.path());
            } else if ty.is_file()
                && entry.file_name().to_str().is_some_and(is_staging)
                && entry.metadata()?.modified()? < before
            {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_old_staging_files_go() {
        let dir = tempfile::tempdir().expect("dir");
        let sub = dir.path().join("t/documents/a");
        std::fs::create_dir_all(&sub).expect("mkdir");
        for name in ["x.pdf", "x.pdf#1", "x.pdf#12", "y#z", "#3", "z#"] {
            std::fs::write(sub.join(name), b"1").expect("write");
        }
        assert_eq!(sweep(dir.path(), SystemTime::UNIX_EPOCH).expect("sweep"), 0);
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        assert_eq!(sweep(dir.path(), later).expect("sweep"), 2);
        let mut left: Vec<String> = std::fs::read_dir(&sub)
            .expect("read")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        left.sort();
        assert_eq!(left, ["#3", "x.pdf", "y#z", "z#"]);
        assert_eq!(sweep(&dir.path().join("gone"), later).expect("sweep"), 0);
    }
}
