//! A build's own view of its stage: the root as the packages it depends on would make it, and
//! nothing else the stage has built.
//!
//! A stage's root holds whatever has merged so far, so a recipe that forgets a dependency
//! would build or fail depending on what happened to merge first. Each build instead gets a
//! root of its own under `<stage>/views/<name>`, assembled from the finished packages of its
//! dependency closure in build order: folders made, links copied, files hard-linked (the view
//! costs one link per file, not a copy). A missing dependency then fails the same way every
//! time. Paths resolve as in a merge ([`Scope::Rooted`]): `lib64 -> /usr/lib` in the view means
//! the view's own folder.
//!
//! The files are the packages' own inodes, which nothing may change. In a chroot the view is
//! mounted read-only. On the host nothing stops a build from writing through its sysroot, so
//! the view remembers each file's size and modification time ([`Seal`]), and a build that
//! changed one fails and sends the package it damaged back to be rebuilt.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::beneath::{Beneath, BeneathError, Scope};
use crate::error::{Error, Result};
use crate::remove::remove_all;

/// What the files a view links to were when it was assembled: `(package, file, size, mtime)`.
pub struct Seal {
    files: Vec<(usize, PathBuf, u64, (i64, i64))>,
}

impl Seal {
    /// How many files the view links to.
    pub fn files(&self) -> usize {
        self.files.len()
    }

    /// The files of `packages` (by position) that are no longer as they were: `(package, file)`.
    pub fn broken(&self) -> Vec<(usize, PathBuf)> {
        self.files
            .iter()
            .filter(|(_, file, size, mtime)| {
                std::fs::symlink_metadata(file).is_ok_and(|metadata| {
                    metadata.len() != *size || (metadata.mtime(), metadata.mtime_nsec()) != *mtime
                })
            })
            .map(|(package, file, _, _)| (*package, file.clone()))
            .collect()
    }
}

/// Makes `view` the union of `packages`, later ones replacing the files of earlier ones (a
/// package may replace what it was built on, as in the stage root).
pub fn assemble(view: &Path, packages: &[PathBuf]) -> Result<Seal> {
    remove_all(view)?;
    let beneath = Beneath::create(view, Scope::Rooted)
        .map_err(|error| Error::io("cannot create", view, error))?;
    let mut seal = Seal { files: Vec::new() };
    for (index, package) in packages.iter().enumerate() {
        let mut linked = Vec::new();
        add_folder(&beneath, package, Path::new(""), &mut linked).map_err(|error| {
            let path = view.join(error.path());
            Error::io("cannot assemble the build's view at", path, error.into())
        })?;
        seal.files.extend(
            linked
                .into_iter()
                .map(|(file, size, mtime)| (index, file, size, mtime)),
        );
    }
    Ok(seal)
}

type Linked = Vec<(PathBuf, u64, (i64, i64))>;

fn add_folder(
    view: &Beneath,
    package: &Path,
    rel: &Path,
    linked: &mut Linked,
) -> std::result::Result<(), BeneathError> {
    let folder = package.join(rel);
    let io = |source: std::io::Error| BeneathError::Io {
        action: "read",
        root: package.to_path_buf(),
        path: rel.to_path_buf(),
        source,
    };
    let mut entries = std::fs::read_dir(&folder)
        .and_then(|entries| entries.collect::<std::io::Result<Vec<_>>>())
        .map_err(io)?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let rel = rel.join(entry.file_name());
        let kind = entry.file_type().map_err(io)?;
        if kind.is_dir() {
            view.create_dir_all(&rel)?;
            add_folder(view, package, &rel, linked)?;
        } else if kind.is_symlink() {
            let target = std::fs::read_link(entry.path()).map_err(io)?;
            view.symlink(&target, &rel)?;
        } else {
            let metadata = entry.metadata().map_err(io)?;
            view.link_from(&entry.path(), &rel)?;
            linked.push((
                entry.path(),
                metadata.len(),
                (metadata.mtime(), metadata.mtime_nsec()),
            ));
        }
    }
    Ok(())
}
