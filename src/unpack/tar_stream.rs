//! Reading tar headers the way GNU tar reads them.
//!
//! The formats met in source tarballs are v7, ustar, GNU (long names, the old
//! sparse type, volume labels) and pax (extended headers, and the three GNU
//! sparse encodings 0.0, 0.1 and 1.0 stored in them). Which members carry data
//! follows GNU tar, not the size field: directories, links, devices and fifos
//! never do, whatever their size says, so a v7 directory written with its
//! `st_size` or a hard link that repeats its file's size does not swallow the
//! headers after it.

use std::io::{self, Read};

const BLOCK: usize = 512;

/// What a member becomes on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberKind {
    File,
    Dir,
    Symlink,
    HardLink,
    Fifo,
    /// Character and block devices.
    Device,
    /// GNU volume labels and other members GNU tar does not extract.
    Ignored,
    /// The rest of a file begun in the previous volume of a multi-volume set.
    Continuation,
}

/// Where the stored data of a sparse file goes: `(offset, length)` pieces in
/// the order the data is stored, and the length of the whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparseMap {
    pub pieces: Vec<(u64, u64)>,
    pub real_size: u64,
}

/// One archive member, with every extension header already applied.
#[derive(Debug)]
pub struct Member {
    pub name: Vec<u8>,
    pub link: Vec<u8>,
    pub kind: MemberKind,
    pub mode: u32,
    /// Seconds since the epoch, or `None` when the field cannot be read.
    pub mtime: Option<i64>,
    pub sparse: Option<SparseMap>,
}

/// Why the stream could not be read, with the member it concerns when known.
#[derive(Debug)]
pub struct FormatError {
    pub entry: Option<String>,
    pub detail: String,
}

impl FormatError {
    fn new(entry: Option<&[u8]>, detail: impl Into<String>) -> Self {
        FormatError {
            entry: entry.map(|e| String::from_utf8_lossy(e).into_owned()),
            detail: detail.into(),
        }
    }
}

/// A pax extended header record: key and value.
type PaxRecord = (Vec<u8>, Vec<u8>);

/// Extension records met before the member they describe.
#[derive(Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Vec<PaxRecord>,
}

/// A tar stream read member by member; a member's data is read through
/// [`TarStream::data`] before asking for the next member (what is left unread
/// is skipped).
pub struct TarStream<R> {
    inner: R,
    /// Stored data of the current member not yet read.
    remaining: u64,
    /// Zero bytes after the current member's data, up to the block boundary.
    padding: u64,
    global_pax: Vec<PaxRecord>,
    /// The name of the last member, for errors found while skipping its data.
    last: Option<Vec<u8>>,
    scratch: Vec<u8>,
    /// Offset of the next byte in the uncompressed stream.
    offset: u64,
    ended: bool,
}

impl<R: Read> TarStream<R> {
    pub fn new(inner: R) -> Self {
        TarStream {
            inner,
            remaining: 0,
            padding: 0,
            global_pax: Vec::new(),
            last: None,
            scratch: vec![0; 64 * 1024],
            offset: 0,
            ended: false,
        }
    }

    /// The underlying reader, positioned after the last member read.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The next member, or `None` at the end-of-archive block (or a clean end
    /// of the input).
    pub fn next_member(&mut self) -> Result<Option<Member>, FormatError> {
        let mut pending = Pending::default();
        loop {
            self.skip_rest()?;
            let Some(block) = self.header_block(&pending)? else {
                return Ok(None);
            };
            let header = Header(&block);
            header.verify_checksum(self.offset - BLOCK as u64)?;
            let size = header.size()?;
            match header.typeflag() {
                b'x' | b'X' => pending.pax.extend(parse_pax(&self.read_meta(size)?)?),
                b'g' => self.global_pax = parse_pax(&self.read_meta(size)?)?,
                b'L' => pending.long_name = Some(cstr(&self.read_meta(size)?).to_vec()),
                b'K' => pending.long_link = Some(cstr(&self.read_meta(size)?).to_vec()),
                _ => return self.member(&header, size, pending).map(Some),
            }
        }
    }

    /// Read (part of) the current member's stored data; 0 at its end.
    pub fn data(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the archive ends inside this member's data",
            ));
        }
        self.remaining -= n as u64;
        self.offset += n as u64;
        Ok(n)
    }

    /// Stored bytes of the current member not read yet.
    pub fn data_left(&self) -> u64 {
        self.remaining
    }

    /// Skip what is left of the last member's (or extension header's) data.
    fn skip_rest(&mut self) -> Result<(), FormatError> {
        let mut left = self.remaining + self.padding;
        while left > 0 {
            let chunk = left.min(self.scratch.len() as u64) as usize;
            let n = read_full(&mut self.inner, &mut self.scratch[..chunk])
                .map_err(|e| FormatError::new(self.last.as_deref(), e.to_string()))?;
            if n < chunk {
                return Err(FormatError::new(
                    self.last.as_deref(),
                    "the archive ends inside this member's data",
                ));
            }
            left -= n as u64;
        }
        self.offset += self.remaining + self.padding;
        self.remaining = 0;
        self.padding = 0;
        Ok(())
    }

    fn header_block(&mut self, pending: &Pending) -> Result<Option<[u8; BLOCK]>, FormatError> {
        if self.ended {
            return Ok(None);
        }
        let mut block = [0u8; BLOCK];
        let n = read_full(&mut self.inner, &mut block)
            .map_err(|e| FormatError::new(None, e.to_string()))?;
        self.offset += n as u64;
        let dangling = pending.long_name.is_some() || !pending.pax.is_empty();
        if n == 0 && !dangling {
            self.ended = true;
            return Ok(None);
        }
        if n < BLOCK {
            return Err(FormatError::new(
                pending.long_name.as_deref(),
                format!("the archive ends inside a header at byte {}", self.offset),
            ));
        }
        if block.iter().all(|b| *b == 0) {
            self.ended = true;
            return Ok(None);
        }
        Ok(Some(block))
    }

    /// The data of an extension header, which must fit in memory.
    fn read_meta(&mut self, size: u64) -> Result<Vec<u8>, FormatError> {
        const LIMIT: u64 = 64 << 20;
        if size > LIMIT {
            return Err(FormatError::new(
                None,
                format!("an extension header of {size} bytes (more than {LIMIT})"),
            ));
        }
        let mut data = vec![0u8; size as usize];
        let n = read_full(&mut self.inner, &mut data)
            .map_err(|e| FormatError::new(None, e.to_string()))?;
        if n < data.len() {
            return Err(FormatError::new(
                None,
                "the archive ends inside an extension header",
            ));
        }
        self.offset += size;
        self.padding = padding_of(size);
        self.last = None;
        Ok(data)
    }

    /// Build the member from its header and the extension records before it,
    /// and position the stream at its data.
    fn member(
        &mut self,
        header: &Header<'_>,
        header_size: u64,
        pending: Pending,
    ) -> Result<Member, FormatError> {
        // Taken out while the member is built, since reading a sparse map
        // needs the stream too.
        let global = std::mem::take(&mut self.global_pax);
        let member = self.member_with(header, header_size, pending, &global);
        self.global_pax = global;
        member
    }

    fn member_with(
        &mut self,
        header: &Header<'_>,
        header_size: u64,
        pending: Pending,
        global: &[PaxRecord],
    ) -> Result<Member, FormatError> {
        let pax = Pax {
            global,
            local: &pending.pax,
        };
        let name = pax
            .get(b"GNU.sparse.name")
            .or_else(|| pax.get(b"path"))
            .map(<[u8]>::to_vec)
            .or(pending.long_name)
            .unwrap_or_else(|| header.name());
        let link = pax
            .get(b"linkpath")
            .map(<[u8]>::to_vec)
            .or(pending.long_link)
            .unwrap_or_else(|| cstr(&header.0[157..257]).to_vec());
        let stored = match pax.get(b"size") {
            Some(v) => decimal(v).ok_or_else(|| bad_record(&name, "size", v))?,
            None => header_size,
        };
        let (kind, has_data) = classify(header.typeflag(), &name);
        let mode = header
            .number(100..108)
            .and_then(|m| u32::try_from(m & 0o7777).ok())
            .ok_or_else(|| FormatError::new(Some(&name), "its mode field cannot be read"))?;
        let mtime = match pax.get(b"mtime") {
            Some(v) => pax_time(v),
            None => header.number(136..148),
        };
        self.last = Some(name.clone());
        self.remaining = if has_data { stored } else { 0 };
        self.padding = if has_data { padding_of(stored) } else { 0 };
        let sparse = if kind != MemberKind::File {
            None
        } else if header.typeflag() == b'S' {
            Some(self.old_gnu_sparse(header, &name)?)
        } else {
            self.pax_sparse(&pax, &name)?
        };
        Ok(Member {
            name,
            link,
            kind,
            mode,
            mtime,
            sparse,
        })
    }

    /// The map of the old GNU sparse type: four pieces in the header, more in
    /// extension blocks that follow it.
    fn old_gnu_sparse(
        &mut self,
        header: &Header<'_>,
        name: &[u8],
    ) -> Result<SparseMap, FormatError> {
        let bad = || FormatError::new(Some(name), "its sparse map cannot be read");
        let mut pieces = Vec::new();
        read_sparse_pieces(&header.0[386..482], &mut pieces).ok_or_else(bad)?;
        let mut extended = header.0[482] != 0;
        while extended {
            let mut block = [0u8; BLOCK];
            let n = read_full(&mut self.inner, &mut block).map_err(|_| bad())?;
            if n < BLOCK {
                return Err(bad());
            }
            self.offset += BLOCK as u64;
            read_sparse_pieces(&block[..504], &mut pieces).ok_or_else(bad)?;
            extended = block[504] != 0;
        }
        let real_size = Header(header.0)
            .number(483..495)
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(bad)?;
        Ok(SparseMap { pieces, real_size })
    }

    /// The map of a pax sparse file: format 0.0 (repeated offset/numbytes
    /// records), 0.1 (one `map` record) or 1.0 (the map at the start of the
    /// data).
    fn pax_sparse(&mut self, pax: &Pax<'_>, name: &[u8]) -> Result<Option<SparseMap>, FormatError> {
        let number = |key: &[u8]| -> Result<Option<u64>, FormatError> {
            pax.get(key)
                .map(|v| {
                    decimal(v).ok_or_else(|| bad_record(name, &String::from_utf8_lossy(key), v))
                })
                .transpose()
        };
        if pax.get(b"GNU.sparse.major") == Some(b"1") {
            let real_size = number(b"GNU.sparse.realsize")?.ok_or_else(|| {
                FormatError::new(Some(name), "its pax sparse header has no realsize")
            })?;
            let pieces = self.sparse_map_in_data(name)?;
            return Ok(Some(SparseMap { pieces, real_size }));
        }
        if let Some(major) = pax.get(b"GNU.sparse.major") {
            return Err(FormatError::new(
                Some(name),
                format!(
                    "it is stored in GNU sparse format {}, which GNU tar 1.34 does not know either",
                    String::from_utf8_lossy(major)
                ),
            ));
        }
        let Some(real_size) = number(b"GNU.sparse.size")? else {
            return Ok(None);
        };
        let pieces = match pax.get(b"GNU.sparse.map") {
            Some(map) => pairs(map.split(|b| *b == b',').map(decimal))
                .ok_or_else(|| bad_record(name, "GNU.sparse.map", map))?,
            None => pairs(pax.local_sparse_0_0().map(decimal)).ok_or_else(|| {
                FormatError::new(
                    Some(name),
                    "its GNU.sparse.offset/numbytes records do not pair up",
                )
            })?,
        };
        Ok(Some(SparseMap { pieces, real_size }))
    }

    /// Format 1.0: decimal numbers, one a line (the count, then offset and
    /// length pairs), padded to a whole block.
    fn sparse_map_in_data(&mut self, name: &[u8]) -> Result<Vec<(u64, u64)>, FormatError> {
        let bad = || FormatError::new(Some(name), "its sparse map (format 1.0) cannot be read");
        let mut numbers: Vec<u64> = Vec::new();
        let mut digits = Vec::new();
        let mut wanted: Option<u64> = None;
        loop {
            let mut block = [0u8; BLOCK];
            if self.remaining < BLOCK as u64 {
                return Err(bad());
            }
            let n = read_full(&mut self.inner, &mut block).map_err(|_| bad())?;
            if n < BLOCK {
                return Err(bad());
            }
            self.remaining -= BLOCK as u64;
            self.offset += BLOCK as u64;
            for &b in &block {
                if b != b'\n' {
                    digits.push(b);
                    continue;
                }
                numbers.push(decimal(&digits).ok_or_else(bad)?);
                digits.clear();
                if wanted.is_none() {
                    wanted = Some(numbers.pop().unwrap_or(0).checked_mul(2).ok_or_else(bad)?);
                }
                if Some(numbers.len() as u64) == wanted {
                    return pairs(numbers.into_iter().map(Some)).ok_or_else(bad);
                }
            }
        }
    }
}

/// The type of member a header describes and whether stored data follows it,
/// as GNU tar decides.
fn classify(typeflag: u8, name: &[u8]) -> (MemberKind, bool) {
    match typeflag {
        b'0' | b'\0' | b'7' if name.ends_with(b"/") => (MemberKind::Dir, false),
        b'1' => (MemberKind::HardLink, false),
        b'2' => (MemberKind::Symlink, false),
        b'3' | b'4' => (MemberKind::Device, false),
        b'6' => (MemberKind::Fifo, false),
        b'5' => (MemberKind::Dir, false),
        // A GNU dumpdir: a directory whose data lists its contents.
        b'D' => (MemberKind::Dir, true),
        b'V' | b'N' => (MemberKind::Ignored, true),
        b'M' => (MemberKind::Continuation, true),
        // Regular, contiguous, old GNU sparse, and (as GNU tar does) any
        // unknown type.
        _ => (MemberKind::File, true),
    }
}

/// Extension records: the member's own, then the global ones.
struct Pax<'a> {
    global: &'a [PaxRecord],
    local: &'a [PaxRecord],
}

impl Pax<'_> {
    /// The last value of `key` (a later record overrides an earlier one).
    fn get(&self, key: &[u8]) -> Option<&[u8]> {
        last_value(self.local, key).or_else(|| last_value(self.global, key))
    }

    /// Format 0.0's offset and numbytes values, in order.
    fn local_sparse_0_0(&self) -> impl Iterator<Item = &[u8]> {
        self.local
            .iter()
            .filter(|(k, _)| k == b"GNU.sparse.offset" || k == b"GNU.sparse.numbytes")
            .map(|(_, v)| v.as_slice())
    }
}

fn last_value<'a>(records: &'a [PaxRecord], key: &[u8]) -> Option<&'a [u8]> {
    records
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_slice())
}

fn bad_record(name: &[u8], key: &str, value: &[u8]) -> FormatError {
    FormatError::new(
        Some(name),
        format!(
            "its pax record {key}={} cannot be read",
            String::from_utf8_lossy(value)
        ),
    )
}

/// Numbers taken two by two; `None` if one does not parse or one is left.
fn pairs(numbers: impl Iterator<Item = Option<u64>>) -> Option<Vec<(u64, u64)>> {
    let numbers: Vec<u64> = numbers.collect::<Option<_>>()?;
    if numbers.len() % 2 != 0 {
        return None;
    }
    Some(numbers.chunks(2).map(|p| (p[0], p[1])).collect())
}

/// Sparse pieces stored as 12-byte octal offset and length pairs; an empty
/// offset ends the list.
fn read_sparse_pieces(area: &[u8], pieces: &mut Vec<(u64, u64)>) -> Option<()> {
    for entry in area.chunks_exact(24) {
        if entry[0] == 0 {
            break;
        }
        let field = |range| {
            Header(entry)
                .number(range)
                .and_then(|v| u64::try_from(v).ok())
        };
        pieces.push((field(0..12)?, field(12..24)?));
    }
    Some(())
}

/// Pax records: `LEN key=value\n`, where LEN counts the whole record.
fn parse_pax(data: &[u8]) -> Result<Vec<PaxRecord>, FormatError> {
    let bad = || FormatError::new(None, "a pax extended header cannot be read");
    let mut records = Vec::new();
    let mut rest = data;
    while !rest.is_empty() && rest[0] != 0 {
        let space = rest.iter().position(|b| *b == b' ').ok_or_else(bad)?;
        let len = decimal(&rest[..space]).ok_or_else(bad)? as usize;
        if len <= space + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return Err(bad());
        }
        let record = &rest[space + 1..len - 1];
        let eq = record.iter().position(|b| *b == b'=').ok_or_else(bad)?;
        records.push((record[..eq].to_vec(), record[eq + 1..].to_vec()));
        rest = &rest[len..];
    }
    Ok(records)
}

/// A pax time: decimal seconds, maybe negative, maybe with a fraction.
fn pax_time(value: &[u8]) -> Option<i64> {
    let whole = value.split(|b| *b == b'.').next()?;
    match whole.strip_prefix(b"-") {
        Some(digits) => decimal(digits)
            .and_then(|v| i64::try_from(v).ok())
            .map(|v| -v),
        None => decimal(whole).and_then(|v| i64::try_from(v).ok()),
    }
}

fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

fn padding_of(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

/// The bytes up to the first NUL.
fn cstr(field: &[u8]) -> &[u8] {
    match field.iter().position(|b| *b == 0) {
        Some(end) => &field[..end],
        None => field,
    }
}

/// A header block.
struct Header<'a>(&'a [u8]);

impl Header<'_> {
    fn typeflag(&self) -> u8 {
        self.0[156]
    }

    /// The name, with the ustar prefix when the header is POSIX ustar.
    fn name(&self) -> Vec<u8> {
        let name = cstr(&self.0[..100]);
        let prefix = cstr(&self.0[345..500]);
        if &self.0[257..263] == b"ustar\0" && !prefix.is_empty() {
            [prefix, b"/", name].concat()
        } else {
            name.to_vec()
        }
    }

    fn size(&self) -> Result<u64, FormatError> {
        self.number(124..136)
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| FormatError::new(Some(&self.name()), "its size field cannot be read"))
    }

    /// A numeric field: octal (space or NUL terminated, leading spaces
    /// allowed) or GNU base-256 (first byte 0x80 for positive, 0xff for
    /// negative, two's complement).
    fn number(&self, range: std::ops::Range<usize>) -> Option<i64> {
        let field = &self.0[range];
        match field.first() {
            Some(0x80) => {
                let value = field[1..].iter().try_fold(0i128, |acc, b| {
                    acc.checked_mul(256).map(|v| v | i128::from(*b))
                })?;
                i64::try_from(value).ok()
            }
            Some(0xff) => {
                let value = field
                    .iter()
                    .fold(-1i128, |acc, b| (acc << 8) | i128::from(*b));
                i64::try_from(value).ok()
            }
            _ => {
                let text = field.iter().skip_while(|b| **b == b' ');
                let digits: Vec<u8> = text
                    .take_while(|b| (b'0'..=b'7').contains(*b))
                    .copied()
                    .collect();
                let after = field.iter().skip_while(|b| **b == b' ').nth(digits.len());
                if !matches!(after, None | Some(b' ') | Some(0)) {
                    return None;
                }
                digits.iter().try_fold(0i64, |acc, d| {
                    acc.checked_mul(8)?.checked_add(i64::from(d - b'0'))
                })
            }
        }
    }

    /// GNU tar accepts the checksum computed over unsigned or signed bytes.
    fn verify_checksum(&self, at: u64) -> Result<(), FormatError> {
        let recorded = self.number(148..156);
        let (mut unsigned, mut signed) = (0i64, 0i64);
        for (i, b) in self.0.iter().enumerate() {
            let b = if (148..156).contains(&i) { b' ' } else { *b };
            unsigned += i64::from(b);
            signed += i64::from(b as i8);
        }
        if recorded == Some(unsigned) || recorded == Some(signed) {
            return Ok(());
        }
        Err(FormatError::new(
            None,
            format!("the header at byte {at} has a wrong checksum (not a tar header)"),
        ))
    }
}

/// Whether a block has a valid tar header checksum.
pub fn is_header(block: &[u8]) -> bool {
    block.len() >= BLOCK && Header(&block[..BLOCK]).verify_checksum(0).is_ok()
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    super::read_full(r, buf)
}
