use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};
use std::time::{Duration, SystemTime};

/// Which entries to extract and how to name them.
#[derive(Debug, Clone, Default)]
pub struct UnpackOptions {
    /// Leading path components to drop, like `tar --strip-components`.
    pub strip: usize,
    /// If not empty, only these paths (after stripping) and what lies under them.
    pub only: Vec<String>,
}

#[derive(Debug, Default)]
pub struct UnpackSummary {
    pub files: u64,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("cannot read archive {archive}: {source}")]
    Open { archive: PathBuf, source: io::Error },
    #[error("archive {archive} is corrupt or truncated: {source}")]
    Corrupt { archive: PathBuf, source: io::Error },
    #[error("archive {archive}: entry {entry:?} escapes the destination ({reason})")]
    Escape {
        archive: PathBuf,
        entry: String,
        reason: String,
    },
    #[error("archive {archive}: cannot write {path}: {source}")]
    Write {
        archive: PathBuf,
        path: PathBuf,
        source: io::Error,
    },
}

const CHUNK: usize = 1 << 20;

/// Unpacks a tarball (gzip, xz, bzip2, zstd or plain; told apart by their magic bytes, since
/// store files have no extension) into `dest`, refusing every entry that would land outside it.
pub fn unpack(
    archive: &Path,
    dest: &Path,
    options: &UnpackOptions,
) -> Result<UnpackSummary, UnpackError> {
    let open_error = |source| UnpackError::Open {
        archive: archive.to_path_buf(),
        source,
    };
    let mut file = File::open(archive).map_err(open_error)?;
    let mut magic = [0u8; 6];
    let read = read_prefix(&mut file, &mut magic).map_err(open_error)?;
    let file = File::open(archive).map_err(open_error)?;
    let decoder: Box<dyn Read + Send> = match &magic[..read] {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            CHUNK, file,
        ))),
        [0xfd, b'7', b'z', b'X', b'Z', 0x00] => Box::new(
            liblzma::read::XzDecoder::new_multi_decoder(BufReader::with_capacity(CHUNK, file)),
        ),
        [b'B', b'Z', b'h', ..] => Box::new(bzip2::read::MultiBzDecoder::new(
            BufReader::with_capacity(CHUNK, file),
        )),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => {
            Box::new(zstd::stream::read::Decoder::new(file).map_err(open_error)?)
        }
        _ => Box::new(BufReader::with_capacity(CHUNK, file)),
    };
    // Decompression runs on its own thread so that it overlaps with writing files.
    let (sender, receiver) = sync_channel::<io::Result<Vec<u8>>>(16);
    let producer = std::thread::spawn(move || {
        let mut decoder = decoder;
        loop {
            let mut buffer = vec![0u8; CHUNK];
            match read_prefix(&mut decoder, &mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    buffer.truncate(n);
                    if sender.send(Ok(buffer)).is_err() {
                        break;
                    }
                }
                Err(error) => {
                    let _ = sender.send(Err(error));
                    break;
                }
            }
        }
    });
    let result = Extractor {
        archive,
        dest,
        options,
        made: HashSet::new(),
        summary: UnpackSummary::default(),
    }
    .extract(ChannelReader {
        receiver,
        current: Vec::new(),
        offset: 0,
    });
    let _ = producer.join();
    result
}

/// Fills as much of `buffer` as the reader can give; fewer bytes only at the end.
fn read_prefix(reader: &mut dyn Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

struct ChannelReader {
    receiver: Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    offset: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if self.offset == self.current.len() {
            match self.receiver.recv() {
                Ok(chunk) => {
                    self.current = chunk?;
                    self.offset = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buffer.len().min(self.current.len() - self.offset);
        buffer[..n].copy_from_slice(&self.current[self.offset..self.offset + n]);
        self.offset += n;
        Ok(n)
    }
}

struct Extractor<'a> {
    archive: &'a Path,
    dest: &'a Path,
    options: &'a UnpackOptions,
    /// Directories known to exist, so each is created once.
    made: HashSet<PathBuf>,
    summary: UnpackSummary,
}

impl Extractor<'_> {
    fn extract(mut self, reader: ChannelReader) -> Result<UnpackSummary, UnpackError> {
        let mut archive = tar::Archive::new(reader);
        let entries = archive.entries().map_err(|source| self.corrupt(source))?;
        self.make_dir(self.dest)?;
        for entry in entries {
            let mut entry = entry.map_err(|source| self.corrupt(source))?;
            let raw = entry.path_bytes().into_owned();
            let shown = String::from_utf8_lossy(&raw).into_owned();
            let Some(relative) = self.relative(&raw, &shown)? else {
                continue;
            };
            let path = self.dest.join(&relative);
            let kind = entry.header().entry_type();
            if kind.is_dir() {
                self.make_dir(&path)?;
                continue;
            }
            if let Some(parent) = path.parent() {
                self.make_dir(parent)?;
            }
            if kind.is_symlink() {
                let target = entry
                    .link_name_bytes()
                    .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                    .unwrap_or_default();
                self.check_symlink(&relative, &target, &shown)?;
                self.replace(&path, |path| std::os::unix::fs::symlink(&target, path))?;
            } else if kind.is_hard_link() {
                let target = entry
                    .link_name_bytes()
                    .map(|bytes| bytes.into_owned())
                    .unwrap_or_default();
                let Some(target) = self.relative(&target, &shown)? else {
                    return Err(self.escape(&shown, "a hard link to a path removed by strip"));
                };
                let source = self.dest.join(target);
                self.replace(&path, |path| std::fs::hard_link(&source, path))?;
            } else if kind.is_file() || kind == tar::EntryType::Continuous {
                let mode = entry.header().mode().unwrap_or(0o644) & 0o7777;
                let mtime = entry.header().mtime().unwrap_or(0);
                let mut file = self.replace(&path, |path| {
                    OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(mode | 0o600)
                        .open(path)
                })?;
                let bytes =
                    io::copy(&mut entry, &mut file).map_err(|source| self.corrupt(source))?;
                let _ = file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime));
                if mode & 0o600 != 0o600 {
                    let _ =
                        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode));
                }
                file.flush()
                    .map_err(|source| self.write_error(&path, source))?;
                self.summary.files += 1;
                self.summary.bytes += bytes;
            }
            // Device nodes and FIFOs have no place in a source tree; they are skipped.
        }
        Ok(self.summary)
    }

    /// The entry's path inside `dest` after stripping, or None when it is stripped away or
    /// not chosen. Absolute paths and `..` are refused outright.
    fn relative(&self, raw: &[u8], shown: &str) -> Result<Option<PathBuf>, UnpackError> {
        let path = Path::new(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(raw));
        let mut parts = Vec::new();
        for component in path.components() {
            match component {
                Component::Normal(part) => parts.push(part),
                Component::CurDir => {}
                Component::ParentDir => {
                    return Err(self.escape(shown, "parent directory component"))
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(self.escape(shown, "absolute path"))
                }
            }
        }
        if parts.len() <= self.options.strip {
            return Ok(None);
        }
        let relative: PathBuf = parts[self.options.strip..].iter().collect();
        let chosen = self.options.only.is_empty()
            || self.options.only.iter().any(|only| {
                let only = Path::new(only.trim_start_matches("./"));
                relative.starts_with(only) || only.starts_with(&relative)
            });
        Ok(chosen.then_some(relative))
    }

    /// A symlink may only point at a place inside `dest`, judged from where the link sits.
    /// Since every link is checked this way, writing through an earlier link stays inside too.
    fn check_symlink(&self, link: &Path, target: &str, shown: &str) -> Result<(), UnpackError> {
        if target.starts_with('/') {
            return Err(self.escape(shown, &format!("a symlink to the absolute path {target:?}")));
        }
        let mut depth = link.components().count() as isize - 1;
        for component in Path::new(target).components() {
            match component {
                Component::ParentDir => depth -= 1,
                Component::Normal(_) => depth += 1,
                _ => {}
            }
            if depth < 0 {
                return Err(self.escape(
                    shown,
                    &format!("a symlink to {target:?}, which points outside"),
                ));
            }
        }
        Ok(())
    }

    fn make_dir(&mut self, path: &Path) -> Result<(), UnpackError> {
        if self.made.contains(path) {
            return Ok(());
        }
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(meta) if meta.file_type().is_symlink() && path.is_dir() => {}
            _ => std::fs::create_dir_all(path).map_err(|source| self.write_error(path, source))?,
        }
        self.made.insert(path.to_path_buf());
        Ok(())
    }

    /// Creates something at `path`, first removing what an earlier entry (or run) put there, so
    /// that nothing is ever written through an existing link.
    fn replace<T>(
        &self,
        path: &Path,
        create: impl Fn(&Path) -> io::Result<T>,
    ) -> Result<T, UnpackError> {
        match create(path) {
            Ok(value) => Ok(value),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                let removed = match std::fs::symlink_metadata(path) {
                    Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
                    _ => std::fs::remove_file(path),
                };
                removed
                    .and_then(|()| create(path))
                    .map_err(|source| self.write_error(path, source))
            }
            Err(error) => Err(self.write_error(path, error)),
        }
    }

    fn corrupt(&self, source: io::Error) -> UnpackError {
        UnpackError::Corrupt {
            archive: self.archive.to_path_buf(),
            source,
        }
    }

    fn escape(&self, entry: &str, reason: &str) -> UnpackError {
        UnpackError::Escape {
            archive: self.archive.to_path_buf(),
            entry: entry.to_string(),
            reason: reason.to_string(),
        }
    }

    fn write_error(&self, path: &Path, source: io::Error) -> UnpackError {
        UnpackError::Write {
            archive: self.archive.to_path_buf(),
            path: path.to_path_buf(),
            source,
        }
    }
}
