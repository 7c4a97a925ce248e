//! Paths resolved physically beneath a root folder.
//!
//! Checking a path or a link target as text cannot tell where it leads: a chain of links
//! (`a -> .`, `b -> a/a/../..`) looks harmless one link at a time and still leaves the folder.
//! So every path serpent writes below a folder it owns (an unpacked tree, a patched tree, a
//! recipe's work dir, a stage root) is resolved by the kernel from a descriptor of that folder
//! with `openat2`, and the last component is then acted on with the `*at` calls, which never
//! follow a link in that position.
//!
//! [`Scope::Contained`] refuses any resolution that would leave the root (an absolute link, or
//! `..` past it) and names the link that leads out. [`Scope::Rooted`] resolves as a chroot
//! would: absolute targets and `..` at the top stay at the root, which is what a link such as
//! `lib64 -> /usr/lib` means inside a stage root.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, readlinkat, renameat, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstatat, mkdirat, FileStat, Mode, SFlag};
use nix::unistd::{linkat, symlinkat, unlinkat, UnlinkatFlags};

/// As many links as the kernel follows in one path before it gives up with ELOOP.
const MAX_LINKS_FOLLOWED: usize = 40;

/// How links met on the way are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A path that leads outside the root is refused.
    Contained,
    /// Absolute link targets and `..` at the top mean the root's own paths, as in a chroot.
    Rooted,
}

/// Why a path below the root could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BeneathError {
    #[error("{path} leads outside {root} through the symlink {link} -> {target}")]
    ThroughLink {
        root: PathBuf,
        path: PathBuf,
        link: PathBuf,
        target: PathBuf,
    },
    #[error("{path} leads outside {root}: it is absolute or climbs out with `..`")]
    Outside { root: PathBuf, path: PathBuf },
    #[error("cannot {action} {}: {source}", .root.join(.path).display())]
    Io {
        action: &'static str,
        root: PathBuf,
        path: PathBuf,
        source: io::Error,
    },
}

impl BeneathError {
    /// The relative path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            BeneathError::ThroughLink { path, .. }
            | BeneathError::Outside { path, .. }
            | BeneathError::Io { path, .. } => path,
        }
    }

    /// The underlying system error, for callers that tell a full disk from a refusal.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            BeneathError::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }
}

impl From<BeneathError> for io::Error {
    fn from(error: BeneathError) -> io::Error {
        match error {
            BeneathError::Io { ref source, .. } => io::Error::new(source.kind(), error.to_string()),
            other => io::Error::new(io::ErrorKind::PermissionDenied, other.to_string()),
        }
    }
}

pub type Result<T> = std::result::Result<T, BeneathError>;

/// A folder that paths are resolved beneath.
#[derive(Debug)]
pub struct Beneath {
    dir: OwnedFd,
    root: PathBuf,
    scope: Scope,
}

/// An entry's folder, opened, and the entry's own name in it.
pub struct Parent {
    pub dir: OwnedFd,
    pub name: OsString,
}

impl Beneath {
    /// Opens `root`, which must be a folder (itself found the ordinary way).
    pub fn open(root: &Path, scope: Scope) -> io::Result<Beneath> {
        let fd = nix::fcntl::open(
            root,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Beneath {
            // SAFETY: `open` just returned this descriptor and nothing else owns it.
            dir: unsafe { OwnedFd::from_raw_fd(fd) },
            root: root.to_path_buf(),
            scope,
        })
    }

    /// Creates `root` and its parents if they are missing, then opens it.
    pub fn create(root: &Path, scope: Scope) -> io::Result<Beneath> {
        std::fs::create_dir_all(root)?;
        Beneath::open(root, scope)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn resolve_flags(&self) -> ResolveFlag {
        match self.scope {
            Scope::Contained => ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS,
            Scope::Rooted => ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS,
        }
    }

    fn io_error(&self, action: &'static str, path: &Path, errno: Errno) -> BeneathError {
        BeneathError::Io {
            action,
            root: self.root.clone(),
            path: path.to_path_buf(),
            source: io::Error::from(errno),
        }
    }

    /// Opens `rel` with `flags`, following links only as far as the scope allows.
    fn raw_open(
        &self,
        rel: &Path,
        flags: OFlag,
        mode: Mode,
    ) -> std::result::Result<OwnedFd, Errno> {
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .mode(mode)
            .resolve(self.resolve_flags());
        loop {
            match openat2(self.dir.as_raw_fd(), rel, how) {
                // SAFETY: the kernel just returned this descriptor and nothing else owns it.
                Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd) }),
                // openat2 asks for a retry when a rename raced the walk.
                Err(Errno::EAGAIN) => continue,
                Err(errno) => return Err(errno),
            }
        }
    }

    /// Turns a failed resolution into an error naming the link that leads out, if one does:
    /// the first prefix of `rel` that cannot be resolved within the scope is the culprit.
    fn refusal(&self, action: &'static str, rel: &Path, errno: Errno) -> BeneathError {
        if errno != Errno::EXDEV && errno != Errno::ELOOP {
            return self.io_error(action, rel, errno);
        }
        let mut prefix = PathBuf::new();
        for component in rel.components() {
            prefix.push(component);
            if let Err(Errno::EXDEV | Errno::ELOOP) =
                self.raw_open(&prefix, OFlag::O_PATH, Mode::empty())
            {
                if let Ok(target) = self.link_target_of(&prefix) {
                    return BeneathError::ThroughLink {
                        root: self.root.clone(),
                        path: rel.to_path_buf(),
                        link: prefix,
                        target,
                    };
                }
                break;
            }
        }
        BeneathError::Outside {
            root: self.root.clone(),
            path: rel.to_path_buf(),
        }
    }

    fn link_target_of(&self, rel: &Path) -> std::result::Result<PathBuf, Errno> {
        let parent = self.parent(rel, false).map_err(|_| Errno::ENOENT)?;
        readlinkat(Some(parent.dir.as_raw_fd()), parent.name.as_os_str()).map(PathBuf::from)
    }

    /// Opens the folder `rel`, creating what is missing of it when `create` is set.
    pub fn dir(&self, rel: &Path, create: bool) -> Result<OwnedFd> {
        if create {
            return self.create_dirs(rel, &mut |_| Ok(()));
        }
        self.raw_open(rel, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty())
            .map_err(|errno| self.refusal("open folder", rel, errno))
    }

    /// Opens the folder `rel`, creating what is missing of it; `creating` hears of each folder
    /// before it is made, by its [`physical`](Beneath::physical) path, so that a caller can
    /// journal it. In the rooted scope a link whose
    /// target is missing is followed by creating the target inside the root, as `mkdir -p`
    /// through that link would inside the chroot; in the contained scope it is an error.
    pub fn create_dirs(
        &self,
        rel: &Path,
        creating: &mut dyn FnMut(&Path) -> Result<()>,
    ) -> Result<OwnedFd> {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
        match self.raw_open(rel, flags, Mode::empty()) {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOENT) => {}
            Err(errno) => return Err(self.refusal("open folder", rel, errno)),
        }
        let mut pending: VecDeque<OsString> = rel
            .components()
            .map(|component| component.as_os_str().to_os_string())
            .collect();
        let mut prefix = PathBuf::new();
        let mut current = self.open_existing_dir(&prefix)?;
        let mut links_followed = 0;
        while let Some(name) = pending.pop_front() {
            let next = prefix.join(&name);
            match self.raw_open(&next, flags, Mode::empty()) {
                Ok(fd) => {
                    (current, prefix) = (fd, next);
                    continue;
                }
                Err(Errno::ENOENT) => {}
                Err(errno) => return Err(self.refusal("open folder", &next, errno)),
            }
            let dangling = match fstatat(
                Some(current.as_raw_fd()),
                name.as_os_str(),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            ) {
                Ok(stat) => {
                    SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK
                }
                Err(Errno::ENOENT) => false,
                Err(errno) => return Err(self.io_error("inspect", &next, errno)),
            };
            if !dangling {
                creating(&self.physical(&current)?.join(&name))?;
                match mkdirat(
                    Some(current.as_raw_fd()),
                    name.as_os_str(),
                    Mode::from_bits_truncate(0o755),
                ) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(errno) => return Err(self.io_error("create folder", &next, errno)),
                }
                current = self.open_existing_dir(&next)?;
                prefix = next;
                continue;
            }
            links_followed += 1;
            if self.scope == Scope::Contained || links_followed > MAX_LINKS_FOLLOWED {
                return Err(self.io_error("create folder", &next, Errno::ENOENT));
            }
            let target = PathBuf::from(
                readlinkat(Some(current.as_raw_fd()), name.as_os_str())
                    .map_err(|errno| self.io_error("read symlink", &next, errno))?,
            );
            // The rest of the path continues from the link's target, inside the root.
            if target.is_absolute() {
                prefix = PathBuf::new();
                current = self.open_existing_dir(&prefix)?;
            }
            for component in target.components().rev() {
                if !matches!(component, Component::RootDir | Component::CurDir) {
                    pending.push_front(component.as_os_str().to_os_string());
                }
            }
        }
        Ok(current)
    }

    fn open_existing_dir(&self, rel: &Path) -> Result<OwnedFd> {
        self.raw_open(rel, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty())
            .map_err(|errno| self.refusal("open folder", rel, errno))
    }

    /// The folder `rel`, created if missing, as a path with no link in it: for handing a folder
    /// that was resolved beneath the root to code that takes paths.
    pub fn real_dir(&self, rel: &Path) -> Result<PathBuf> {
        let dir = self.dir(rel, true)?;
        std::fs::read_link(format!("/proc/self/fd/{}", dir.as_raw_fd()))
            .map_err(|source| self.io_error("resolve", rel, errno_of(&source)))
    }

    /// Where the opened folder `dir` (one below the root) is, as a path from the root with no
    /// link in it: a path that still leads there after the links on the way are replaced.
    pub fn physical(&self, dir: &OwnedFd) -> Result<PathBuf> {
        let real = |fd: RawFd| {
            std::fs::read_link(format!("/proc/self/fd/{fd}"))
                .map_err(|source| self.io_error("resolve", Path::new(""), errno_of(&source)))
        };
        let (root, folder) = (real(self.dir.as_raw_fd())?, real(dir.as_raw_fd())?);
        folder
            .strip_prefix(&root)
            .map(Path::to_path_buf)
            .map_err(|_| BeneathError::Outside {
                root: self.root.clone(),
                path: folder.clone(),
            })
    }

    /// The folder holding `rel` and the name of `rel` in it. The name is never resolved, so
    /// what is done to it through the `*at` calls happens to the entry itself, link or not.
    pub fn parent(&self, rel: &Path, create: bool) -> Result<Parent> {
        let rel = clean(rel).ok_or_else(|| BeneathError::Outside {
            root: self.root.clone(),
            path: rel.to_path_buf(),
        })?;
        let name = rel.file_name().ok_or_else(|| BeneathError::Outside {
            root: self.root.clone(),
            path: rel.clone(),
        })?;
        let dir = self.dir(rel.parent().unwrap_or(Path::new("")), create)?;
        Ok(Parent {
            dir,
            name: name.to_os_string(),
        })
    }

    /// The entry at `rel` itself, not what a link there points to; `None` when missing.
    pub fn symlink_metadata(&self, rel: &Path) -> Result<Option<FileStat>> {
        let parent = match self.parent(rel, false) {
            Ok(parent) => parent,
            Err(BeneathError::Io { ref source, .. })
                if source.raw_os_error() == Some(nix::libc::ENOENT) =>
            {
                return Ok(None)
            }
            Err(error) => return Err(error),
        };
        match fstatat(
            Some(parent.dir.as_raw_fd()),
            parent.name.as_os_str(),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(stat) => Ok(Some(stat)),
            Err(Errno::ENOENT) => Ok(None),
            Err(errno) => Err(self.io_error("inspect", rel, errno)),
        }
    }

    /// Opens an existing file, following links only within the scope.
    pub fn open_file(&self, rel: &Path, flags: OFlag) -> Result<File> {
        let fd = self
            .raw_open(rel, flags, Mode::empty())
            .map_err(|errno| self.refusal("open", rel, errno))?;
        Ok(File::from(fd))
    }

    /// Creates a new file at `rel`, replacing whatever non-folder entry (a link included) was
    /// there rather than writing through it.
    pub fn create_file(&self, rel: &Path, mode: u32) -> Result<File> {
        let parent = self.parent(rel, true)?;
        let open = || {
            nix::fcntl::openat(
                Some(parent.dir.as_raw_fd()),
                parent.name.as_os_str(),
                OFlag::O_WRONLY
                    | OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(mode),
            )
        };
        let fd = self.replacing(&parent, rel, "create", open)?;
        // SAFETY: `openat` just returned this descriptor and nothing else owns it.
        Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Writes `bytes` as the whole content of a new file at `rel`.
    pub fn write(&self, rel: &Path, bytes: &[u8], mode: u32) -> Result<()> {
        use std::io::Write;
        let mut file = self.create_file(rel, mode)?;
        file.write_all(bytes)
            .map_err(|source| self.io_error("write", rel, errno_of(&source)))
    }

    /// Writes `bytes` as the whole content of the file at `rel`, as `std::fs::write` does: an
    /// existing file is truncated and keeps its permissions (a link in the last place is
    /// followed, within the scope); a missing one is made, with its folders, 0666 less the umask.
    pub fn overwrite(&self, rel: &Path, bytes: &[u8]) -> Result<()> {
        use std::io::Write;
        self.parent(rel, true)?;
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC;
        let fd = self
            .raw_open(rel, flags, Mode::from_bits_truncate(0o666))
            .map_err(|errno| self.refusal("write", rel, errno))?;
        File::from(fd)
            .write_all(bytes)
            .map_err(|source| self.io_error("write", rel, errno_of(&source)))
    }

    /// Reads the whole file at `rel`.
    pub fn read(&self, rel: &Path) -> Result<Vec<u8>> {
        use std::io::Read;
        let mut file = self.open_file(rel, OFlag::O_RDONLY)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|source| self.io_error("read", rel, errno_of(&source)))?;
        Ok(bytes)
    }

    /// Makes the folder `rel` and any missing parents.
    pub fn create_dir_all(&self, rel: &Path) -> Result<()> {
        self.dir(rel, true).map(drop)
    }

    /// Makes a symlink at `rel`, replacing a non-folder entry that is there.
    pub fn symlink(&self, target: &Path, rel: &Path) -> Result<()> {
        let parent = self.parent(rel, true)?;
        let make = || {
            symlinkat(
                target,
                Some(parent.dir.as_raw_fd()),
                parent.name.as_os_str(),
            )
        };
        self.replacing(&parent, rel, "create symlink", make)
    }

    /// Makes `rel` a hard link to the existing entry `existing` (a link there is linked, not
    /// followed), replacing a non-folder entry at `rel`.
    pub fn hard_link(&self, existing: &Path, rel: &Path) -> Result<()> {
        let from = self.parent(existing, false)?;
        let to = self.parent(rel, true)?;
        let make = || {
            linkat(
                Some(from.dir.as_raw_fd()),
                from.name.as_os_str(),
                Some(to.dir.as_raw_fd()),
                to.name.as_os_str(),
                nix::fcntl::AtFlags::empty(),
            )
        };
        self.replacing(&to, rel, "link", make)
    }

    /// Makes `rel` a hard link to `outside`, a file serpent owns elsewhere on the same
    /// filesystem (a link there is linked, not followed), replacing a non-folder entry at `rel`.
    pub fn link_from(&self, outside: &Path, rel: &Path) -> Result<()> {
        let to = self.parent(rel, true)?;
        let make = || {
            linkat(
                None,
                outside,
                Some(to.dir.as_raw_fd()),
                Path::new(&to.name),
                nix::fcntl::AtFlags::empty(),
            )
        };
        self.replacing(&to, rel, "link", make)
    }

    /// Renames `from` to `to`, both beneath the root.
    pub fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let source = self.parent(from, false)?;
        let dest = self.parent(to, true)?;
        renameat(
            Some(source.dir.as_raw_fd()),
            source.name.as_os_str(),
            Some(dest.dir.as_raw_fd()),
            dest.name.as_os_str(),
        )
        .map_err(|errno| self.io_error("rename", from, errno))
    }

    /// Removes the entry at `rel`: a file or link itself, or a folder with all it holds. A
    /// missing entry is not an error.
    pub fn remove(&self, rel: &Path) -> Result<()> {
        let parent = match self.parent(rel, false) {
            Ok(parent) => parent,
            Err(BeneathError::Io { ref source, .. })
                if source.raw_os_error() == Some(nix::libc::ENOENT) =>
            {
                return Ok(())
            }
            Err(error) => return Err(error),
        };
        let is_dir = match fstatat(
            Some(parent.dir.as_raw_fd()),
            parent.name.as_os_str(),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(stat) => SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR,
            Err(Errno::ENOENT) => return Ok(()),
            Err(errno) => return Err(self.io_error("remove", rel, errno)),
        };
        if !is_dir {
            return self.unlink_entry(&parent, rel);
        }
        // std's remove_dir_all walks with descriptors and never follows links; it is given the
        // folder through the descriptor of its already resolved parent.
        let through = proc_path(parent.dir.as_raw_fd(), &parent.name);
        std::fs::remove_dir_all(&through)
            .map_err(|source| self.io_error("remove", rel, errno_of(&source)))
    }

    /// Runs `make`, which creates the entry `rel`; when something other than a folder is in the
    /// way, removes it (a link itself, never what it points to) and runs `make` once more.
    fn replacing<T>(
        &self,
        parent: &Parent,
        rel: &Path,
        action: &'static str,
        make: impl Fn() -> std::result::Result<T, Errno>,
    ) -> Result<T> {
        match make() {
            Err(Errno::EEXIST) => {
                self.unlink_entry(parent, rel)?;
                make()
            }
            other => other,
        }
        .map_err(|errno| self.io_error(action, rel, errno))
    }

    fn unlink_entry(&self, parent: &Parent, rel: &Path) -> Result<()> {
        match unlinkat(
            Some(parent.dir.as_raw_fd()),
            parent.name.as_os_str(),
            UnlinkatFlags::NoRemoveDir,
        ) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(errno) => Err(self.io_error("remove", rel, errno)),
        }
    }
}

/// The path of `name` inside an open folder, through the process's own descriptor table.
fn proc_path(dir: RawFd, name: &OsStr) -> PathBuf {
    let mut path = PathBuf::from(format!("/proc/self/fd/{dir}"));
    path.push(name);
    path
}

fn errno_of(error: &io::Error) -> Errno {
    Errno::from_raw(error.raw_os_error().unwrap_or(nix::libc::EIO))
}

/// `rel` without `.` components and trailing slashes; `None` for an absolute path. `..` is left
/// to the kernel, which checks it against the scope.
pub fn clean(rel: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in rel.components() {
        match component {
            Component::RootDir | Component::Prefix(_) => return None,
            Component::CurDir => {}
            Component::ParentDir | Component::Normal(_) => out.push(component),
        }
    }
    Some(out)
}

/// A path given as bytes, as archives and patches carry them.
pub fn path_of(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

#[cfg(test)]
#[path = "beneath_tests.rs"]
mod tests;
