//! Merging a finished package into its stage root, all or nothing.
//!
//! Every path is resolved beneath the root with [`Scope::Rooted`]: a link a package left there
//! (`lib64 -> /usr/lib`, `usr/lib -> /opt/lib`) means the root's own folder, as it does inside
//! the chroot, and a later package's files follow it there, never into the host's folder.
//!
//! Each change to the root is written to a journal in the stage's folder before it is made.
//! An entry that is replaced or removed is not deleted but renamed into the journal's folder,
//! which is on the same filesystem, so keeping it costs one rename. When the merge fails, the
//! journal is played backwards at once; when serpent is killed, the next run plays it back
//! before it builds anything ([`recover`]). Removing the journal file is the commit: a merge
//! is either wholly in the root or not at all, and the package's record is only written after.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{renameat, AtFlags, OFlag};
use nix::sys::stat::{fstatat, Mode, SFlag};
use nix::unistd::{symlinkat, unlinkat, UnlinkatFlags};

use crate::beneath::{Beneath, BeneathError, Scope};
use crate::error::{Error, Result};
use crate::layout::Layout;

const JOURNAL: &str = "journal";
const SAVED: &str = "saved";
const NEW_FILE_LIST: &str = "files";
const HEADER: &[u8] = b"serpent merge journal 1\n";

/// One change to the root or to the package's files in the work dir, journaled before it is
/// made. A step's position in the journal names what it saved in the journal's folder.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// The root's entry here was moved into the journal's folder, to be replaced or removed.
    Saved(PathBuf),
    /// A file or link was made where the root had nothing.
    Created(PathBuf),
    /// A folder was made.
    Folder(PathBuf),
    /// A path of the stage folder (the package, its file list) is replaced; what was there, if
    /// anything, was moved into the journal's folder.
    Replaced { path: PathBuf, existed: bool },
}

impl Step {
    fn encode(&self) -> Vec<u8> {
        let (kind, path) = match self {
            Step::Saved(path) => (b'S', path),
            Step::Created(path) => (b'C', path),
            Step::Folder(path) => (b'D', path),
            Step::Replaced { path, existed } => (if *existed { b'W' } else { b'w' }, path),
        };
        let mut bytes = vec![kind];
        bytes.extend_from_slice(path.as_os_str().as_bytes());
        bytes.push(0);
        bytes
    }

    fn decode(record: &[u8]) -> Option<Step> {
        let (kind, path) = record.split_first()?;
        let path = PathBuf::from(OsStr::from_bytes(path));
        Some(match kind {
            b'S' => Step::Saved(path),
            b'C' => Step::Created(path),
            b'D' => Step::Folder(path),
            b'W' => Step::Replaced {
                path,
                existed: true,
            },
            b'w' => Step::Replaced {
                path,
                existed: false,
            },
            _ => return None,
        })
    }
}

/// The journal of one merge: `<stage>/merging/<name>/journal` and the folder `saved` beside it.
struct Journal {
    file: File,
    saved: OwnedFd,
    steps: usize,
}

impl Journal {
    fn begin(layout: &Layout) -> Result<Journal> {
        let dir = layout.journal();
        let saved = dir.join(SAVED);
        std::fs::create_dir_all(&saved)
            .map_err(|error| Error::io("cannot create", &saved, error))?;
        let path = dir.join(JOURNAL);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(|error| Error::io("cannot create the merge journal", &path, error))?;
        let mut header = HEADER.to_vec();
        header.extend_from_slice(layout.root_name.as_bytes());
        header.push(0);
        file.write_all(&header)
            .map_err(|error| Error::io("cannot write the merge journal", &path, error))?;
        let saved = open_dir(&saved).map_err(|error| Error::io("cannot open", &saved, error))?;
        Ok(Journal {
            file,
            saved,
            steps: 0,
        })
    }

    /// Writes `step` down before it is taken; returns the name its saved entry gets.
    fn log(&mut self, step: &Step) -> io::Result<String> {
        self.file.write_all(&step.encode())?;
        self.steps += 1;
        Ok((self.steps - 1).to_string())
    }
}

/// The steps and the root's name read back from a journal; a step whose record was cut short
/// by a kill had not been taken yet, so it is left out.
fn read_journal(path: &Path) -> io::Result<Option<(String, Vec<Step>)>> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    let Some(rest) = bytes.strip_prefix(HEADER) else {
        return Ok(None);
    };
    let mut records = rest.split_inclusive(|byte| *byte == 0);
    let Some(root_name) = records.next().and_then(|name| name.strip_suffix(&[0])) else {
        return Ok(None);
    };
    let steps = records
        .filter_map(|record| record.strip_suffix(&[0]))
        .map(|record| {
            Step::decode(record).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, "an unknown step in the journal")
            })
        })
        .collect::<io::Result<Vec<_>>>()?;
    Ok(Some((
        String::from_utf8_lossy(root_name).into_owned(),
        steps,
    )))
}

fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let fd = nix::fcntl::open(
        path,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: `open` just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// What an entry of a package is to become in the root.
enum Content {
    File(PathBuf),
    Link(PathBuf),
}

impl Content {
    fn of(path: &Path) -> io::Result<Content> {
        let meta = path.symlink_metadata()?;
        if meta.file_type().is_symlink() {
            Ok(Content::Link(std::fs::read_link(path)?))
        } else if meta.is_file() {
            Ok(Content::File(path.to_path_buf()))
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is neither a file, a folder nor a symlink; a package may only hold those",
                    path.display()
                ),
            ))
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Content::File(_) => "a file",
            Content::Link(_) => "a symlink",
        }
    }
}

/// A merge under way: the root, the journal, and what the package brings.
pub struct Transaction<'a> {
    layout: &'a Layout,
    root: Beneath,
    journal: Journal,
    /// Whether a link of the root was replaced, which may cut the way to another file.
    replaced_links: bool,
}

impl<'a> Transaction<'a> {
    /// Starts a merge into `layout`'s root. A journal left by a merge that was killed is played
    /// back first.
    pub fn begin(layout: &'a Layout) -> Result<Transaction<'a>> {
        roll_back(layout)?;
        let root_dir = layout.root();
        let root = Beneath::create(&root_dir, Scope::Rooted)
            .map_err(|error| Error::io("cannot open the root", &root_dir, error))?;
        Ok(Transaction {
            layout,
            root,
            journal: Journal::begin(layout)?,
            replaced_links: false,
        })
    }

    /// Replaces the previous version's files (`previous`) with the package in the destdir,
    /// whose files and links are `files`. A file of the previous version that the package no
    /// longer has goes back to another package's copy of it (`restore`), or is removed. The
    /// package and its file list then take the previous version's place in the stage folder.
    pub fn apply(
        &mut self,
        files: &[String],
        previous: &[String],
        restore: &dyn Fn(&str) -> Option<PathBuf>,
    ) -> Result<()> {
        let kept: std::collections::BTreeSet<&str> = files.iter().map(String::as_str).collect();
        for file in previous.iter().filter(|file| !kept.contains(file.as_str())) {
            match restore(file) {
                Some(copy) => self.place_from(Path::new(file), &copy)?,
                None => self.remove(Path::new(file))?,
            }
        }
        let top = self
            .root
            .dir(Path::new(""), false)
            .map_err(|error| self.refused(error))?;
        self.merge_folder(Path::new(""), &top)?;
        if self.replaced_links {
            self.refuse_unreachable(files)?;
        }
        self.replace_in_stage(&self.layout.package(), &self.layout.destdir())?;
        let written = self.layout.journal().join(NEW_FILE_LIST);
        std::fs::write(&written, files.join("\n"))
            .map_err(|error| Error::io("cannot write", &written, error))?;
        self.replace_in_stage(&self.layout.file_list(), &written)
    }

    /// Makes the merge permanent: the journal goes, and with it what it saved.
    pub fn commit(self) -> Result<()> {
        let dir = self.layout.journal();
        let journal = dir.join(JOURNAL);
        drop(self.journal);
        std::fs::remove_file(&journal)
            .map_err(|error| Error::io("cannot remove", &journal, error))?;
        crate::remove::remove_all(&dir)
    }

    /// Undoes every step taken so far.
    pub fn roll_back(self) -> Result<()> {
        drop(self.journal);
        roll_back(self.layout)
    }

    fn merge_folder(&mut self, rel: &Path, into: &OwnedFd) -> Result<()> {
        let source = self.layout.destdir().join(rel);
        let here = self.physical(into, rel)?;
        let mut entries: Vec<_> = std::fs::read_dir(&source)
            .and_then(|entries| entries.collect::<io::Result<Vec<_>>>())
            .map_err(|error| Error::io("cannot read", &source, error))?;
        entries.sort_by_key(|entry| entry.file_name());
        for entry in entries {
            let name = entry.file_name();
            let rel = rel.join(&name);
            let is_dir = entry
                .file_type()
                .map_err(|error| Error::io("cannot inspect", entry.path(), error))?
                .is_dir();
            if is_dir {
                let folder = self.folder(&rel)?;
                self.merge_folder(&rel, &folder)?;
            } else {
                let content = Content::of(&entry.path())
                    .map_err(|error| Error::io("cannot merge", entry.path(), error))?;
                self.place(into, &name, &here.join(&name), &content)?;
            }
        }
        Ok(())
    }

    /// Opens the root's folder `rel`, making (and journaling) what is missing of it.
    fn folder(&mut self, rel: &Path) -> Result<OwnedFd> {
        let root = self.root.root().to_path_buf();
        let journal = &mut self.journal;
        let mut creating = |path: &Path| {
            journal
                .log(&Step::Folder(path.to_path_buf()))
                .map(drop)
                .map_err(|source| BeneathError::Io {
                    action: "write the merge journal for",
                    root: root.clone(),
                    path: path.to_path_buf(),
                    source,
                })
        };
        self.root
            .create_dirs(rel, &mut creating)
            .map_err(|error| self.refused(error))
    }

    /// Where the root's folder `into` (reached as `rel`) is, by a path with no link in it: the
    /// journal names entries that way, so that playing it back in reverse finds each one again
    /// even where a step replaced a link on the way to it.
    fn physical(&self, into: &OwnedFd, rel: &Path) -> Result<PathBuf> {
        self.root.physical(into).map_err(|error| {
            let path = self.root.root().join(rel);
            Error::io("cannot merge", path, error.into())
        })
    }

    /// Puts `content` at `rel` (named `name` in the root's folder `into`), saving what was there.
    fn place(&mut self, into: &OwnedFd, name: &OsStr, rel: &Path, content: &Content) -> Result<()> {
        match fstatat(Some(into.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Err(Errno::ENOENT) => self.log(&Step::Created(rel.to_path_buf())).map(drop)?,
            Ok(stat) if is_dir(stat.st_mode) => {
                return Err(self.failed(
                    rel,
                    io::Error::other(format!(
                        "the root has a folder there and the package has {}",
                        content.kind()
                    )),
                ))
            }
            Ok(stat) => {
                self.save(into, name, rel)?;
                self.replaced_links |= is_link(stat.st_mode);
            }
            Err(errno) => return Err(self.failed(rel, errno.into())),
        }
        let made = match content {
            Content::Link(target) => {
                symlinkat(target.as_path(), Some(into.as_raw_fd()), name).map_err(io::Error::from)
            }
            Content::File(source) => copy_file(source, into, name),
        };
        made.map_err(|error| self.failed(rel, error))
    }

    /// Refuses a merge after which a file of the package cannot be found by its own path: with
    /// `a -> .` in the root, the package's `a/a` is the link `a` itself and would replace it,
    /// and a package's `usr/lib` file can replace a link `lib` another of its files lies behind.
    fn refuse_unreachable(&self, files: &[String]) -> Result<()> {
        for file in files {
            if !matches!(self.root.symlink_metadata(Path::new(file)), Ok(Some(_))) {
                return Err(self.failed(
                    Path::new(file),
                    io::Error::other(
                        "the package's file would not be found by its path: a symlink on the way to it in the root is replaced by one of the package's own entries",
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Puts another package's copy `source` of a file back at `rel`.
    fn place_from(&mut self, rel: &Path, source: &Path) -> Result<()> {
        let content =
            Content::of(source).map_err(|error| Error::io("cannot restore", source, error))?;
        let parent = rel.parent().unwrap_or(Path::new(""));
        let into = self.folder(parent)?;
        let name = rel.file_name().unwrap_or_default();
        let here = self.physical(&into, parent)?.join(name);
        self.place(&into, name, &here, &content)
    }

    /// Takes the file or link at `rel` out of the root; a folder or nothing there is left be.
    fn remove(&mut self, rel: &Path) -> Result<()> {
        let parent = match self.root.parent(rel, false) {
            Ok(parent) => parent,
            // The file's folder is gone, or is no folder any more: nothing of it is left here.
            Err(error)
                if matches!(
                    error.io_kind(),
                    Some(io::ErrorKind::NotFound | io::ErrorKind::NotADirectory)
                ) =>
            {
                return Ok(())
            }
            Err(error) => return Err(self.refused(error)),
        };
        match fstatat(
            Some(parent.dir.as_raw_fd()),
            parent.name.as_os_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Err(Errno::ENOENT) => Ok(()),
            Ok(stat) if is_dir(stat.st_mode) => Ok(()),
            Ok(_) => {
                let here = self.physical(&parent.dir, rel)?.join(&parent.name);
                self.save(&parent.dir, &parent.name, &here)
            }
            Err(errno) => Err(self.failed(rel, errno.into())),
        }
    }

    /// Moves the root's entry at `rel` into the journal's folder.
    fn save(&mut self, into: &OwnedFd, name: &OsStr, rel: &Path) -> Result<()> {
        let saved_as = self.log(&Step::Saved(rel.to_path_buf()))?;
        renameat(
            Some(into.as_raw_fd()),
            name,
            Some(self.journal.saved.as_raw_fd()),
            saved_as.as_str(),
        )
        .map_err(|errno| self.failed(rel, errno.into()))
    }

    /// Moves `new` to `path` in the stage folder, keeping what was at `path` in the journal.
    fn replace_in_stage(&mut self, path: &Path, new: &Path) -> Result<()> {
        let existed = path.symlink_metadata().is_ok();
        let rel = path
            .strip_prefix(&self.layout.stage_dir)
            .expect("the package's files are in its stage folder")
            .to_path_buf();
        let saved_as = self.log(&Step::Replaced { path: rel, existed })?;
        if existed {
            let saved = self.layout.journal().join(SAVED).join(saved_as);
            std::fs::rename(path, &saved)
                .map_err(|error| Error::io("cannot move aside", path, error))?;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|error| Error::io("cannot create", parent, error))?;
        }
        std::fs::rename(new, path).map_err(|error| Error::io("cannot move into place", path, error))
    }

    fn log(&mut self, step: &Step) -> Result<String> {
        let journal = self.layout.journal().join(JOURNAL);
        self.journal
            .log(step)
            .map_err(|error| Error::io("cannot write the merge journal", &journal, error))
    }

    /// An error naming the file of the root that could not be merged.
    fn failed(&self, rel: &Path, error: io::Error) -> Error {
        Error::io("cannot merge", self.root.root().join(rel), error)
    }

    fn refused(&self, error: BeneathError) -> Error {
        let path = self.root.root().join(error.path());
        Error::io("cannot merge", path, error.into())
    }
}

fn is_dir(mode: u32) -> bool {
    SFlag::from_bits_truncate(mode) & SFlag::S_IFMT == SFlag::S_IFDIR
}

fn is_link(mode: u32) -> bool {
    SFlag::from_bits_truncate(mode) & SFlag::S_IFMT == SFlag::S_IFLNK
}

/// Copies the file `source` to a new file `name` in `into`, with the source's permissions.
fn copy_file(source: &Path, into: &OwnedFd, name: &OsStr) -> io::Result<()> {
    let mut from = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(source)?;
    let mode = from.metadata()?.permissions().mode() & 0o7777;
    let fd = nix::fcntl::openat(
        Some(into.as_raw_fd()),
        name,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )?;
    // SAFETY: `openat` just returned this descriptor and nothing else owns it.
    let mut to = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    io::copy(&mut from, &mut to)?;
    to.set_permissions(std::fs::Permissions::from_mode(mode))
}

/// Merges the package in `layout`'s destdir into the root, replacing the previous version.
pub fn merge(
    layout: &Layout,
    files: &[String],
    previous: &[String],
    restore: &dyn Fn(&str) -> Option<PathBuf>,
) -> Result<()> {
    let mut transaction = Transaction::begin(layout)?;
    match transaction.apply(files, previous, restore) {
        Ok(()) => transaction.commit(),
        Err(error) => match transaction.roll_back() {
            Ok(()) => Err(error),
            Err(undo) => Err(Error::Many(vec![error, undo])),
        },
    }
}

/// Plays back the journal of a merge into `layout`'s root that did not finish, if there is
/// one, and removes it.
pub fn roll_back(layout: &Layout) -> Result<()> {
    let dir = layout.journal();
    let journal = dir.join(JOURNAL);
    let steps = match read_journal(&journal) {
        Ok(Some((_, steps))) => steps,
        // A journal not begun, or one whose merge was committed: nothing to undo.
        Ok(None) => Vec::new(),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(error) => return Err(Error::io("cannot read the merge journal", &journal, error)),
    };
    let undo = Undo::new(layout)?;
    for (index, step) in steps.iter().enumerate().rev() {
        undo.step(step, &index.to_string())?;
    }
    match std::fs::remove_file(&journal) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(Error::io("cannot remove", &journal, error)),
    }
    crate::remove::remove_all(&dir)
}

/// Plays journaled steps backwards.
struct Undo<'a> {
    layout: &'a Layout,
    root: Beneath,
    saved: PathBuf,
}

impl<'a> Undo<'a> {
    fn new(layout: &'a Layout) -> Result<Undo<'a>> {
        let root_dir = layout.root();
        let root = Beneath::create(&root_dir, Scope::Rooted)
            .map_err(|error| Error::io("cannot open the root", &root_dir, error))?;
        Ok(Undo {
            layout,
            root,
            saved: layout.journal().join(SAVED),
        })
    }

    fn step(&self, step: &Step, saved_as: &str) -> Result<()> {
        let undone = match step {
            Step::Saved(rel) => self.put_back(rel, saved_as),
            Step::Created(rel) => self.unlink(rel, UnlinkatFlags::NoRemoveDir),
            Step::Folder(rel) => self.unlink(rel, UnlinkatFlags::RemoveDir),
            Step::Replaced { path, existed } => self.restore_in_stage(path, *existed, saved_as),
        };
        undone.map_err(|error| {
            let journal = self.layout.journal();
            let advice = format!(
                "{error}; the journal {} is kept and the next run tries again (should that fail too, remove it and the stage's root, {}, to rebuild the stage)",
                journal.display(),
                self.root.root().display()
            );
            Error::io(
                "cannot roll back the unfinished merge at",
                self.root.root().join(step_path(step)),
                io::Error::new(error.kind(), advice),
            )
        })
    }

    fn put_back(&self, rel: &Path, saved_as: &str) -> io::Result<()> {
        let parent = self.root.parent(rel, false)?;
        let saved = open_dir(&self.saved)?;
        match renameat(
            Some(saved.as_raw_fd()),
            saved_as,
            Some(parent.dir.as_raw_fd()),
            parent.name.as_os_str(),
        ) {
            // Never moved: the merge was killed between journaling the step and taking it.
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(errno) => Err(errno.into()),
        }
    }

    fn unlink(&self, rel: &Path, flags: UnlinkatFlags) -> io::Result<()> {
        let parent = match self.root.parent(rel, false) {
            Ok(parent) => parent,
            Err(error) if error.io_kind() == Some(io::ErrorKind::NotFound) => return Ok(()),
            Err(error) => return Err(error.into()),
        };
        match unlinkat(Some(parent.dir.as_raw_fd()), parent.name.as_os_str(), flags) {
            // A folder something else was put into since stays, with what it holds.
            Ok(()) | Err(Errno::ENOENT) | Err(Errno::ENOTEMPTY) => Ok(()),
            Err(errno) => Err(errno.into()),
        }
    }

    fn restore_in_stage(&self, rel: &Path, existed: bool, saved_as: &str) -> io::Result<()> {
        let path = self.layout.stage_dir.join(rel);
        let saved = self.saved.join(saved_as);
        if existed && saved.symlink_metadata().is_err() {
            // Not moved aside yet: what is there is still the previous version's.
            return Ok(());
        }
        remove_any(&path)?;
        if existed {
            std::fs::rename(&saved, &path)?;
        }
        Ok(())
    }
}

fn step_path(step: &Step) -> &Path {
    match step {
        Step::Saved(path) | Step::Created(path) | Step::Folder(path) => path,
        Step::Replaced { path, .. } => path,
    }
}

fn remove_any(path: &Path) -> io::Result<()> {
    let result = match path.symlink_metadata() {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(error) => Err(error),
    };
    match result {
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Plays back every merge journal left in the work dir by a serpent that was killed; returns
/// the packages (`<target>/<stage>/<name>`) whose merge was undone.
pub fn recover(work_dir: &Path) -> Result<Vec<String>> {
    let mut undone = Vec::new();
    for journal_dir in Layout::journals(work_dir) {
        let journal = journal_dir.join(JOURNAL);
        let root_name = match read_journal(&journal) {
            Ok(Some((root_name, _))) => root_name,
            // Committed, or killed before anything was journaled: nothing to undo.
            Ok(None) => {
                crate::remove::remove_all(&journal_dir)?;
                continue;
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                crate::remove::remove_all(&journal_dir)?;
                continue;
            }
            Err(error) => return Err(Error::io("cannot read the merge journal", &journal, error)),
        };
        let layout = Layout::of_journal(work_dir, &journal_dir, &root_name);
        roll_back(&layout)?;
        let id = journal_dir
            .strip_prefix(work_dir)
            .unwrap_or(&journal_dir)
            .iter()
            .filter(|part| *part != OsStr::new(crate::layout::MERGING))
            .map(|part| part.to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        undone.push(id);
    }
    Ok(undone)
}

/// The files and links `layout`'s package put into the root when it was last merged.
pub fn merged_files(layout: &Layout) -> Vec<String> {
    std::fs::read_to_string(layout.file_list())
        .map(|text| text.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Relative paths of the files and links in a package, sorted by name within each folder.
pub fn list_files(package: &Path) -> Vec<String> {
    let mut files = Vec::new();
    list_into(package, package, &mut files);
    files
}

fn list_into(base: &Path, dir: &Path, files: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let path = entry.path();
        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            list_into(base, &path, files);
        } else if let Ok(relative) = path.strip_prefix(base) {
            files.push(relative.to_string_lossy().into_owned());
        }
    }
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
