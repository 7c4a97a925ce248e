//! The destination of an extraction, written only through paths the kernel
//! resolved beneath it (`crate::beneath`).
//!
//! Members arrive grouped by folder, so the folders last written into are kept
//! open and their children are created with the `*at` calls relative to them:
//! an `openat2` only when a member's folder is not among them, rather than
//! one per file.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, readlinkat, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstatat, mkdirat, Mode, SFlag};
use nix::unistd::{symlinkat, unlinkat, UnlinkatFlags};

use crate::beneath::{path_of, Beneath, BeneathError, Scope};

/// Where a symlink leads, as found by [`Tree::leads_out`].
#[derive(Debug, PartialEq, Eq)]
pub enum LeadsOut {
    No,
    /// Its own target is absolute or climbs out, whatever the links around.
    Directly,
    /// Another link on the way makes it lead out.
    Through(WayOut),
}

/// A symlink on the way out of the destination.
#[derive(Debug, PartialEq, Eq)]
pub struct WayOut {
    /// The link, relative to the destination, as the walk spelled it.
    pub link: Vec<u8>,
    pub target: Vec<u8>,
}

/// How many folders are kept open. Archives interleave a folder's files with
/// its subfolders'; on LLVM's 115,000 files and 11,800 folders, keeping one
/// open took 21,000 `openat2` calls, keeping eight about one per folder.
const OPEN_DIRS: usize = 8;

pub struct Tree {
    beneath: Beneath,
    /// The folders last written into, most recent first, and their descriptors.
    open_dirs: Vec<(Vec<u8>, OwnedFd)>,
}

type Result<T> = std::result::Result<T, BeneathError>;

impl Tree {
    /// Creates `dest` if it is missing and opens it.
    pub fn create(dest: &Path) -> io::Result<Tree> {
        Ok(Tree {
            beneath: Beneath::create(dest, Scope::Contained)?,
            open_dirs: Vec::with_capacity(OPEN_DIRS),
        })
    }

    fn io_error(&self, action: &'static str, rel: &[u8], errno: Errno) -> BeneathError {
        BeneathError::Io {
            action,
            root: self.beneath.root().to_path_buf(),
            path: path_of(rel).to_path_buf(),
            source: io::Error::from(errno),
        }
    }

    /// The open folder `rel` (which must exist), and the name of the entry.
    fn parent_of<'r>(&mut self, rel: &'r [u8]) -> Result<(&OwnedFd, &'r OsStr)> {
        let (folder, name) = match rel.iter().rposition(|b| *b == b'/') {
            Some(i) => (&rel[..i], &rel[i + 1..]),
            None => (&rel[..0], rel),
        };
        match self.open_dirs.iter().position(|(open, _)| open == folder) {
            Some(0) => {}
            Some(i) => {
                let found = self.open_dirs.remove(i);
                self.open_dirs.insert(0, found);
            }
            None => {
                let fd = self.beneath.dir(path_of(folder), false)?;
                self.open_dirs.truncate(OPEN_DIRS - 1);
                self.open_dirs.insert(0, (folder.to_vec(), fd));
            }
        }
        Ok((&self.open_dirs[0].1, OsStr::from_bytes(name)))
    }

    /// Makes the folder `rel` and whatever is missing above it.
    pub fn create_dir_all(&self, rel: &[u8]) -> Result<()> {
        self.beneath.create_dir_all(path_of(rel))
    }

    /// Runs `make` in the entry's folder; if something is already there that
    /// is not a folder, removes it (never following it) and runs `make` again.
    fn replacing<T>(
        &mut self,
        action: &'static str,
        rel: &[u8],
        make: impl Fn(&OwnedFd, &OsStr) -> nix::Result<T>,
    ) -> Result<T> {
        let (dir, name) = self.parent_of(rel)?;
        let result = match make(dir, name) {
            Err(Errno::EEXIST) => {
                match unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::NoRemoveDir) {
                    Ok(()) | Err(Errno::ENOENT) => make(dir, name),
                    Err(errno) => Err(errno),
                }
            }
            other => other,
        };
        result.map_err(|errno| self.io_error(action, rel, errno))
    }

    /// A new regular file, replacing a file or link of that name.
    pub fn create_file(&mut self, rel: &[u8], mode: u32) -> Result<File> {
        let fd = self.replacing("create", rel, |dir, name| {
            nix::fcntl::openat(
                Some(dir.as_raw_fd()),
                name,
                OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW,
                Mode::from_bits_truncate(mode),
            )
        })?;
        // SAFETY: `openat` just returned this descriptor and nothing else owns it.
        Ok(File::from(unsafe {
            <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd)
        }))
    }

    /// A folder (mode `mode`), replacing a file or link of that name; an
    /// existing folder is kept.
    pub fn make_dir(&mut self, rel: &[u8], mode: u32) -> Result<()> {
        let (dir, name) = self.parent_of(rel)?;
        let mode = Mode::from_bits_truncate(mode);
        let made = match mkdirat(Some(dir.as_raw_fd()), name, mode) {
            Err(Errno::EEXIST) => {
                let stat = fstatat(Some(dir.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW);
                match stat {
                    Ok(s)
                        if SFlag::from_bits_truncate(s.st_mode) & SFlag::S_IFMT
                            == SFlag::S_IFDIR =>
                    {
                        Ok(())
                    }
                    _ => unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::NoRemoveDir)
                        .and_then(|()| mkdirat(Some(dir.as_raw_fd()), name, mode)),
                }
            }
            other => other,
        };
        made.map_err(|errno| self.io_error("create folder", rel, errno))
    }

    pub fn symlink(&mut self, target: &[u8], rel: &[u8]) -> Result<()> {
        self.replacing("create symlink", rel, |dir, name| {
            symlinkat(path_of(target), Some(dir.as_raw_fd()), name)
        })
    }

    /// Makes `rel` another name of `existing`; nothing to do when it already is.
    pub fn hard_link(&mut self, existing: &[u8], rel: &[u8]) -> Result<()> {
        let stat = |p: &[u8]| self.beneath.symlink_metadata(path_of(p));
        if let (Some(a), Some(b)) = (stat(existing)?, stat(rel)?) {
            if (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino) {
                return Ok(());
            }
        }
        self.beneath.hard_link(path_of(existing), path_of(rel))
    }

    /// Opens the folder `rel` itself (never a link), to set its mode and times.
    pub fn open_dir(&self, rel: &[u8]) -> Result<File> {
        self.beneath.open_file(
            path_of(rel),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
        )
    }

    pub fn remove(&self, rel: &[u8]) -> Result<()> {
        self.beneath.remove(path_of(rel))
    }

    pub fn full(&self, rel: &[u8]) -> PathBuf {
        self.beneath.root().join(path_of(rel))
    }

    /// Whether the symlink at `rel`, followed through the tree as it is now,
    /// leads outside the destination, and through which link. The kernel
    /// walks each longer prefix of the target; where a component is missing,
    /// a dangling link there is followed through its own target, and
    /// otherwise the rest is taken as folders still to be made, so a link
    /// that would lead out once they exist counts too. A loop leads nowhere
    /// and is allowed.
    pub fn leads_out(&self, rel: &[u8]) -> Result<LeadsOut> {
        let root = self.beneath.dir(Path::new(""), false)?;
        let target = self.read_link(rel)?;
        if target.first() == Some(&b'/') {
            return Ok(LeadsOut::Directly);
        }
        let mut steps = components(super::parent(rel));
        steps.extend(components(&target));
        // Dangling links followed by hand; the first names the way out when
        // the walk that went through it no longer shows a link.
        let mut followed: Vec<WayOut> = Vec::new();
        let (mut k, mut reached) = (0, None);
        let verdict = loop {
            if k == steps.len() {
                break LeadsOut::No;
            }
            k += 1;
            let prefix = steps[..k].join(&b'/');
            match open_beneath(&root, &prefix) {
                Ok(fd) => reached = Some(fd),
                Err(Errno::EXDEV) => break self.culprit(&steps[..k]),
                Err(Errno::ELOOP) => break LeadsOut::No,
                Err(Errno::ENOENT | Errno::ENOTDIR) => {
                    let Ok(target) = self.read_link(&prefix) else {
                        let depth = match &reached {
                            Some(fd) => self.depth_of(fd, &root, rel)?,
                            None => 0,
                        };
                        break self.dangling(&steps[..k - 1], &steps[k - 1..], depth);
                    };
                    if target.first() == Some(&b'/') {
                        break self.culprit(&steps[..k]);
                    } else if followed.len() == MAX_HOPS {
                        break LeadsOut::No;
                    }
                    steps.splice(k - 1..k, components(&target));
                    followed.push(WayOut {
                        link: prefix,
                        target,
                    });
                    k -= 1;
                }
                Err(errno) => return Err(self.io_error("resolve", &prefix, errno)),
            }
        };
        Ok(match verdict {
            LeadsOut::Directly if !followed.is_empty() => LeadsOut::Through(followed.remove(0)),
            other => other,
        })
    }

    /// A walk that stopped at a missing component: the rest, taken as plain
    /// folders from `depth` below the destination, leads out if it climbs
    /// above it.
    fn dangling(&self, walked: &[Vec<u8>], rest: &[Vec<u8>], depth: usize) -> LeadsOut {
        let mut depth = depth as isize;
        for (i, step) in rest.iter().enumerate() {
            depth += if step == b".." { -1 } else { 1 };
            if depth < 0 {
                let mut steps = walked.to_vec();
                steps.extend_from_slice(&rest[..=i]);
                return self.culprit(&steps);
            }
        }
        LeadsOut::No
    }

    /// The link that made `steps` (a walk that ends outside) lead out: the
    /// last step itself when it is a link, or else the first link on the way,
    /// which made a `..` climb further than the spelling suggests. With no
    /// link on the way, the target climbs out on its own.
    fn culprit(&self, steps: &[Vec<u8>]) -> LeadsOut {
        let last = steps.join(&b'/');
        if steps.last().map(Vec::as_slice) != Some(b"..") {
            if let Ok(target) = self.read_link(&last) {
                return LeadsOut::Through(WayOut { link: last, target });
            }
        }
        for k in 1..steps.len() {
            if steps[k - 1] == b".." {
                continue;
            }
            let prefix = steps[..k].join(&b'/');
            if let Ok(target) = self.read_link(&prefix) {
                return LeadsOut::Through(WayOut {
                    link: prefix,
                    target,
                });
            }
        }
        LeadsOut::Directly
    }

    /// The target of the link at `rel` (its folder resolved beneath the root).
    pub fn read_link(&self, rel: &[u8]) -> Result<Vec<u8>> {
        let parent = self.beneath.parent(path_of(rel), false)?;
        readlinkat(Some(parent.dir.as_raw_fd()), parent.name.as_os_str())
            .map(|t| t.as_bytes().to_vec())
            .map_err(|errno| self.io_error("read link", rel, errno))
    }

    /// How many folders below the destination an open descriptor lies.
    fn depth_of(&self, fd: &OwnedFd, root: &OwnedFd, rel: &[u8]) -> Result<usize> {
        let real = |fd: &OwnedFd| {
            std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).map_err(|e| {
                self.io_error(
                    "resolve",
                    rel,
                    Errno::from_raw(e.raw_os_error().unwrap_or(0)),
                )
            })
        };
        let (at, top) = (real(fd)?, real(root)?);
        Ok(at
            .strip_prefix(&top)
            .map(|below| below.components().count())
            .unwrap_or(0))
    }
}

/// As many links as the kernel follows in one walk before it reports a loop.
const MAX_HOPS: usize = 40;

/// The components of a path that move the walk: no empty ones, no `.`.
fn components(path: &[u8]) -> Vec<Vec<u8>> {
    path.split(|b| *b == b'/')
        .filter(|s| !s.is_empty() && *s != b".")
        .map(<[u8]>::to_vec)
        .collect()
}

/// Opens `rel` as a path descriptor, resolved beneath `root` by the kernel.
fn open_beneath(root: &OwnedFd, rel: &[u8]) -> nix::Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    loop {
        match openat2(root.as_raw_fd(), path_of(rel), how) {
            // SAFETY: the kernel just returned this descriptor and nothing else owns it.
            Ok(fd) => return Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) }),
            Err(Errno::EAGAIN) => continue,
            Err(errno) => return Err(errno),
        }
    }
}
