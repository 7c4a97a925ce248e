//! What a package holds, entry by entry: for comparing two builds of it, and for the output
//! hash its dependents are keyed on.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::key::hash;

/// What one entry of a package is, for comparing two builds of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir { mode: u32 },
    File { mode: u32, sha256: String },
    Link { target: PathBuf },
}

/// Every entry below `root`, by relative path.
pub fn entries(root: &Path) -> std::io::Result<BTreeMap<PathBuf, Entry>> {
    let mut found = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let meta = path.symlink_metadata()?;
            let mode = meta.permissions().mode() & 0o7777;
            let relative = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            let kind = if meta.file_type().is_symlink() {
                Entry::Link {
                    target: std::fs::read_link(&path)?,
                }
            } else if meta.is_dir() {
                pending.push(path.clone());
                Entry::Dir { mode }
            } else {
                Entry::File {
                    mode,
                    sha256: hash(&std::fs::read(&path)?),
                }
            };
            found.insert(relative, kind);
        }
    }
    Ok(found)
}

/// The bytes of the files below `root` (links and folders count nothing).
pub fn size(root: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                total += entry.metadata()?.len();
            }
        }
    }
    Ok(total)
}

/// The paths whose entries differ between two trees, each with how.
pub fn differences(
    first: &BTreeMap<PathBuf, Entry>,
    second: &BTreeMap<PathBuf, Entry>,
) -> Vec<(PathBuf, &'static str)> {
    let mut found = Vec::new();
    for (path, entry) in first {
        match second.get(path) {
            None => found.push((path.clone(), "only in the first build")),
            Some(other) if other == entry => {}
            Some(other) => found.push((path.clone(), how_they_differ(entry, other))),
        }
    }
    for path in second.keys() {
        if !first.contains_key(path) {
            found.push((path.clone(), "only in the second build"));
        }
    }
    found
}

fn how_they_differ(first: &Entry, second: &Entry) -> &'static str {
    match (first, second) {
        (Entry::File { sha256: a, .. }, Entry::File { sha256: b, .. }) if a != b => "content",
        (Entry::File { .. }, Entry::File { .. }) | (Entry::Dir { .. }, Entry::Dir { .. }) => "mode",
        (Entry::Link { .. }, Entry::Link { .. }) => "link target",
        _ => "kind",
    }
}

/// One hash for the whole tree: every path with its kind, mode, content hash or link target.
/// Times are left out, so two builds that differ only in when they ran hash the same.
pub fn digest(root: &Path) -> std::io::Result<String> {
    let mut text = Vec::new();
    for (path, entry) in entries(root)? {
        text.extend_from_slice(path.as_os_str().as_bytes());
        let line = match entry {
            Entry::Dir { mode } => format!("\0dir {mode:o}\n"),
            Entry::File { mode, sha256 } => format!("\0file {mode:o} {sha256}\n"),
            Entry::Link { target } => format!("\0link {}\n", target.display()),
        };
        text.extend_from_slice(line.as_bytes());
    }
    Ok(hash(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_follows_contents_and_modes_but_not_times() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), b"one").unwrap();
        let first = digest(dir.path()).unwrap();
        crate::reproducible::clamp_times(dir.path(), 1_000).unwrap();
        assert_eq!(digest(dir.path()).unwrap(), first);
        std::fs::set_permissions(
            dir.path().join("file"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        assert_ne!(digest(dir.path()).unwrap(), first);
    }

    #[test]
    fn differences_name_each_path_and_how() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        for root in [&a, &b] {
            std::fs::create_dir_all(root.join("bin")).unwrap();
            std::fs::write(root.join("bin/same"), b"same").unwrap();
        }
        std::fs::write(a.join("bin/tool"), b"built at /one").unwrap();
        std::fs::write(b.join("bin/tool"), b"built at /two").unwrap();
        std::os::unix::fs::symlink("tool", a.join("bin/alias")).unwrap();
        std::os::unix::fs::symlink("/abs/tool", b.join("bin/alias")).unwrap();
        std::fs::write(b.join("extra"), b"").unwrap();
        let found = differences(&entries(&a).unwrap(), &entries(&b).unwrap());
        assert_eq!(
            found,
            vec![
                (PathBuf::from("bin/alias"), "link target"),
                (PathBuf::from("bin/tool"), "content"),
                (PathBuf::from("extra"), "only in the second build"),
            ]
        );
    }
}
