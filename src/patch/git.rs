//! git's additions to unified diffs: the `diff --git` line, extended headers (renames, copies,
//! modes, creation and deletion of empty files) and `GIT binary patch` sections.

use std::io::Read;

use sha1::{Digest, Sha1};

use super::names::unquote;
use super::parse::{
    is_binary_notice, is_file_header, parse_file_headers, parse_hunks, trim_cr, Body, HeaderName,
    Lines, Section,
};
use super::PatchError;

/// What a git section does to its file.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) enum GitOp {
    #[default]
    Modify,
    Create,
    Delete,
    Rename,
    Copy,
}

/// git's extended header lines of one section.
#[derive(Debug, Default)]
pub(super) struct GitHeader {
    pub op: GitOp,
    pub old_mode: Option<u32>,
    pub new_mode: Option<u32>,
    /// The blob ids of the `index` line, as written (abbreviated unless `--full-index`).
    pub index: Option<(String, String)>,
}

/// Parses the section whose `diff --git` line is at `start`; returns it and the index after it.
pub(super) fn parse_section<'a>(
    lines: &Lines<'a>,
    start: usize,
) -> Result<(Section<'a>, usize), PatchError> {
    let first = lines.get(start).unwrap_or_default();
    let (mut old, mut new) = match diff_git_names(trim_cr(&first[b"diff --git ".len()..])) {
        Some((a, b)) => (Some(named(a, true, start)), Some(named(b, true, start))),
        None => (None, None),
    };
    let mut header = GitHeader::default();
    let i = parse_extended_header(lines, start + 1, &mut header, &mut old, &mut new)?;
    let (body, next) = parse_body(lines, i, &header, &mut old, &mut new)?;
    match header.op {
        GitOp::Create => old = None,
        GitOp::Delete => new = None,
        _ => {}
    }
    if old.is_none() && new.is_none() {
        return Err(lines.malformed(start, "cannot tell the file names apart in this line"));
    }
    let section = Section {
        line: start + 1,
        old,
        new,
        git: Some(header),
        crlf_headers: first.ends_with(b"\r"),
        body,
    };
    Ok((section, next))
}

/// Reads git's extended header lines from `index` on into `header` and the names; returns
/// the index of the first line that is not one.
fn parse_extended_header(
    lines: &Lines<'_>,
    index: usize,
    header: &mut GitHeader,
    old: &mut Option<HeaderName>,
    new: &mut Option<HeaderName>,
) -> Result<usize, PatchError> {
    let mut i = index;
    while let Some(line) = lines.get(i) {
        let line = trim_cr(line);
        let mode = |rest: &[u8]| -> Result<u32, PatchError> {
            std::str::from_utf8(rest)
                .ok()
                .and_then(|m| u32::from_str_radix(m.trim(), 8).ok())
                .ok_or_else(|| lines.malformed(i, "malformed file mode"))
        };
        let path = |rest: &[u8]| -> Result<HeaderName, PatchError> {
            let bytes = match rest.first() {
                Some(b'"') => {
                    unquote(rest)
                        .ok_or_else(|| lines.malformed(i, "malformed quoted file name"))?
                        .0
                }
                _ => rest.to_vec(),
            };
            Ok(named(bytes, false, i))
        };
        if let Some(rest) = line.strip_prefix(b"old mode ") {
            header.old_mode = Some(mode(rest)?);
        } else if let Some(rest) = line.strip_prefix(b"new mode ") {
            header.new_mode = Some(mode(rest)?);
        } else if let Some(rest) = line.strip_prefix(b"deleted file mode ") {
            header.op = GitOp::Delete;
            header.old_mode = Some(mode(rest)?);
        } else if let Some(rest) = line.strip_prefix(b"new file mode ") {
            header.op = GitOp::Create;
            header.new_mode = Some(mode(rest)?);
        } else if let Some(rest) = strip_any(line, &[b"rename from ", b"rename old "]) {
            header.op = GitOp::Rename;
            *old = Some(path(rest)?);
        } else if let Some(rest) = strip_any(line, &[b"rename to ", b"rename new "]) {
            *new = Some(path(rest)?);
        } else if let Some(rest) = line.strip_prefix(b"copy from ") {
            header.op = GitOp::Copy;
            *old = Some(path(rest)?);
        } else if let Some(rest) = line.strip_prefix(b"copy to ") {
            *new = Some(path(rest)?);
        } else if let Some(rest) = line.strip_prefix(b"index ") {
            header.index = parse_index(rest, &mut header.old_mode, &mut header.new_mode);
        } else if !line.starts_with(b"similarity index ")
            && !line.starts_with(b"dissimilarity index ")
        {
            break;
        }
        i += 1;
    }
    Ok(i)
}

/// A name read from line `index` of a git section.
fn named(bytes: Vec<u8>, prefixed: bool, index: usize) -> HeaderName {
    HeaderName {
        bytes,
        epoch: false,
        line: index + 1,
        prefixed,
    }
}

fn strip_any<'l>(line: &'l [u8], prefixes: &[&[u8]]) -> Option<&'l [u8]> {
    prefixes
        .iter()
        .find_map(|prefix| line.strip_prefix(*prefix))
}

/// `abc123..def456 100644`: the blob ids, and the mode of a file whose mode does not change.
fn parse_index(
    rest: &[u8],
    old_mode: &mut Option<u32>,
    new_mode: &mut Option<u32>,
) -> Option<(String, String)> {
    let rest = std::str::from_utf8(rest).ok()?;
    let (ids, mode) = rest.split_once(' ').unwrap_or((rest, ""));
    let (old, new) = ids.split_once("..")?;
    if let Ok(mode) = u32::from_str_radix(mode.trim(), 8) {
        old_mode.get_or_insert(mode);
        new_mode.get_or_insert(mode);
    }
    Some((old.to_string(), new.to_string()))
}

type BodyAndNext<'a> = (Body<'a>, usize);

fn parse_body<'a>(
    lines: &Lines<'a>,
    index: usize,
    header: &GitHeader,
    old: &mut Option<HeaderName>,
    new: &mut Option<HeaderName>,
) -> Result<BodyAndNext<'a>, PatchError> {
    let line = lines.get(index).map(trim_cr);
    if is_file_header(lines, index) {
        let (from, to, after) = parse_file_headers(lines, index)?;
        // Rename and copy lines name the files without prefixes, which is unambiguous.
        if !matches!(header.op, GitOp::Rename | GitOp::Copy) {
            if from.is_some() {
                *old = from;
            }
            if to.is_some() {
                *new = to;
            }
        }
        let (hunks, next) = parse_hunks(lines, after)?;
        return Ok((Body::Text(hunks), next));
    }
    match line {
        Some(b"GIT binary patch") => {
            let (binary, next) = parse_binary(lines, index)?;
            Ok((Body::Binary(binary), next))
        }
        Some(notice) if is_binary_notice(notice) => {
            Ok((Body::BinaryWithoutData { line: index + 1 }, index + 1))
        }
        _ => Ok((Body::Nothing, index)),
    }
}

/// Splits the names of a `diff --git a/x b/x` line. Unquoted names may contain spaces, so
/// the split is where both names are the same after their first component, as git does.
fn diff_git_names(rest: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    if rest.first() == Some(&b'"') {
        let (first, after) = unquote(rest)?;
        let after = after.strip_prefix(b" ")?;
        let second = match after.first() {
            Some(b'"') => unquote(after)?.0,
            _ => after.to_vec(),
        };
        return Some((first, second));
    }
    if let Some(quote) = rest.windows(2).position(|w| w == b" \"") {
        return Some((rest[..quote].to_vec(), unquote(&rest[quote + 1..])?.0));
    }
    let after_first_component = |name: &[u8]| -> Option<Vec<u8>> {
        let slash = name.iter().position(|&b| b == b'/')?;
        Some(name[slash + 1..].to_vec())
    };
    rest.iter()
        .enumerate()
        .filter(|(_, &b)| b == b' ')
        .map(|(space, _)| (&rest[..space], &rest[space + 1..]))
        .find(|(a, b)| {
            let (a, b) = (after_first_component(a), after_first_component(b));
            a.is_some() && a == b
        })
        .map(|(a, b)| (a.to_vec(), b.to_vec()))
}

/// How a binary patch describes the new content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BinaryKind {
    /// The whole new content.
    Literal,
    /// git's delta against the old content.
    Delta,
}

/// The forward half of a `GIT binary patch` section, decoded and inflated.
#[derive(Debug)]
pub(super) struct BinaryPatch {
    /// 1-based patch line of `GIT binary patch`.
    pub line: usize,
    pub kind: BinaryKind,
    pub data: Vec<u8>,
}

/// Parses the binary section whose `GIT binary patch` line is at `start`: the forward hunk
/// and git's optional reverse hunk, which is checked but not used.
fn parse_binary(lines: &Lines<'_>, start: usize) -> Result<(BinaryPatch, usize), PatchError> {
    let (kind, data, mut next) = parse_binary_hunk(lines, start + 1)?;
    let starts_hunk = |line: &[u8]| {
        let line = trim_cr(line);
        line.starts_with(b"literal ") || line.starts_with(b"delta ")
    };
    if lines.get(next).is_some_and(starts_hunk) {
        next = parse_binary_hunk(lines, next)?.2;
    }
    let patch = BinaryPatch {
        line: start + 1,
        kind,
        data,
    };
    Ok((patch, next))
}

/// Parses `literal N` or `delta N` at `index` and its base85 lines up to the blank line.
fn parse_binary_hunk(
    lines: &Lines<'_>,
    index: usize,
) -> Result<(BinaryKind, Vec<u8>, usize), PatchError> {
    let header = lines.get(index).map(trim_cr).unwrap_or_default();
    let (kind, size) = if let Some(size) = header.strip_prefix(b"literal ") {
        (BinaryKind::Literal, size)
    } else if let Some(size) = header.strip_prefix(b"delta ") {
        (BinaryKind::Delta, size)
    } else {
        return Err(lines.malformed(index, "expected `literal <size>` or `delta <size>`"));
    };
    let size: usize = std::str::from_utf8(size)
        .ok()
        .and_then(|size| size.parse().ok())
        .ok_or_else(|| lines.malformed(index, "malformed size in binary patch"))?;
    let mut compressed = Vec::new();
    let mut i = index + 1;
    loop {
        let line = lines.get(i).map(trim_cr).unwrap_or_default();
        if line.is_empty() {
            break;
        }
        decode_base85_line(line, &mut compressed)
            .ok_or_else(|| lines.malformed(i, "malformed base85 line in binary patch"))?;
        i += 1;
    }
    let data = inflate(&compressed, size).ok_or_else(|| {
        lines.malformed(
            index,
            format!("binary patch data does not inflate to the {size} bytes its header states"),
        )
    })?;
    Ok((kind, data, i + 1))
}

const BASE85: &[u8; 85] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~";

/// Decodes one line of git's base85: a length character (`A`-`Z` for 1-26, `a`-`z` for
/// 27-52), then groups of five characters for four bytes each.
fn decode_base85_line(line: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let length = match line.first()? {
        c @ b'A'..=b'Z' => usize::from(c - b'A') + 1,
        c @ b'a'..=b'z' => usize::from(c - b'a') + 27,
        _ => return None,
    };
    let encoded = &line[1..];
    if encoded.len() != length.div_ceil(4) * 5 {
        return None;
    }
    let mut decoded = Vec::with_capacity(encoded.len() / 5 * 4);
    for group in encoded.chunks(5) {
        let mut value: u64 = 0;
        for &c in group {
            let digit = BASE85.iter().position(|&d| d == c)?;
            value = value * 85 + digit as u64;
        }
        let value = u32::try_from(value).ok()?;
        decoded.extend_from_slice(&value.to_be_bytes());
    }
    out.extend_from_slice(&decoded[..length]);
    Some(())
}

/// zlib-inflates `data`, which must come to exactly `size` bytes.
fn inflate(data: &[u8], size: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(size);
    let limit = u64::try_from(size).ok()?.checked_add(1)?;
    flate2::read::ZlibDecoder::new(data)
        .take(limit)
        .read_to_end(&mut out)
        .ok()?;
    (out.len() == size).then_some(out)
}

/// Applies git's delta format to `source`; `None` if the delta does not fit it.
pub(super) fn apply_delta(source: &[u8], delta: &[u8]) -> Option<Vec<u8>> {
    let mut at = 0;
    let mut varint = || -> Option<usize> {
        let (mut value, mut shift) = (0usize, 0u32);
        loop {
            let byte = *delta.get(at)?;
            at += 1;
            value |= usize::from(byte & 0x7f).checked_shl(shift)?;
            shift += 7;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
    };
    let (source_size, target_size) = (varint()?, varint()?);
    if source_size != source.len() {
        return None;
    }
    let mut out = Vec::with_capacity(target_size);
    while let Some(&command) = delta.get(at) {
        at += 1;
        if command & 0x80 != 0 {
            let mut field = |bits: std::ops::Range<u8>| -> Option<usize> {
                let mut value = 0usize;
                for (n, bit) in bits.enumerate() {
                    if command & (1 << bit) != 0 {
                        value |= usize::from(*delta.get(at)?) << (8 * n);
                        at += 1;
                    }
                }
                Some(value)
            };
            let offset = field(0..4)?;
            let size = match field(4..7)? {
                0 => 0x10000,
                size => size,
            };
            out.extend_from_slice(source.get(offset..offset.checked_add(size)?)?);
        } else if command != 0 {
            let length = usize::from(command);
            out.extend_from_slice(delta.get(at..at + length)?);
            at += length;
        } else {
            return None;
        }
    }
    (out.len() == target_size).then_some(out)
}

/// git's blob id of `content`, in hex.
pub(super) fn blob_id(content: &[u8]) -> String {
    let mut hasher = Sha1::new();
    hasher.update(format!("blob {}\0", content.len()).as_bytes());
    hasher.update(content);
    crate::digest::hex(&hasher.finalize())
}

/// Whether a blob id from an `index` line is complete (40 hex digits), as `git diff
/// --binary` writes them; an abbreviated one cannot tell which content a patch expects.
pub(super) fn is_full_id(id: &str) -> bool {
    id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_a_diff_git_line() {
        let names = |line: &[u8]| diff_git_names(line).unwrap();
        assert_eq!(
            names(b"a/my dir/f b/my dir/f"),
            (b"a/my dir/f".to_vec(), b"b/my dir/f".to_vec())
        );
        assert_eq!(
            names(b"\"a/t\\tb\" \"b/t\\tb\""),
            (b"a/t\tb".to_vec(), b"b/t\tb".to_vec())
        );
        assert!(diff_git_names(b"a/x b/y").is_none());
    }

    #[test]
    fn delta_copies_and_inserts() {
        // Source 5 bytes, target 8: copy "hello" (offset 0, size 5), insert "!!!".
        let delta = [5, 8, 0x80 | 0x10, 5, 3, b'!', b'!', b'!'];
        assert_eq!(apply_delta(b"hello", &delta).unwrap(), b"hello!!!");
        assert!(
            apply_delta(b"hell", &delta).is_none(),
            "source size differs"
        );
        assert!(
            apply_delta(b"hello", &[5, 9, 0x90, 5]).is_none(),
            "target size differs"
        );
    }

    #[test]
    fn blob_ids_are_gits() {
        assert_eq!(blob_id(b""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
        assert_eq!(blob_id(b"x\n"), "587be6b4c3f93f93c489c0111bba5596147a26cb");
    }
}
