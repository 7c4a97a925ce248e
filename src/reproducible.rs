//! What makes two builds of one key give the same package wherever the work dir is and
//! whenever they run: paths mapped out of the compiler's output, a `SOURCE_DATE_EPOCH` taken
//! from the sources, and the package's times clamped to it.
//!
//! The map goes to compilers through stage1's `<triple>-clang` wrappers, which add
//! `-ffile-prefix-map=$SERPENT_FILE_PREFIX_MAP` when it is set, rather than through the flags
//! recipes see: flags end up written into packages (pkg-config files, build records), and the
//! map itself names the work dir.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;

/// Where the work dir appears to be in what compilers write (`__FILE__`, debug info).
pub const MAPPED_WORK_DIR: &str = "/serpent-work";

/// The variable host builds get the map in.
pub const PREFIX_MAP_VARIABLE: &str = "SERPENT_FILE_PREFIX_MAP";

/// `OLD=NEW` for `-ffile-prefix-map`, writing `work_dir` as [`MAPPED_WORK_DIR`]; one map for
/// the whole work dir, since the order in which compilers try overlapping maps differs.
pub fn prefix_map(work_dir: &Path) -> String {
    format!("{}={MAPPED_WORK_DIR}", work_dir.display())
}

/// The newest modification time of the files in a freshly unpacked tree (its release date, as
/// the archive recorded it), or 0 for none. Folders are left out: those an archive does not
/// list are made with the current time.
pub fn source_date_epoch(tree: &Path) -> i64 {
    let mut newest = 0;
    let mut pending = vec![tree.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                newest = newest.max(meta.mtime());
            }
        }
    }
    newest
}

/// Sets every time in `tree` (the folder or file itself and all it holds) that is newer than
/// `epoch` to `epoch`, links included (not what they point to).
pub fn clamp_times(tree: &Path, epoch: i64) -> std::io::Result<()> {
    let time = TimeSpec::new(epoch, 0);
    let mut pending = vec![tree.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = path.symlink_metadata()?;
        if meta.mtime() > epoch || meta.atime() > epoch {
            utimensat(None, &path, &time, &time, UtimensatFlags::NoFollowSymlink)?;
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                pending.push(entry?.path());
            }
        }
    }
    Ok(())
}

/// The links in `tree` whose target is an absolute path into `work_dir`, as paths relative to
/// `tree`: a package carrying one works only where it was built.
pub fn links_into(tree: &Path, work_dir: &Path) -> std::io::Result<Vec<(String, String)>> {
    let mut found = Vec::new();
    let mut pending = vec![tree.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = path.symlink_metadata()?;
        if meta.is_symlink() {
            let target = std::fs::read_link(&path)?;
            if target.starts_with(work_dir) {
                let rel = path.strip_prefix(tree).unwrap_or(&path);
                found.push((rel.display().to_string(), target.display().to_string()));
            }
        } else if meta.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                pending.push(entry?.path());
            }
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_newer_than_the_epoch_are_clamped_and_links_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::NamedTempFile::new().unwrap();
        let before = outside.path().metadata().unwrap().mtime();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/file"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        clamp_times(dir.path(), 1_000).unwrap();
        for name in ["sub", "sub/file", "link"] {
            let meta = dir.path().join(name).symlink_metadata().unwrap();
            assert_eq!(meta.mtime(), 1_000, "{name}");
        }
        assert_eq!(outside.path().metadata().unwrap().mtime(), before);
        assert_eq!(source_date_epoch(dir.path()), 1_000);
    }
}
