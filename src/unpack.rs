//! Fast, careful extraction of source tarballs.
//!
//! Archives live in a content-addressed store (named by their sha256), so the
//! compression is detected from the magic bytes, never from a file name.
//!
//! Extraction runs as a two-stage pipeline: one thread decompresses into large
//! buffers that are handed over a bounded channel (and handed back for reuse),
//! while the calling thread parses the tar stream and writes the files.
//!
//! # Safety model
//!
//! Nothing an archive contains may create or modify a file outside `dest`:
//!
//! * entry paths must be relative and contain no `..` component;
//! * every write goes through a descriptor of `dest` and a path the kernel
//!   resolved beneath it (`crate::beneath`), and the last component is
//!   created with the `*at` calls, which never follow a link there;
//! * no entry is ever written *through* a symlink that an earlier entry
//!   created (GNU tar would follow it; serpent refuses, naming the link), and
//!   a hard link's target may not lie behind one either;
//! * symlinks to absolute paths are refused; relative ones are followed
//!   through the finished tree, and one that leads out (on its own, or
//!   through a chain of links in any order) is removed and refused with the
//!   link on its way out named.
//!
//! The caller is expected to pass a fresh or trusted `dest`: symlinks that
//! were already present in it are followed as long as they stay inside it.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::time::{Duration, SystemTime};

mod tar_stream;
mod tree;

use crate::beneath::BeneathError;
use tar_stream::{FormatError, Member, MemberKind, SparseMap, TarStream};
use tree::{LeadsOut, Tree};

/// Size of the decompressed buffers passed from the decoder thread.
const CHUNK: usize = 1 << 20;
/// How many decompressed buffers may be in flight.
const CHANNEL_DEPTH: usize = 8;
/// Size of the buffer used to read the compressed file.
const INPUT_BUF: usize = 1 << 20;
/// Largest single write of file content.
const WRITE_BUF: usize = 4 << 20;

const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const BZIP2_MAGIC: &[u8] = b"BZh";
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// What to extract.
#[derive(Debug, Clone, Default)]
pub struct UnpackOptions {
    /// Number of leading path components to drop (like GNU tar's
    /// `--strip-components`). Entries with no more components than this are
    /// skipped. Also applied to hard-link targets.
    pub strip: usize,
    /// If non-empty, only entries whose path (after `strip`) equals one of
    /// these or lies below one of them (component-wise) are extracted.
    pub only: Vec<String>,
}

/// What an extraction produced.
#[derive(Debug)]
pub struct UnpackSummary {
    /// Non-directory entries created: regular files, symlinks and hard links.
    pub files: u64,
    /// Bytes of regular-file content written.
    pub bytes: u64,
}

/// The compression detected from an archive's first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Bzip2,
    Zstd,
}

/// Why an extraction failed. Every variant names the archive; those about a
/// particular entry name it as it is spelled in the archive.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("archive {}: cannot read: {source}", archive.display())]
    Open {
        archive: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("archive {}: not a tar archive (no known compression magic and no ustar header)", archive.display())]
    UnknownFormat { archive: PathBuf },
    #[error("archive {}: corrupt or truncated ({detail})", archive.display())]
    Corrupt { archive: PathBuf, detail: String },
    #[error("archive {}: entry \"{entry}\" escapes the destination ({reason})", archive.display())]
    Escape {
        archive: PathBuf,
        entry: String,
        reason: &'static str,
    },
    #[error("archive {}: entry \"{entry}\" is a symlink to \"{target}\", which points outside the destination", archive.display())]
    SymlinkEscape {
        archive: PathBuf,
        entry: String,
        target: String,
    },
    #[error("archive {}: entry \"{entry}\" is a hard link to \"{target}\", which {reason}", archive.display())]
    HardLinkEscape {
        archive: PathBuf,
        entry: String,
        target: String,
        reason: String,
    },
    #[error("archive {}: entry \"{entry}\" would be written through the symlink \"{link}\" created by an earlier entry", archive.display())]
    ThroughSymlink {
        archive: PathBuf,
        entry: String,
        link: String,
    },
    #[error("archive {}: entry \"{entry}\" is refused: {reason}", archive.display())]
    Refused {
        archive: PathBuf,
        entry: String,
        reason: &'static str,
    },
    #[error("archive {}: entry \"{entry}\" is refused: {source}", archive.display())]
    Outside {
        archive: PathBuf,
        entry: String,
        #[source]
        source: Box<BeneathError>,
    },
    #[error("archive {}: entry \"{entry}\" is a symlink to \"{target}\", which leads outside the destination through the symlink \"{link}\" -> \"{link_target}\"", archive.display())]
    LinkLeadsOut {
        archive: PathBuf,
        entry: String,
        target: String,
        link: String,
        link_target: String,
    },
    #[error("archive {}: cannot write \"{}\": {source}", archive.display(), path.display())]
    Write {
        archive: PathBuf,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Extract `archive` into `dest` (created if missing).
pub fn unpack(
    archive: &Path,
    dest: &Path,
    options: &UnpackOptions,
) -> Result<UnpackSummary, UnpackError> {
    let open_err = |source| UnpackError::Open {
        archive: archive.to_path_buf(),
        source,
    };
    let mut file = File::open(archive).map_err(open_err)?;
    let mut head = [0u8; 512];
    let head_len = read_full(&mut file, &mut head).map_err(open_err)?;
    let compression = detect(&head[..head_len]);
    if compression == Compression::None && head_len > 0 && !looks_like_tar(&head[..head_len]) {
        return Err(UnpackError::UnknownFormat {
            archive: archive.to_path_buf(),
        });
    }
    let tree = Tree::create(dest).map_err(|source| UnpackError::Write {
        archive: archive.to_path_buf(),
        path: dest.to_path_buf(),
        source,
    })?;

    let head = head[..head_len].to_vec();
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel(CHANNEL_DEPTH);
        let (recycle_tx, recycle_rx) = mpsc::channel();
        scope.spawn(move || decode(compression, head, file, tx, recycle_rx));
        let reader = ChunkReader {
            rx,
            recycle: recycle_tx,
            cur: Vec::new(),
            pos: 0,
        };
        // Dropping the reader (inside `extract`) disconnects the channel, so
        // the decoder thread stops promptly even when extraction fails early.
        Extractor::new(archive, tree, options).extract(reader)
    })
}

/// Detect the compression from the first bytes of a file.
pub fn detect(head: &[u8]) -> Compression {
    if head.starts_with(XZ_MAGIC) {
        Compression::Xz
    } else if head.starts_with(GZIP_MAGIC) {
        Compression::Gzip
    } else if head.starts_with(BZIP2_MAGIC) {
        Compression::Bzip2
    } else if head.starts_with(ZSTD_MAGIC) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// An uncompressed tar: "ustar" magic at 257, or at least a valid header
/// checksum (old v7 archives have no magic).
fn looks_like_tar(head: &[u8]) -> bool {
    if head.len() < 512 {
        return false;
    }
    &head[257..262] == b"ustar" || tar_stream::is_header(head)
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

// ---------------------------------------------------------------------------
// Decoder thread
// ---------------------------------------------------------------------------

type Chunk = io::Result<Vec<u8>>;

/// Decompress the whole archive into chunks. Errors are sent down the channel
/// as the last item. Returns when done or when the receiver hung up.
fn decode(
    compression: Compression,
    head: Vec<u8>,
    file: File,
    tx: SyncSender<Chunk>,
    recycle: Receiver<Vec<u8>>,
) {
    let input = Prefixed { head, pos: 0, file };
    let mut out = ChunkSender { tx, recycle };
    let result = match compression {
        Compression::Xz => decode_xz(input, &mut out),
        Compression::None => pump(input, &mut out),
        Compression::Gzip => pump(
            flate2::read::MultiGzDecoder::new(io::BufReader::with_capacity(INPUT_BUF, input)),
            &mut out,
        ),
        Compression::Bzip2 => pump(
            bzip2::read::MultiBzDecoder::new(io::BufReader::with_capacity(INPUT_BUF, input)),
            &mut out,
        ),
        Compression::Zstd => match zstd::stream::read::Decoder::with_buffer(
            io::BufReader::with_capacity(INPUT_BUF, input),
        ) {
            Ok(mut d) => {
                // Large windows (`zstd --long`) are legitimate in source
                // tarballs; allow up to 2 GiB like `zstd -d --long=31`.
                let _ = d.window_log_max(31);
                pump(d, &mut out)
            }
            Err(e) => Err(e),
        },
    };
    if let Err(e) = result {
        if e.kind() != io::ErrorKind::BrokenPipe {
            let _ = out.tx.send(Err(e));
        }
    }
}

/// The already-read head of the file followed by the rest of it.
struct Prefixed {
    head: Vec<u8>,
    pos: usize,
    file: File,
}

impl Read for Prefixed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.head.len() {
            let n = buf.len().min(self.head.len() - self.pos);
            buf[..n].copy_from_slice(&self.head[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.file.read(buf)
    }
}

struct ChunkSender {
    tx: SyncSender<Chunk>,
    recycle: Receiver<Vec<u8>>,
}

impl ChunkSender {
    /// An empty buffer with `CHUNK` capacity, reused when possible.
    fn fresh(&self) -> Vec<u8> {
        match self.recycle.try_recv() {
            Ok(mut v) => {
                v.clear();
                v
            }
            Err(_) => Vec::with_capacity(CHUNK),
        }
    }

    fn send(&self, v: Vec<u8>) -> io::Result<()> {
        self.tx
            .send(Ok(v))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "extraction stopped"))
    }
}

/// Copy a decompressing reader into chunks.
fn pump(mut r: impl Read, out: &mut ChunkSender) -> io::Result<()> {
    loop {
        let mut buf = out.fresh();
        // Reading needs an initialised buffer: zero it once, and reuse it.
        buf.resize(CHUNK, 0);
        let n = read_full(&mut r, &mut buf)?;
        buf.truncate(n);
        if n > 0 {
            out.send(buf)?;
        }
        if n < CHUNK {
            return Ok(());
        }
    }
}

fn xz_error(e: liblzma::stream::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("xz: {e}"))
}

/// Drive liblzma directly so that output lands in the chunk buffers without
/// an extra copy.
///
/// The single-threaded decoder is used on purpose: the parse-and-write side
/// of the pipeline is the critical path (file creation in the kernel), so a
/// multithreaded decoder only adds copying and synchronisation competing for
/// the same cores (measured: more CPU, no faster on a 2-core machine).
fn decode_xz(mut input: Prefixed, out: &mut ChunkSender) -> io::Result<()> {
    use liblzma::stream::{Action, Status, Stream, CONCATENATED};

    let mut dec = Stream::new_stream_decoder(u64::MAX, CONCATENATED).map_err(xz_error)?;
    let mut inbuf = vec![0u8; INPUT_BUF];
    let (mut start, mut end) = (0usize, 0usize);
    let mut eof = false;
    let mut buf = out.fresh();
    loop {
        if start == end && !eof {
            end = read_full(&mut input, &mut inbuf)?;
            start = 0;
            eof = end < inbuf.len();
        }
        let action = if eof { Action::Finish } else { Action::Run };
        let before_in = dec.total_in();
        let before_out = dec.total_out();
        let status = dec
            .process_vec(&inbuf[start..end], &mut buf, action)
            .map_err(xz_error)?;
        start += (dec.total_in() - before_in) as usize;
        let progressed = dec.total_in() != before_in || dec.total_out() != before_out;
        if status == Status::StreamEnd {
            if !buf.is_empty() {
                out.send(buf)?;
            }
            return Ok(());
        }
        if buf.len() == buf.capacity() {
            out.send(std::mem::replace(&mut buf, out.fresh()))?;
        } else if !progressed && eof && start == end {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "xz: unexpected end of input",
            ));
        }
    }
}

/// The tar-parsing side of the pipeline: a `Read` over the received chunks.
struct ChunkReader {
    rx: Receiver<Chunk>,
    recycle: Sender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(Ok(next)) => {
                    let old = std::mem::replace(&mut self.cur, next);
                    self.pos = 0;
                    if old.capacity() > 0 {
                        let _ = self.recycle.send(old);
                    }
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

// ---------------------------------------------------------------------------
// Extraction
// ---------------------------------------------------------------------------

/// What a regular file member needs besides its data.
struct FileContent<'a> {
    /// The name as spelled in the archive, for errors.
    raw: &'a [u8],
    mode: u32,
    mtime: Option<i64>,
    sparse: Option<&'a SparseMap>,
}

/// Fill `buf` from the member's data; an early end is an error.
fn read_data(stream: &mut TarStream<ChunkReader>, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match stream.data(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if n < buf.len() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the archive ends inside this member's data",
        ));
    }
    Ok(n)
}

/// A directory entry whose mode and mtime are applied once everything inside
/// it has been written.
struct PendingDir {
    rel: Vec<u8>,
    mode: u32,
    mtime: Option<i64>,
}

struct Extractor<'a> {
    archive: &'a Path,
    tree: Tree,
    strip: usize,
    only: Vec<Vec<u8>>,
    umask: Option<u32>,
    /// Directories (relative to dest, '/'-joined) known to exist as real
    /// directories created by us.
    dirs: HashSet<Vec<u8>>,
    /// Symlinks created by this extraction, and their names in the archive.
    symlinks: HashMap<Vec<u8>, Vec<u8>>,
    pending_dirs: Vec<PendingDir>,
    buf: Vec<u8>,
    summary: UnpackSummary,
}

/// The outcome of normalising an archive path.
enum Normalized {
    /// The relative path below dest, '/'-joined.
    Path(Vec<u8>),
    /// Fewer components than `strip`: skip.
    Stripped,
}

/// Split an archive path into components, refusing absolute paths and `..`,
/// then drop `strip` leading components.
fn normalize(raw: &[u8], strip: usize) -> Result<Normalized, &'static str> {
    if raw.first() == Some(&b'/') {
        return Err("absolute path");
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut skipped = 0;
    for comp in raw.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => continue,
            b".." => return Err("parent directory component"),
            _ => {}
        }
        if skipped < strip {
            skipped += 1;
            continue;
        }
        if !out.is_empty() {
            out.push(b'/');
        }
        out.extend_from_slice(comp);
    }
    if out.is_empty() {
        Ok(Normalized::Stripped)
    } else {
        Ok(Normalized::Path(out))
    }
}

fn normalize_only(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for comp in s.as_bytes().split(|b| *b == b'/') {
        if comp.is_empty() || comp == b"." {
            continue;
        }
        if !out.is_empty() {
            out.push(b'/');
        }
        out.extend_from_slice(comp);
    }
    out
}

/// `path` equals `prefix` or lies below it, component-wise.
fn under(path: &[u8], prefix: &[u8]) -> bool {
    prefix.is_empty()
        || (path.starts_with(prefix) && (path.len() == prefix.len() || path[prefix.len()] == b'/'))
}

/// The parent of a '/'-joined relative path ("" for top-level entries).
fn parent(rel: &[u8]) -> &[u8] {
    match rel.iter().rposition(|b| *b == b'/') {
        Some(i) => &rel[..i],
        None => &[],
    }
}

/// Why serpent refuses members of this kind, if it does.
fn refused_kind(kind: MemberKind) -> Option<&'static str> {
    match kind {
        MemberKind::Device => {
            Some("it is a device node; a source tree has no use for one, and making it needs root")
        }
        MemberKind::Continuation => Some(
            "it continues a file from the previous volume of a multi-volume archive; unpack \
             the volumes with GNU tar -M",
        ),
        MemberKind::Fifo => Some(
            "it is a fifo; a source tree has no use for one, and copying the tree would block \
             on it",
        ),
        _ => None,
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The process umask, read without changing it.
fn current_umask() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Umask:"))?;
    u32::from_str_radix(line["Umask:".len()..].trim(), 8).ok()
}

/// A timestamp as a `SystemTime`; out-of-range values (GNU tar warns about
/// them and still extracts the member) give `None` and the file keeps the
/// time of its creation.
fn mtime_of(secs: i64) -> Option<SystemTime> {
    let magnitude = Duration::from_secs(secs.unsigned_abs());
    if secs >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(magnitude)
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(magnitude)
    }
}

impl<'a> Extractor<'a> {
    fn new(archive: &'a Path, tree: Tree, options: &UnpackOptions) -> Self {
        Extractor {
            archive,
            tree,
            strip: options.strip,
            only: options.only.iter().map(|s| normalize_only(s)).collect(),
            umask: current_umask(),
            dirs: HashSet::new(),
            symlinks: HashMap::new(),
            pending_dirs: Vec::new(),
            buf: Vec::new(),
            summary: UnpackSummary { files: 0, bytes: 0 },
        }
    }

    fn corrupt(&self, e: io::Error) -> UnpackError {
        UnpackError::Corrupt {
            archive: self.archive.to_path_buf(),
            detail: e.to_string(),
        }
    }

    fn write_err(&self, path: PathBuf, source: io::Error) -> UnpackError {
        UnpackError::Write {
            archive: self.archive.to_path_buf(),
            path,
            source,
        }
    }

    /// A refusal or failure of the tree, about the entry spelled `raw`.
    fn tree_err(&self, raw: &[u8], error: BeneathError) -> UnpackError {
        match error {
            BeneathError::Io {
                root, path, source, ..
            } => self.write_err(root.join(path), source),
            other => UnpackError::Outside {
                archive: self.archive.to_path_buf(),
                entry: lossy(raw),
                source: Box::new(other),
            },
        }
    }

    fn extract(mut self, reader: ChunkReader) -> Result<UnpackSummary, UnpackError> {
        match self.extract_members(reader) {
            Ok(()) => {
                self.check_links()?;
                self.finish_dirs()?;
                Ok(self.summary)
            }
            Err(error) => {
                // Whatever stopped the extraction, no link that leads out is
                // left behind for a later step to write through.
                let _ = self.check_links();
                Err(error)
            }
        }
    }

    fn extract_members(&mut self, reader: ChunkReader) -> Result<(), UnpackError> {
        let mut stream = TarStream::new(reader);
        while let Some(member) = stream.next_member().map_err(|e| self.format_error(e))? {
            self.entry(&mut stream, member)?;
        }
        // Read to the end so that the decompressor verifies its trailing
        // checksums (and reports truncation) even past the tar end marker.
        let mut rest = stream.into_inner();
        io::copy(&mut rest, &mut io::sink()).map_err(|e| self.corrupt(e))?;
        Ok(())
    }

    /// Follow every symlink this extraction made through the finished tree:
    /// one that leads outside (a chain such as `a -> .` and
    /// `b -> a/a/../..`, in either order, which no single target shows) is
    /// removed and refused, naming it and the link on its way out.
    fn check_links(&mut self) -> Result<(), UnpackError> {
        let mut links: Vec<(Vec<u8>, Vec<u8>)> = self.symlinks.drain().collect();
        links.sort();
        let mut first = None;
        for (rel, raw) in links {
            let way_out = self
                .tree
                .leads_out(&rel)
                .map_err(|e| self.tree_err(&raw, e))?;
            let through = match way_out {
                LeadsOut::No => continue,
                LeadsOut::Directly => None,
                LeadsOut::Through(way_out) => Some(way_out),
            };
            let target = lossy(
                &self
                    .tree
                    .read_link(&rel)
                    .map_err(|e| self.tree_err(&raw, e))?,
            );
            self.tree.remove(&rel).map_err(|e| self.tree_err(&raw, e))?;
            let archive = self.archive.to_path_buf();
            let entry = lossy(&raw);
            first.get_or_insert(match through {
                None => UnpackError::SymlinkEscape {
                    archive,
                    entry,
                    target,
                },
                Some(way_out) => UnpackError::LinkLeadsOut {
                    archive,
                    entry,
                    target,
                    link: lossy(&way_out.link),
                    link_target: lossy(&way_out.target),
                },
            });
        }
        first.map_or(Ok(()), Err)
    }

    fn format_error(&self, e: FormatError) -> UnpackError {
        UnpackError::Corrupt {
            archive: self.archive.to_path_buf(),
            detail: match e.entry {
                Some(entry) => format!("entry \"{entry}\": {}", e.detail),
                None => e.detail,
            },
        }
    }

    fn entry(
        &mut self,
        stream: &mut TarStream<ChunkReader>,
        member: Member,
    ) -> Result<(), UnpackError> {
        if member.kind == MemberKind::Ignored {
            return Ok(());
        }
        let raw = member.name;
        let escape = |reason| UnpackError::Escape {
            archive: self.archive.to_path_buf(),
            entry: lossy(&raw),
            reason,
        };
        let rel = match normalize(&raw, self.strip).map_err(escape)? {
            Normalized::Path(p) => p,
            Normalized::Stripped => return Ok(()),
        };
        if !self.only.is_empty() && !self.only.iter().any(|o| under(&rel, o)) {
            return Ok(());
        }
        let special = refused_kind(member.kind);
        if let Some(reason) = special {
            return Err(UnpackError::Refused {
                archive: self.archive.to_path_buf(),
                entry: lossy(&raw),
                reason,
            });
        }
        self.check_not_through_symlink(&raw, &rel)?;
        let mode = member.mode & 0o777;
        let mtime = member.mtime;
        match member.kind {
            MemberKind::Dir => {
                self.make_dir(&raw, &rel, mode)?;
                self.pending_dirs.push(PendingDir { rel, mode, mtime });
                return Ok(());
            }
            MemberKind::Symlink => {
                self.ensure_dir(&raw, parent(&rel))?;
                self.symlink(&raw, &rel, &member.link)?;
            }
            MemberKind::HardLink => {
                self.ensure_dir(&raw, parent(&rel))?;
                self.hard_link(&raw, &rel, &member.link)?;
            }
            _ => {
                self.ensure_dir(&raw, parent(&rel))?;
                let content = FileContent {
                    raw: &raw,
                    mode,
                    mtime,
                    sparse: member.sparse.as_ref(),
                };
                self.file(stream, &rel, content)?;
            }
        }
        Ok(())
    }

    /// Refuse an entry whose parent chain passes through a symlink that an
    /// earlier entry created.
    fn check_not_through_symlink(&self, raw: &[u8], rel: &[u8]) -> Result<(), UnpackError> {
        match self.link_on_the_way(rel) {
            None => Ok(()),
            Some(link) => Err(UnpackError::ThroughSymlink {
                archive: self.archive.to_path_buf(),
                entry: lossy(raw),
                link: lossy(link),
            }),
        }
    }

    /// The first folder on the way to `rel` that is a symlink this
    /// extraction created.
    fn link_on_the_way<'r>(&self, rel: &'r [u8]) -> Option<&'r [u8]> {
        if self.symlinks.is_empty() {
            return None;
        }
        (0..rel.len())
            .filter(|i| rel[*i] == b'/')
            .map(|i| &rel[..i])
            .find(|prefix| self.symlinks.contains_key(*prefix))
    }

    /// Make sure the directory `rel` (and its ancestors) exists.
    fn ensure_dir(&mut self, raw: &[u8], rel: &[u8]) -> Result<(), UnpackError> {
        if rel.is_empty() || self.dirs.contains(rel) {
            return Ok(());
        }
        self.tree
            .create_dir_all(rel)
            .map_err(|e| self.tree_err(raw, e))?;
        let mut p = rel;
        while !p.is_empty() && self.dirs.insert(p.to_vec()) {
            p = parent(p);
        }
        Ok(())
    }

    fn make_dir(&mut self, raw: &[u8], rel: &[u8], mode: u32) -> Result<(), UnpackError> {
        if self.dirs.contains(rel) {
            return Ok(());
        }
        self.ensure_dir(raw, parent(rel))?;
        // Keep the directory writable for us until `finish_dirs`.
        self.tree
            .make_dir(rel, mode | 0o700)
            .map_err(|e| self.tree_err(raw, e))?;
        self.symlinks.remove(rel);
        self.dirs.insert(rel.to_vec());
        Ok(())
    }

    fn file(
        &mut self,
        stream: &mut TarStream<ChunkReader>,
        rel: &[u8],
        content: FileContent<'_>,
    ) -> Result<(), UnpackError> {
        let full = self.tree.full(rel);
        let mode = content.mode;
        // A link in the entry's place is replaced, never written through.
        let mut file = self
            .tree
            .create_file(rel, mode)
            .map_err(|e| self.tree_err(content.raw, e))?;
        self.symlinks.remove(rel);
        if self.umask.is_none_or(|u| mode & u != 0) {
            file.set_permissions(fs::Permissions::from_mode(mode))
                .map_err(|e| self.write_err(full.clone(), e))?;
        }
        let written = match content.sparse {
            None => self.copy_data(stream, &mut file, &full, content.raw, u64::MAX)?,
            Some(map) => self.write_sparse(stream, &mut file, &full, content.raw, map)?,
        };
        if let Some(t) = content.mtime.and_then(mtime_of) {
            file.set_modified(t)
                .map_err(|e| self.write_err(full.clone(), e))?;
        }
        self.summary.files += 1;
        self.summary.bytes += written;
        Ok(())
    }

    /// Copy up to `limit` bytes of the member's data into `file`.
    fn copy_data(
        &mut self,
        stream: &mut TarStream<ChunkReader>,
        file: &mut File,
        full: &Path,
        raw: &[u8],
        limit: u64,
    ) -> Result<u64, UnpackError> {
        let size = stream.data_left().min(limit);
        let want = usize::try_from(size)
            .unwrap_or(WRITE_BUF)
            .clamp(1, WRITE_BUF);
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        let mut written = 0u64;
        while written < size {
            let chunk = (size - written).min(want as u64) as usize;
            let n = read_data(stream, &mut self.buf[..chunk]).map_err(|e| {
                self.format_error(FormatError {
                    entry: Some(lossy(raw)),
                    detail: e.to_string(),
                })
            })?;
            file.write_all(&self.buf[..n])
                .map_err(|e| self.write_err(full.to_path_buf(), e))?;
            written += n as u64;
        }
        Ok(written)
    }

    /// Write each stored piece at its offset, leaving holes between them as
    /// GNU tar does, and give the file its full length.
    fn write_sparse(
        &mut self,
        stream: &mut TarStream<ChunkReader>,
        file: &mut File,
        full: &Path,
        raw: &[u8],
        map: &SparseMap,
    ) -> Result<u64, UnpackError> {
        let stored: u64 = map.pieces.iter().map(|(_, len)| len).sum();
        let fits = map.pieces.iter().all(|(offset, len)| {
            offset
                .checked_add(*len)
                .is_some_and(|end| end <= map.real_size)
        });
        if stored != stream.data_left() || !fits {
            return Err(self.format_error(FormatError {
                entry: Some(lossy(raw)),
                detail: format!(
                    "its sparse map ({} pieces, {stored} bytes, file size {}) does not match \
                     its {} bytes of data",
                    map.pieces.len(),
                    map.real_size,
                    stream.data_left()
                ),
            }));
        }
        let mut written = 0;
        for (offset, len) in &map.pieces {
            file.seek(io::SeekFrom::Start(*offset))
                .map_err(|e| self.write_err(full.to_path_buf(), e))?;
            written += self.copy_data(stream, file, full, raw, *len)?;
        }
        file.set_len(map.real_size)
            .map_err(|e| self.write_err(full.to_path_buf(), e))?;
        Ok(written)
    }

    fn symlink(&mut self, raw: &[u8], rel: &[u8], target: &[u8]) -> Result<(), UnpackError> {
        let refuse = || UnpackError::SymlinkEscape {
            archive: self.archive.to_path_buf(),
            entry: lossy(raw),
            target: lossy(target),
        };
        if target.first() == Some(&b'/') {
            return Err(refuse());
        }
        // Where a relative target leads depends on the links around it, which
        // later members may still add: `check_links` follows it once the
        // tree is complete.
        self.tree
            .symlink(target, rel)
            .map_err(|e| self.tree_err(raw, e))?;
        self.symlinks.insert(rel.to_vec(), raw.to_vec());
        self.summary.files += 1;
        Ok(())
    }

    fn hard_link(&mut self, raw: &[u8], rel: &[u8], target: &[u8]) -> Result<(), UnpackError> {
        let refuse = |reason: &str| UnpackError::HardLinkEscape {
            archive: self.archive.to_path_buf(),
            entry: lossy(raw),
            target: lossy(target),
            reason: reason.to_string(),
        };
        let target_rel = match normalize(target, self.strip) {
            Ok(Normalized::Path(p)) => p,
            Ok(Normalized::Stripped) => return Err(refuse("is removed by the strip count")),
            Err(_) => return Err(refuse("points outside the destination")),
        };
        if let Some(link) = self.link_on_the_way(&target_rel) {
            let reason = format!(
                "lies behind the symlink \"{}\" created by an earlier entry",
                lossy(link)
            );
            return Err(refuse(&reason));
        }
        // link(2) does not follow a symlink in the source's final position;
        // a member linked to itself (GNU tar writes one when a file is named
        // twice) is left as it is.
        self.tree
            .hard_link(&target_rel, rel)
            .map_err(|e| self.tree_err(raw, e))?;
        self.symlinks.remove(rel);
        if self.symlinks.contains_key(&target_rel) {
            // A hard link to a symlink is a symlink too.
            self.symlinks.insert(rel.to_vec(), raw.to_vec());
        }
        self.summary.files += 1;
        Ok(())
    }

    /// Apply directory modes and mtimes, deepest first, now that nothing
    /// more will be written into them.
    fn finish_dirs(&mut self) -> Result<(), UnpackError> {
        let pending = std::mem::take(&mut self.pending_dirs);
        for dir in pending.iter().rev() {
            let full = self.tree.full(&dir.rel);
            let created = (dir.mode | 0o700) & !self.umask.unwrap_or(0o777);
            let need_chmod = created != dir.mode;
            let time = dir.mtime.and_then(mtime_of);
            if !need_chmod && time.is_none() {
                continue;
            }
            let handle = self
                .tree
                .open_dir(&dir.rel)
                .map_err(|e| self.tree_err(&dir.rel, e))?;
            if let Some(t) = time {
                handle
                    .set_modified(t)
                    .map_err(|e| self.write_err(full.clone(), e))?;
            }
            if need_chmod {
                handle
                    .set_permissions(fs::Permissions::from_mode(dir.mode))
                    .map_err(|e| self.write_err(full.clone(), e))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "unpack_tests.rs"]
mod tests;
