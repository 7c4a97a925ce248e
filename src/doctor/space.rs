//! Free space where builds and sources go.

use std::path::Path;

use super::Check;
use crate::size::human;

/// Whether the filesystem that holds (or will hold) `path` has `needed` bytes free.
pub fn free_space(what: &str, option: &str, path: &Path, needed: u64) -> Check {
    let name = format!("free space in the {what}");
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let Some(existing) = absolute.ancestors().find(|dir| dir.exists()) else {
        return Check::missing(
            name,
            format!("no folder of {} exists", path.display()),
            "create it",
        );
    };
    let available = match nix::sys::statvfs::statvfs(existing) {
        Ok(stat) => stat.blocks_available().saturating_mul(stat.fragment_size()),
        Err(errno) => {
            let found = format!(
                "cannot read the filesystem of {}: {errno}",
                existing.display()
            );
            return Check::missing(name, found, "check that the folder is readable");
        }
    };
    let found = format!("{} free at {}", human(available), path.display());
    if available >= needed {
        Check::ok(name, found)
    } else {
        let found = format!("{found}, {} wanted", human(needed));
        let fix = format!(
            "free space on the filesystem of {}, or give serpent another {what} with {option}",
            existing.display()
        );
        Check::missing(name, found, fix)
    }
}
