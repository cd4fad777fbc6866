//! A generated source export for the transfer scenarios: `db.dump` and a
//! `documents/` tree of pseudo-random (incompressible) files, each hashed
//! with SHA-256 while it is written, and the manifest CSV that lists them.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

pub struct Doc {
    pub id: String,
    /// Relative to `documents/`.
    pub rel: String,
    pub size: u64,
    pub sha256: String,
}

pub struct Source {
    pub root: PathBuf,
    pub docs: Vec<Doc>,
    pub dump_bytes: u64,
}

impl Source {
    pub fn documents_dir(&self) -> PathBuf {
        self.root.join("documents")
    }

    pub fn dump(&self) -> PathBuf {
        self.root.join("db.dump")
    }

    pub fn total_bytes(&self) -> u64 {
        self.docs.iter().map(|d| d.size).sum()
    }

    /// `document_id,path,size,sha256`: every row carries its checksum, so
    /// the worker verifies each document.
    pub fn manifest_csv(&self) -> String {
        let mut out = String::from("document_id,path,size,sha256\n");
        for d in &self.docs {
            out.push_str(&format!("{},{},{},{}\n", d.id, d.rel, d.size, d.sha256));
        }
        out
    }

    pub fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// xorshift64*: fast, deterministic, incompressible enough for a copy.
struct Noise(u64);

impl Noise {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

pub fn write_file(path: &Path, size: u64, seed: u64, buf: &mut [u8]) -> Result<String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut noise = Noise(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut hash = Sha256::new();
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut left = size;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        noise.fill(&mut buf[..n]);
        hash.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    out.flush()?;
    Ok(format!("{:x}", hash.finalize()))
}

/// `count` documents of `size` bytes under `parent/<name>/documents/`, at
/// most 1,000 per folder.
pub fn generate(parent: &Path, name: &str, count: usize, size: u64) -> Result<Source> {
    let root = parent.join(name);
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("documents"))?;
    let dump = b"-- ferry-bench source dump\nCREATE TABLE t (id int);\n";
    std::fs::write(root.join("db.dump"), dump)?;
    let mut buf = vec![0u8; size.clamp(1, 1 << 20) as usize];
    let mut docs = Vec::with_capacity(count);
    for i in 0..count {
        let rel = format!("f{:03}/doc-{i:06}.bin", i / 1000);
        let path = root.join("documents").join(&rel);
        let sha256 = write_file(&path, size, i as u64 + 1, &mut buf)
            .with_context(|| format!("writing {}", path.display()))?;
        docs.push(Doc {
            id: format!("d{i:06}"),
            rel,
            size,
            sha256,
        });
    }
    Ok(Source {
        root,
        docs,
        dump_bytes: dump.len() as u64,
    })
}
