//! The content-addressed source store.
//!
//! Every source file serpent downloads (or that the user imports by hand)
//! lives at `<root>/sha256/<hex>`, where `<hex>` is the lowercase SHA-256 of
//! its contents. Entries are written atomically: the data goes to a temporary
//! file in the same directory, is fsynced, and is then renamed into place, so
//! a reader either sees a complete, verified file or nothing at all.
//!
//! Writers that may race (two `serpent` processes fetching the same source)
//! coordinate through a per-entry `flock` on `<root>/sha256/<hex>.lock`; see
//! [`Store::lock`].

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

/// What can go wrong in the store itself: the filesystem, or a name that is no sha256.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "open", "write", "create directory".
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("invalid sha256 '{sha256}': expected 64 lowercase hexadecimal digits")]
    InvalidHash { sha256: String },
}

impl StoreError {
    fn io(op: &'static str, path: &Path, source: io::Error) -> StoreError {
        StoreError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Size of the buffer used when copying data into the store.
pub(crate) const CHUNK: usize = 64 * 1024;

/// Name prefix of in-progress temporary files inside `<root>/sha256/`.
const TEMP_PREFIX: &str = ".partial-";

pub use crate::digest::{hex, is_sha256 as is_sha256_hex};

/// A content-addressed store of source files.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// An exclusive lock on one store entry, released when dropped.
#[derive(Debug)]
pub struct EntryLock {
    _lock: Flock<File>,
}

/// A file being written into the store: data is hashed as it is written, and
/// the file only appears under its hash once [`Store::commit`] is called.
/// Dropping it without committing deletes the temporary file.
pub(crate) struct Staging {
    tmp: NamedTempFile,
    hasher: Sha256,
    len: u64,
}

impl Staging {
    /// Appends a chunk, updating the running hash.
    pub(crate) fn write(&mut self, data: &[u8]) -> Result<(), StoreError> {
        self.hasher.update(data);
        self.len += data.len() as u64;
        self.tmp
            .write_all(data)
            .map_err(|e| StoreError::io("write", self.tmp.path(), e))
    }

    /// Number of bytes written so far.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The SHA-256 (lowercase hex) of everything written so far.
    pub(crate) fn sha256(&self) -> String {
        hex(&self.hasher.clone().finalize())
    }
}

impl Store {
    /// A store rooted at `root` (e.g. `$XDG_CACHE_HOME/serpent/sources`).
    /// Nothing is created on disk until something is written.
    pub fn new(root: PathBuf) -> Store {
        Store { root }
    }

    /// The directory holding the entries: `<root>/sha256`.
    fn dir(&self) -> PathBuf {
        self.root.join("sha256")
    }

    /// Where the entry with this hash lives (whether or not it exists).
    pub fn path_of(&self, sha256: &str) -> PathBuf {
        self.dir().join(sha256)
    }

    /// Whether the entry with this hash is present. Invalid hashes are never
    /// present.
    pub fn contains(&self, sha256: &str) -> bool {
        is_sha256_hex(sha256) && self.path_of(sha256).is_file()
    }

    fn ensure_dir(&self) -> Result<PathBuf, StoreError> {
        let dir = self.dir();
        fs::create_dir_all(&dir).map_err(|e| StoreError::io("create directory", &dir, e))?;
        Ok(dir)
    }

    fn check_hash(sha256: &str) -> Result<(), StoreError> {
        if is_sha256_hex(sha256) {
            Ok(())
        } else {
            Err(StoreError::InvalidHash {
                sha256: sha256.to_string(),
            })
        }
    }

    /// Hashes a local file and copies it into the store, returning its
    /// SHA-256. Importing a file that is already present is a no-op apart
    /// from reading it.
    pub fn import(&self, file: &Path) -> Result<String, StoreError> {
        let mut src = File::open(file).map_err(|e| StoreError::io("open", file, e))?;
        let mut staging = self.begin()?;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(StoreError::io("read", file, e)),
            };
            staging.write(&buf[..n])?;
        }
        let sha256 = staging.sha256();
        let _lock = self.lock(&sha256)?;
        if !self.contains(&sha256) {
            self.commit(staging, &sha256)?;
        }
        if let Some(name) = file.file_name() {
            self.remember_name(&name.to_string_lossy(), &sha256);
        }
        Ok(sha256)
    }

    /// Where the hashes stored under one file name are listed: `<root>/names/<name>`.
    fn names_file(&self, name: &str) -> Option<PathBuf> {
        let plain =
            !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0', '\n']);
        plain.then(|| self.root.join("names").join(name))
    }

    /// Notes that the entry `sha256` came in as a file called `name`, so that a recipe expecting
    /// another hash for that name can be told the store has it under this one. Only a hint: a
    /// failure to note it is ignored.
    pub fn remember_name(&self, name: &str, sha256: &str) {
        let Some(path) = self.names_file(name) else {
            return;
        };
        let mut hashes = self.hashes_named(name);
        if hashes.iter().any(|known| known == sha256) {
            return;
        }
        hashes.push(sha256.to_string());
        let Some(dir) = path.parent() else { return };
        let written = fs::create_dir_all(dir)
            .and_then(|()| NamedTempFile::new_in(dir))
            .and_then(|mut tmp| {
                tmp.write_all(format!("{}\n", hashes.join("\n")).as_bytes())?;
                tmp.persist(&path).map_err(|error| error.error)?;
                Ok(())
            });
        drop(written);
    }

    /// The hashes of the files that came into the store under `name`, oldest first, of those
    /// still there.
    pub fn hashes_named(&self, name: &str) -> Vec<String> {
        let Some(path) = self.names_file(name) else {
            return Vec::new();
        };
        fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter(|hash| self.contains(hash))
            .map(str::to_string)
            .collect()
    }

    /// Takes the exclusive lock for one entry, waiting for any other holder
    /// (in this or another process) to release it. Hold it while fetching
    /// the entry, and re-check [`Store::contains`] once it is acquired.
    ///
    /// The lock file `<root>/sha256/<hex>.lock` is left in place afterwards:
    /// removing it would let a waiter lock an unlinked inode while a newcomer
    /// locks a fresh one.
    pub fn lock(&self, sha256: &str) -> Result<EntryLock, StoreError> {
        Self::check_hash(sha256)?;
        let dir = self.ensure_dir()?;
        let path = dir.join(format!("{sha256}.lock"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StoreError::io("open lock file", &path, e))?;
        let lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| StoreError::io("lock", &path, io::Error::from(errno)))?;
        Ok(EntryLock { _lock: lock })
    }

    /// Starts writing a new file into the store (a temporary file in
    /// `<root>/sha256/`, so the final rename stays on one filesystem).
    pub(crate) fn begin(&self) -> Result<Staging, StoreError> {
        let dir = self.ensure_dir()?;
        let tmp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(&dir)
            .map_err(|e| StoreError::io("create temporary file in", &dir, e))?;
        Ok(Staging {
            tmp,
            hasher: Sha256::new(),
            len: 0,
        })
    }

    /// Moves a fully written and verified file into place under `sha256`:
    /// fsync, rename, then fsync the directory so the rename is durable.
    pub(crate) fn commit(&self, staging: Staging, sha256: &str) -> Result<PathBuf, StoreError> {
        Self::check_hash(sha256)?;
        let dest = self.path_of(sha256);
        let tmp = staging.tmp;
        let file = tmp.as_file();
        file.set_permissions(Permissions::from_mode(0o644))
            .map_err(|e| StoreError::io("set permissions of", tmp.path(), e))?;
        file.sync_all()
            .map_err(|e| StoreError::io("sync", tmp.path(), e))?;
        tmp.persist(&dest)
            .map_err(|e| StoreError::io("move into place", &dest, e.error))?;
        let dir = self.dir();
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| StoreError::io("sync directory", &dir, e))?;
        Ok(dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO_SHA: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn import_is_idempotent() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path().join("store"));
        let src = tmp.path().join("hello.txt");
        fs::write(&src, b"hello").unwrap();

        assert!(!store.contains(HELLO_SHA));
        assert_eq!(store.import(&src).unwrap(), HELLO_SHA);
        assert!(store.contains(HELLO_SHA));
        assert_eq!(
            store.path_of(HELLO_SHA),
            tmp.path().join("store/sha256").join(HELLO_SHA)
        );
        assert_eq!(fs::read(store.path_of(HELLO_SHA)).unwrap(), b"hello");
        assert_eq!(store.import(&src).unwrap(), HELLO_SHA);

        let names: Vec<String> = fs::read_dir(tmp.path().join("store/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| !n.ends_with(".lock"))
            .collect();
        assert_eq!(names, vec![HELLO_SHA.to_string()]);
        assert_eq!(store.hashes_named("hello.txt"), vec![HELLO_SHA.to_string()]);
        assert!(store.hashes_named("other.txt").is_empty());
        assert!(store.hashes_named("../hello.txt").is_empty());
    }

    #[test]
    fn import_missing_file_names_it() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path().to_path_buf());
        let err = store.import(&tmp.path().join("nope")).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn lock_rejects_bad_hash() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path().to_path_buf());
        assert!(matches!(
            store.lock("../x"),
            Err(StoreError::InvalidHash { .. })
        ));
    }
}
