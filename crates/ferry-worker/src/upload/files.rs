//! The files of documents under a local folder (the archive, or the tenant
//! store's documents), named exactly as `object_store`'s `LocalFileSystem`
//! names them, without its URL round trip for every document.
//!
//! `LocalFileSystem` turns an object path into a file by pushing its
//! segments onto a `file://` URL and decoding that URL back into a path.
//! The round trip (URL parse, percent-encode, percent-decode, two
//! allocations) cost about 4 % of the CPU of a run of 200,000 small local
//! documents. For a manifest path (`DocumentPath`: no empty, `.` or `..`
//! segment, no backslash, no control character) it is the identity (`url`
//! encodes a `%` too, so `%41` stays `%41`), so the path is joined to the
//! folder directly. The test below holds the two mappings equal on paths of
//! every awkward kind, so a change in `object_store` or `url` is caught
//! before a document lands where the tenant store's readers do not look.

use std::path::PathBuf;

use ferry_domain::manifest::DocumentPath;
use object_store::local::LocalFileSystem;
use object_store::path::Path;

pub struct DocumentFiles {
    /// The folder behind the prefix.
    dir: PathBuf,
}

impl DocumentFiles {
    /// The documents under `prefix` of `fs`.
    pub fn new(fs: &LocalFileSystem, prefix: &Path) -> object_store::Result<DocumentFiles> {
        let dir = fs.path_to_filesystem(prefix)?;
        Ok(DocumentFiles { dir })
    }

    /// The folder behind the prefix.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The file of `doc`.
    pub fn file(&self, doc: &DocumentPath) -> PathBuf {
        self.dir.join(doc.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::transfer::under;

    /// The shortcut names the same file as `LocalFileSystem` for every kind
    /// of manifest path, under a prefix and at the root.
    #[test]
    fn files_are_named_as_object_store_names_them() {
        let root = tempfile::tempdir().unwrap();
        let raws = [
            "a.pdf",
            "documents/2024/report final.docx",
            "x/#hash?query&amp;=+,;@$!'()*[]{}~`^|\"<>",
            "ünïcödé/日本語/файл.txt",
            "percent/a%41b",
            "percent/100%",
            "percent/%zz%4",
            "emoji/😀.png",
            "dots/...hidden/a..b",
            "colon:semi;/x",
        ];
        for (fs, prefix) in [
            (
                LocalFileSystem::new_with_prefix(root.path()).unwrap(),
                Path::parse("tenant/documents").unwrap(),
            ),
            (
                LocalFileSystem::new(),
                Path::parse(root.path().to_str().unwrap()).unwrap(),
            ),
        ] {
            let expected: Vec<PathBuf> = raws
                .iter()
                .map(|raw| {
                    let doc = DocumentPath::parse(raw).expect(raw);
                    fs.path_to_filesystem(&under(&prefix, &doc).unwrap())
                        .unwrap()
                })
                .collect();
            let files = DocumentFiles::new(&fs, &prefix).unwrap();
            for (raw, want) in raws.iter().zip(expected) {
                let doc = DocumentPath::parse(raw).unwrap();
                assert_eq!(files.file(&doc), want, "{raw}");
            }
        }
    }
}
