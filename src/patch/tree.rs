//! The files a patch series reads and writes, held in memory until every patch of the series
//! has applied, then written together: new contents go to temporary files first, originals
//! are moved aside, and a failure while swapping puts every original back.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

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
}

/// A write that failed, with the file it was for.
#[derive(Debug)]
pub(super) struct WriteError {
    pub path: PathBuf,
    pub source: io::Error,
}

/// The tree beneath `dir`, with the changes made so far.
pub(super) struct Tree {
    dir: PathBuf,
    slots: BTreeMap<Vec<u8>, Slot>,
}

fn os(rel: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(rel))
}

impl Tree {
    pub fn new(dir: &Path) -> Tree {
        Tree {
            dir: dir.to_path_buf(),
            slots: BTreeMap::new(),
        }
    }

    fn path(&self, rel: &[u8]) -> PathBuf {
        self.dir.join(os(rel))
    }

    /// The file at `rel` as the series has left it so far.
    pub fn get(&mut self, rel: &[u8]) -> Result<Found, WriteError> {
        if let Some(slot) = self.slots.get(rel) {
            return Ok(slot.current.clone().map_or(Found::Absent, Found::File));
        }
        let found = self.load(rel)?;
        let original = match &found {
            Found::File(state) => Some(state.clone()),
            Found::Absent => None,
            Found::NotRegular => return Ok(Found::NotRegular),
        };
        self.slots.insert(
            rel.to_vec(),
            Slot {
                current: original.clone(),
                original,
            },
        );
        Ok(found)
    }

    fn load(&self, rel: &[u8]) -> Result<Found, WriteError> {
        let path = self.path(rel);
        let failed = |source| WriteError {
            path: path.clone(),
            source,
        };
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => {
                let bytes = fs::read(&path).map_err(failed)?;
                let mode = Some(meta.permissions().mode() & 0o7777);
                Ok(Found::File(FileState { bytes, mode }))
            }
            Ok(_) => Ok(Found::NotRegular),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                Ok(Found::Absent)
            }
            Err(e) => Err(failed(e)),
        }
    }

    /// Sets the content of `rel` (`None` removes it); `rel` must have been read with `get`.
    pub fn set(&mut self, rel: &[u8], state: Option<FileState>) {
        if let Some(slot) = self.slots.get_mut(rel) {
            slot.current = state;
        }
    }

    /// Writes every change to disk, or none.
    pub fn commit(self) -> Result<(), WriteError> {
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
            journal.undo(&self.dir);
            return Err(error);
        }
        for backup in &journal.backups {
            let _ = fs::remove_file(self.dir.join(os(&backup.0)));
        }
        for (rel, slot) in &changes {
            if slot.current.is_none() {
                self.prune_empty_parents(rel);
            }
        }
        Ok(())
    }

    /// Writes each new content to a temporary file beside its target.
    fn stage(
        &self,
        changes: &[(&Vec<u8>, &Slot)],
        journal: &mut Journal,
    ) -> Result<(), WriteError> {
        for (rel, slot) in changes {
            let Some(state) = &slot.current else {
                continue;
            };
            let parent = parent_of(rel);
            self.create_dirs(parent, &mut journal.dirs)?;
            let temporary = temporary_name(rel, "new");
            let path = self.path(&temporary);
            journal.staged.push((temporary, rel.to_vec()));
            write_new(&path, state).map_err(|source| WriteError {
                path: self.path(rel),
                source,
            })?;
        }
        Ok(())
    }

    /// Moves originals aside and the new contents into place.
    fn swap(&self, changes: &[(&Vec<u8>, &Slot)], journal: &mut Journal) -> Result<(), WriteError> {
        let failed = |rel: &[u8]| {
            let path = self.path(rel);
            move |source| WriteError { path, source }
        };
        for (rel, slot) in changes {
            if slot.original.is_some() {
                let backup = temporary_name(rel, "old");
                fs::rename(self.path(rel), self.path(&backup)).map_err(failed(rel))?;
                journal.backups.push((backup, rel.to_vec()));
            }
        }
        while let Some((temporary, rel)) = journal.staged.pop() {
            fs::rename(self.path(&temporary), self.path(&rel)).map_err(failed(&rel))?;
            journal.placed.push(rel);
        }
        Ok(())
    }

    /// Creates `rel` and its missing ancestors, recording each one created.
    fn create_dirs(&self, rel: &[u8], created: &mut Vec<Vec<u8>>) -> Result<(), WriteError> {
        if rel.is_empty() || self.path(rel).is_dir() {
            return Ok(());
        }
        self.create_dirs(parent_of(rel), created)?;
        match fs::create_dir(self.path(rel)) {
            Ok(()) => {
                created.push(rel.to_vec());
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && self.path(rel).is_dir() => Ok(()),
            Err(source) => Err(WriteError {
                path: self.path(rel),
                source,
            }),
        }
    }

    /// After a file is removed, removes the folders it leaves empty, as GNU patch does.
    fn prune_empty_parents(&self, rel: &[u8]) {
        let mut dir = parent_of(rel);
        while !dir.is_empty() && fs::remove_dir(self.path(dir)).is_ok() {
            dir = parent_of(dir);
        }
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
    fn undo(&self, dir: &Path) {
        let path = |rel: &[u8]| dir.join(os(rel));
        for rel in &self.placed {
            let _ = fs::remove_file(path(rel));
        }
        for (temporary, _) in &self.staged {
            let _ = fs::remove_file(path(temporary));
        }
        for (backup, original) in &self.backups {
            let _ = fs::rename(path(backup), path(original));
        }
        for created in self.dirs.iter().rev() {
            let _ = fs::remove_dir(path(created));
        }
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

fn write_new(path: &Path, state: &FileState) -> io::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o666)
        .open(path)?;
    file.write_all(&state.bytes)?;
    if let Some(mode) = state.mode {
        file.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}
