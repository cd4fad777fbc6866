#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest, Sha256};

use super::*;

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

struct Dirs {
    _tmp: tempfile::TempDir,
    archive: PathBuf,
    tenant: PathBuf,
}

fn dirs() -> Dirs {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    let tenant = tmp.path().join("tenant");
    std::fs::create_dir_all(&archive).unwrap();
    std::fs::create_dir_all(&tenant).unwrap();
    let archive = std::fs::canonicalize(archive).unwrap();
    Dirs {
        _tmp: tmp,
        archive,
        tenant,
    }
}

impl Dirs {
    fn job(&self, name: &str, expected: Expected) -> LocalCopy {
        LocalCopy {
            src: self.archive.join(name),
            src_root: Some(self.archive.clone()),
            dst: self.tenant.join("docs").join(name),
            expected,
        }
    }

    /// Every file under the tenant folder (staging files included).
    fn tenant_files(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![self.tenant.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                } else {
                    let rel = e.path().strip_prefix(&self.tenant).unwrap().to_owned();
                    out.push(rel.display().to_string());
                }
            }
        }
        out.sort();
        out
    }
}

fn small_blocks() -> LocalOptions {
    // Small thresholds so that a test file of a few hundred KiB goes
    // through the pipelined path in many blocks.
    LocalOptions {
        whole_below: 1000,
        block: 64 * 1024 + 7,
        ..LocalOptions::default()
    }
}

#[test]
fn small_and_large_documents_are_copied_verified_with_their_folders() {
    let d = dirs();
    for (name, len) in [
        ("empty.txt", 0),
        ("small.txt", 999),
        ("a/b/large.bin", 700_001),
    ] {
        let data = bytes(len, 3);
        let src = d.archive.join(name);
        std::fs::create_dir_all(src.parent().unwrap()).unwrap();
        std::fs::write(&src, &data).unwrap();
        let expected = Expected {
            size: Some(len as u64),
            sha256: Some(sha(&data).to_uppercase()),
        };
        let out = copy_file(&d.job(name, expected), &small_blocks()).unwrap();
        assert_eq!(out.bytes, len as u64, "{name}");
        assert_eq!(out.sha256, sha(&data), "{name}: lowercase digest");
        assert_eq!(
            std::fs::read(d.tenant.join("docs").join(name)).unwrap(),
            data
        );
    }
    assert_eq!(
        d.tenant_files(),
        ["docs/a/b/large.bin", "docs/empty.txt", "docs/small.txt"],
        "no staging file is left"
    );
}

#[test]
fn without_expectations_the_digest_is_computed_for_the_ledger() {
    let d = dirs();
    let data = bytes(300_000, 9);
    std::fs::write(d.archive.join("x"), &data).unwrap();
    let out = copy_file(&d.job("x", Expected::default()), &small_blocks()).unwrap();
    assert_eq!(out.sha256, sha(&data));
}

#[test]
fn an_existing_object_is_replaced() {
    let d = dirs();
    std::fs::create_dir_all(d.tenant.join("docs")).unwrap();
    std::fs::write(d.tenant.join("docs/x"), b"old and longer").unwrap();
    std::fs::write(d.archive.join("x"), b"new").unwrap();
    copy_file(&d.job("x", Expected::default()), &LocalOptions::default()).unwrap();
    assert_eq!(std::fs::read(d.tenant.join("docs/x")).unwrap(), b"new");
}

#[test]
fn mismatches_leave_nothing_at_the_destination() {
    let d = dirs();
    for (name, len) in [("small", 500), ("large", 400_000)] {
        let data = bytes(len, 1);
        std::fs::write(d.archive.join(name), &data).unwrap();
        let wrong_sha = Expected {
            size: Some(len as u64),
            sha256: Some(sha(b"something else")),
        };
        let err = copy_file(&d.job(name, wrong_sha), &small_blocks()).unwrap_err();
        assert!(
            matches!(err, CopyError::ChecksumMismatch { ref actual, .. } if *actual == sha(&data)),
            "{name}: {err:?}"
        );
        let wrong_size = Expected {
            size: Some(len as u64 + 1),
            sha256: None,
        };
        let err = copy_file(&d.job(name, wrong_size), &small_blocks()).unwrap_err();
        assert!(
            matches!(err, CopyError::SizeMismatch { actual, .. } if actual == len as u64),
            "{name}: {err:?}"
        );
    }
    assert!(
        d.tenant_files().is_empty(),
        "nothing visible, no staging file: {:?}",
        d.tenant_files()
    );
}

#[test]
fn a_source_written_to_during_the_copy_is_not_stored() {
    let d = dirs();
    let data = bytes(2_000_000, 5);
    std::fs::write(d.archive.join("x"), &data).unwrap();
    let src = d.archive.join("x");
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    // The first pacing call (the copy's first step) appends to the source:
    // what is stored could then differ from what was hashed.
    let opts = LocalOptions {
        pace: Some(Arc::new(move |_| {
            if c.fetch_add(1, Ordering::SeqCst) == 0 {
                let mut f = OpenOptions::new().append(true).open(&src).unwrap();
                f.write_all(b"late").unwrap();
            }
        })),
        ..small_blocks()
    };
    let err = copy_file(&d.job("x", Expected::default()), &opts).unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(d.tenant_files().is_empty(), "{:?}", d.tenant_files());
}

#[test]
fn what_is_not_a_regular_file_is_missing() {
    let d = dirs();
    std::fs::create_dir_all(d.archive.join("folder")).unwrap();
    std::fs::write(d.archive.join("file"), b"x").unwrap();
    for name in ["absent", "folder", "file/below", "no/such/dir"] {
        let err = copy_file(&d.job(name, Expected::default()), &small_blocks()).unwrap_err();
        assert_eq!(err, CopyError::Missing, "{name}");
    }
}

#[cfg(unix)]
#[test]
fn a_fifo_in_the_archive_does_not_hang_the_copy() {
    let d = dirs();
    let fifo = d.archive.join("pipe");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    // No writer ever opens it: a blocking open would wait for ever.
    let err = copy_file(&d.job("pipe", Expected::default()), &small_blocks()).unwrap_err();
    assert_eq!(err, CopyError::Missing);
}

#[cfg(unix)]
#[test]
fn symbolic_links_may_not_leave_the_archive() {
    let d = dirs();
    let outside = d.archive.parent().unwrap().join("secret");
    std::fs::write(&outside, b"secret").unwrap();
    std::fs::create_dir_all(d.archive.join("sub")).unwrap();
    std::fs::write(d.archive.join("sub/ok"), b"ok").unwrap();
    std::os::unix::fs::symlink(&outside, d.archive.join("out")).unwrap();
    std::os::unix::fs::symlink(d.archive.join("sub/ok"), d.archive.join("in")).unwrap();
    std::os::unix::fs::symlink(d.archive.parent().unwrap(), d.archive.join("up")).unwrap();
    std::os::unix::fs::symlink(d.archive.join("gone"), d.archive.join("dangling")).unwrap();
    std::fs::write(d.archive.join("plain"), b"plain").unwrap();
    let opts = LocalOptions::default();
    // A plain file first: its folder (the archive's root) is remembered as
    // free of links, and the links beside it must still be caught.
    copy_file(&d.job("plain", Expected::default()), &opts).unwrap();
    assert!(opts.plain_dirs.lock().unwrap().contains(&d.archive));
    assert_eq!(
        copy_file(&d.job("in", Expected::default()), &opts)
            .unwrap()
            .bytes,
        2,
        "a link inside the archive is followed"
    );
    for name in ["out", "up/secret", "dangling"] {
        let err = copy_file(&d.job(name, Expected::default()), &opts).unwrap_err();
        assert!(matches!(err, CopyError::Permanent(_)), "{name}: {err:?}");
    }
    assert_eq!(d.tenant_files(), ["docs/in", "docs/plain"]);
}

#[test]
fn a_cancelled_copy_writes_nothing() {
    let d = dirs();
    std::fs::write(d.archive.join("x"), bytes(300_000, 2)).unwrap();
    let opts = small_blocks();
    opts.cancel.cancel();
    let err = copy_file(&d.job("x", Expected::default()), &opts).unwrap_err();
    assert_eq!(err, CopyError::Cancelled);
    // Cancelled in the middle of the copy: the staging file goes too.
    std::fs::write(d.archive.join("x"), bytes(4_000_000, 2)).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let cancel = CancellationToken::new();
    let (c, k) = (calls.clone(), cancel.clone());
    let opts = LocalOptions {
        cancel,
        pace: Some(Arc::new(move |_| {
            if c.fetch_add(1, Ordering::SeqCst) == 1 {
                k.cancel();
            }
        })),
        ..small_blocks()
    };
    let err = copy_file(&d.job("x", Expected::default()), &opts).unwrap_err();
    assert_eq!(err, CopyError::Cancelled);
    assert!(d.tenant_files().is_empty(), "{:?}", d.tenant_files());
}

#[test]
fn every_written_byte_is_paced() {
    let d = dirs();
    let paced = Arc::new(AtomicUsize::new(0));
    let p = paced.clone();
    let opts = LocalOptions {
        pace: Some(Arc::new(move |n| {
            p.fetch_add(n, Ordering::SeqCst);
        })),
        ..small_blocks()
    };
    for (name, len) in [("s", 100), ("l", 250_000)] {
        std::fs::write(d.archive.join(name), bytes(len, 4)).unwrap();
        copy_file(&d.job(name, Expected::default()), &opts).unwrap();
    }
    assert_eq!(paced.load(Ordering::SeqCst), 250_100);
}

#[tokio::test]
async fn failures_waiting_cannot_fix_are_permanent_and_a_later_try_succeeds() {
    let d = dirs();
    std::fs::write(d.archive.join("x"), b"abc").unwrap();
    // The destination's parent is a file: not something waiting fixes.
    std::fs::write(d.tenant.join("docs"), b"in the way").unwrap();
    let retry = RetryPolicy {
        attempts: 3,
        base_delay: std::time::Duration::from_millis(1),
        max_delay: std::time::Duration::from_millis(2),
    };
    let err = copy_local_with_retry(
        d.job("x", Expected::default()),
        &LocalOptions::default(),
        &retry,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, CopyError::Permanent(_)), "{err:?}");
    std::fs::remove_file(d.tenant.join("docs")).unwrap();
    let out = copy_local_with_retry(
        d.job("x", Expected::default()),
        &LocalOptions::default(),
        &retry,
    )
    .await
    .unwrap();
    assert_eq!(out.bytes, 3);
}
