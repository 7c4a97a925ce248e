//! The files a patch series reads and writes, held in memory until every patch of the series
//! has applied, then written together: new contents go to temporary files first, originals
//! are moved aside, and a failure while swapping puts every original back.
//!
//! Every path is resolved beneath the tree's root by [`Beneath`], so no name and no link in
//! the tree, however chained, lets a patch read or write outside it.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::sys::stat::SFlag;
use nix::unistd::{unlinkat, UnlinkatFlags};

use crate::beneath::{path_of, Beneath, BeneathError, Scope};

/// A regular file's content and permission bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FileState {
    pub bytes: Vec<u8>,
    /// Permission bits; `None` for a new file, which gets the default (0666 less the umask).
    pub mode: Option<u32>,
}

/// What is at a path before patching.
pub(super) enum Found {
    Absent,
    File(FileState),
    /// A directory, symbolic link or special file: never patched.
    NotRegular,
}

struct Slot {
    original: Option<FileState>,
    current: Option<FileState>,
    /// The file as the current patch found it, once the patch has changed it.
    before_patch: Option<Option<FileState>>,
    /// The patch that `before_patch` belongs to.
    patch: usize,
}

/// The tree beneath its root, with the changes made so far.
pub(super) struct Tree {
    root: Beneath,
    slots: BTreeMap<Vec<u8>, Slot>,
    /// Counts the patches begun, to tell which changes the current one made.
    patch: usize,
}

type Result<T> = std::result::Result<T, BeneathError>;

impl Tree {
    pub fn open(dir: &Path) -> Result<Tree> {
        let root = Beneath::open(dir, Scope::Contained).map_err(|source| BeneathError::Io {
            action: "open",
            root: dir.to_path_buf(),
            path: Default::default(),
            source,
        })?;
        Ok(Tree {
            root,
            slots: BTreeMap::new(),
            patch: 0,
        })
    }

    /// The file at `rel` as the series has left it so far.
    pub fn get(&mut self, rel: &[u8]) -> Result<Found> {
        if let Some(slot) = self.slots.get(rel) {
            return Ok(slot.current.clone().map_or(Found::Absent, Found::File));
        }
        let found = self.load(rel)?;
        let original = match &found {
            Found::File(state) => Some(state.clone()),
            Found::Absent => None,
            Found::NotRegular => return Ok(Found::NotRegular),
        };
        let slot = Slot {
            current: original.clone(),
            original,
            before_patch: None,
            patch: 0,
        };
        self.slots.insert(rel.to_vec(), slot);
        Ok(found)
    }

    fn load(&self, rel: &[u8]) -> Result<Found> {
        let stat = match self.root.symlink_metadata(path_of(rel)) {
            Ok(Some(stat)) => stat,
            Ok(None) => return Ok(Found::Absent),
            // A component that is a file: nothing can be below it.
            Err(error) if error.io_kind() == Some(io::ErrorKind::NotADirectory) => {
                return Ok(Found::Absent)
            }
            Err(error) => return Err(error),
        };
        if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
            return Ok(Found::NotRegular);
        }
        let bytes = self.root.read(path_of(rel))?;
        let mode = Some(stat.st_mode & 0o7777);
        Ok(Found::File(FileState { bytes, mode }))
    }

    /// Starts the next patch of the series: what it reads with [`Tree::get_before_patch`] is
    /// the tree as the patch finds it.
    pub fn begin_patch(&mut self) {
        self.patch += 1;
    }

    /// The file at `rel` as the current patch found it, before its own earlier sections
    /// changed it: what git's renames and copies read.
    pub fn get_before_patch(&mut self, rel: &[u8]) -> Result<Found> {
        let found = self.get(rel)?;
        match self.slots.get(rel) {
            Some(slot) if slot.patch == self.patch => Ok(slot
                .before_patch
                .clone()
                .flatten()
                .map_or(Found::Absent, Found::File)),
            _ => Ok(found),
        }
    }

    /// Sets the content of `rel` (`None` removes it); `rel` must have been read with `get`.
    pub fn set(&mut self, rel: &[u8], state: Option<FileState>) {
        if let Some(slot) = self.slots.get_mut(rel) {
            if slot.patch != self.patch {
                slot.before_patch = Some(slot.current.clone());
                slot.patch = self.patch;
            }
            slot.current = state;
        }
    }

    /// Writes every change to disk, or none.
    pub fn commit(self) -> Result<()> {
        let changes: Vec<(&Vec<u8>, &Slot)> = self
            .slots
            .iter()
            .filter(|(_, slot)| slot.current != slot.original)
            .collect();
        let mut journal = Journal::default();
        let result = self
            .stage(&changes, &mut journal)
            .and_then(|()| self.swap(&changes, &mut journal));
        if let Err(error) = result {
            journal.undo(&self.root);
            return Err(error);
        }
        for (backup, _) in &journal.backups {
            let _ = self.root.remove(path_of(backup));
        }
        for (rel, slot) in &changes {
            if slot.current.is_none() {
                prune_empty_parents(&self.root, rel);
            }
        }
        Ok(())
    }

    /// Writes each new content to a temporary file beside its target.
    fn stage(&self, changes: &[(&Vec<u8>, &Slot)], journal: &mut Journal) -> Result<()> {
        for (rel, slot) in changes {
            let Some(state) = &slot.current else {
                continue;
            };
            self.create_dirs(parent_of(rel), &mut journal.dirs)?;
            let temporary = temporary_name(rel, "new");
            journal.staged.push((temporary.clone(), rel.to_vec()));
            let mut file = self.root.create_file(path_of(&temporary), 0o666)?;
            let written = file
                .write_all(&state.bytes)
                .and_then(|()| match state.mode {
                    Some(mode) => file.set_permissions(std::fs::Permissions::from_mode(mode)),
                    None => Ok(()),
                });
            written.map_err(|source| BeneathError::Io {
                action: "write",
                root: self.root.root().to_path_buf(),
                path: path_of(rel).to_path_buf(),
                source,
            })?;
        }
        Ok(())
    }

    /// Moves originals aside and the new contents into place.
    fn swap(&self, changes: &[(&Vec<u8>, &Slot)], journal: &mut Journal) -> Result<()> {
        for (rel, slot) in changes {
            if slot.original.is_some() {
                let backup = temporary_name(rel, "old");
                self.root.rename(path_of(rel), path_of(&backup))?;
                journal.backups.push((backup, rel.to_vec()));
            }
        }
        while let Some((temporary, rel)) = journal.staged.pop() {
            if let Err(error) = self.root.rename(path_of(&temporary), path_of(&rel)) {
                journal.staged.push((temporary, rel));
                return Err(error);
            }
            journal.placed.push(rel);
        }
        Ok(())
    }

    /// Creates the folder `rel` and its missing ancestors, recording each one created.
    fn create_dirs(&self, rel: &[u8], created: &mut Vec<Vec<u8>>) -> Result<()> {
        if rel.is_empty() {
            return Ok(());
        }
        match self.root.dir(path_of(rel), false) {
            Ok(_) => return Ok(()),
            Err(error) if error.io_kind() == Some(io::ErrorKind::NotFound) => {}
            Err(error) => return Err(error),
        }
        self.create_dirs(parent_of(rel), created)?;
        self.root.dir(path_of(rel), true)?;
        created.push(rel.to_vec());
        Ok(())
    }
}

/// What a commit did so far, to undo it.
#[derive(Default)]
struct Journal {
    dirs: Vec<Vec<u8>>,
    /// (temporary, target) not yet moved into place.
    staged: Vec<(Vec<u8>, Vec<u8>)>,
    /// (backup, original) moved aside.
    backups: Vec<(Vec<u8>, Vec<u8>)>,
    placed: Vec<Vec<u8>>,
}

impl Journal {
    fn undo(&self, root: &Beneath) {
        for rel in &self.placed {
            let _ = root.remove(path_of(rel));
        }
        for (temporary, _) in &self.staged {
            let _ = root.remove(path_of(temporary));
        }
        for (backup, original) in &self.backups {
            let _ = root.rename(path_of(backup), path_of(original));
        }
        for created in self.dirs.iter().rev() {
            remove_empty_dir(root, created);
        }
    }
}

/// Removes the folder `rel` if it is empty; whether it did.
fn remove_empty_dir(root: &Beneath, rel: &[u8]) -> bool {
    let Ok(parent) = root.parent(path_of(rel), false) else {
        return false;
    };
    unlinkat(
        Some(parent.dir.as_raw_fd()),
        parent.name.as_os_str(),
        UnlinkatFlags::RemoveDir,
    )
    .is_ok()
}

/// After a file is removed, removes the folders it leaves empty, as GNU patch does.
fn prune_empty_parents(root: &Beneath, rel: &[u8]) {
    let mut dir = parent_of(rel);
    while !dir.is_empty() && remove_empty_dir(root, dir) {
        dir = parent_of(dir);
    }
}

pub(super) fn parent_of(rel: &[u8]) -> &[u8] {
    match rel.iter().rposition(|&b| b == b'/') {
        Some(slash) => &rel[..slash],
        None => b"",
    }
}

static TEMPORARY: AtomicUsize = AtomicUsize::new(0);

/// A name beside `rel` that nothing else uses.
fn temporary_name(rel: &[u8], purpose: &str) -> Vec<u8> {
    let parent = parent_of(rel);
    let base = &rel[parent.len()..];
    let base = base.strip_prefix(b"/").unwrap_or(base);
    let n = TEMPORARY.fetch_add(1, Ordering::Relaxed);
    let mut name = parent.to_vec();
    if !name.is_empty() {
        name.push(b'/');
    }
    name.push(b'.');
    name.extend_from_slice(base);
    name.extend_from_slice(format!(".serpent-{purpose}.{}.{n}", std::process::id()).as_bytes());
    name
}
