//! Removing a folder serpent made, for every module that clears one.

use std::path::Path;

use crate::error::{Error, Result};

/// Removes a folder and everything in it; one that is already gone is fine.
pub fn remove_all(path: &Path) -> Result<()> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(Error::io("cannot remove", path, error)),
    }
}
