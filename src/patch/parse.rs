//! Reading a patch: unified diffs (`diff -u`, `diff -ruN`, `git diff`, `git format-patch`) with
//! git's extended headers, as bytes. Everything outside a file section is commentary.

use super::git::{self, BinaryPatch, GitHeader};
use super::names::{is_epoch, unquote};
use super::PatchError;

/// One name from a `---`/`+++` header, a `diff --git` line or a git rename/copy line.
#[derive(Debug, Clone)]
pub(super) struct HeaderName {
    pub bytes: Vec<u8>,
    /// The timestamp denotes the Unix epoch, which `diff -N` writes for absent files.
    pub epoch: bool,
    /// 1-based patch line the name was read from.
    pub line: usize,
    /// The name starts with a prefix such as `a/` that the strip level counts; git's
    /// `rename from`/`copy to` names do not.
    pub prefixed: bool,
}

/// What a file section carries besides its headers.
#[derive(Debug)]
pub(super) enum Body<'a> {
    Text(Vec<Hunk<'a>>),
    Binary(BinaryPatch),
    /// `Binary files a/x and b/x differ`: the change itself is not in the patch.
    BinaryWithoutData {
        line: usize,
    },
    /// Only headers: a rename, copy, mode change, or an empty file created or deleted.
    Nothing,
}

/// Everything a patch says about one file.
#[derive(Debug)]
pub(super) struct Section<'a> {
    /// 1-based patch line where the section starts (`diff --git` or `---`).
    pub line: usize,
    /// `None` is `/dev/null`.
    pub old: Option<HeaderName>,
    pub new: Option<HeaderName>,
    pub git: Option<GitHeader>,
    /// The file headers end in CR: the patch went through a CRLF conversion, and GNU patch
    /// strips the CR from every line of it.
    pub crlf_headers: bool,
    pub body: Body<'a>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum LineKind {
    Context,
    Removed,
    Added,
}

/// A hunk line: its kind and its text without the marker and the `\n`.
#[derive(Debug)]
pub(super) struct HunkLine<'a> {
    pub kind: LineKind,
    pub text: &'a [u8],
}

#[derive(Debug)]
pub(super) struct Hunk<'a> {
    /// 1-based patch line of the `@@` header.
    pub line: usize,
    /// `@@ -a,b +c,d @@` as written, without section text.
    pub header: String,
    pub old_start: usize,
    pub new_start: usize,
    pub lines: Vec<HunkLine<'a>>,
    /// The last old line has no trailing newline.
    pub old_no_eol: bool,
    /// The last new line has no trailing newline.
    pub new_no_eol: bool,
}

impl Hunk<'_> {
    pub fn old_count(&self) -> usize {
        self.count(LineKind::Added)
    }

    pub fn new_count(&self) -> usize {
        self.count(LineKind::Removed)
    }

    fn count(&self, excluded: LineKind) -> usize {
        self.lines.iter().filter(|l| l.kind != excluded).count()
    }

    /// Context lines before the first change.
    pub fn prefix_context(&self) -> usize {
        self.lines
            .iter()
            .take_while(|l| l.kind == LineKind::Context)
            .count()
    }

    /// Context lines after the last change.
    pub fn suffix_context(&self) -> usize {
        self.lines
            .iter()
            .rev()
            .take_while(|l| l.kind == LineKind::Context)
            .count()
    }
}

fn malformed(patch: &str, line: usize, message: impl Into<String>) -> PatchError {
    PatchError::Malformed {
        patch: patch.to_string(),
        line,
        message: message.into(),
    }
}

/// The lines of a patch, without their `\n`.
pub(super) struct Lines<'a> {
    lines: Vec<&'a [u8]>,
    pub patch: &'a str,
}

impl<'a> Lines<'a> {
    fn new(text: &'a [u8], patch: &'a str) -> Lines<'a> {
        let mut lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
        if text.ends_with(b"\n") || text.is_empty() {
            lines.pop();
        }
        Lines { lines, patch }
    }

    pub fn get(&self, index: usize) -> Option<&'a [u8]> {
        self.lines.get(index).copied()
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn malformed(&self, index: usize, message: impl Into<String>) -> PatchError {
        malformed(self.patch, index + 1, message)
    }
}

/// A line without a trailing CR, for headers.
pub(super) fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

pub(super) fn parse<'a>(text: &'a [u8], patch: &'a str) -> Result<Vec<Section<'a>>, PatchError> {
    let lines = Lines::new(text, patch);
    let mut sections = Vec::new();
    let mut i = 0;
    while let Some(line) = lines.get(i) {
        if line.starts_with(b"diff --git ") {
            let (section, next) = git::parse_section(&lines, i)?;
            sections.push(section);
            i = next;
        } else if is_file_header(&lines, i) {
            let (old, new, after_headers) = parse_file_headers(&lines, i)?;
            let (hunks, next) = parse_hunks(&lines, after_headers)?;
            sections.push(Section {
                line: i + 1,
                crlf_headers: line.ends_with(b"\r"),
                old,
                new,
                git: None,
                body: Body::Text(hunks),
            });
            i = next;
        } else if is_binary_notice(line) {
            return Err(PatchError::BinaryWithoutData {
                patch: patch.to_string(),
                line: i + 1,
                notice: String::from_utf8_lossy(trim_cr(line)).into_owned(),
            });
        } else {
            i += 1;
        }
    }
    Ok(sections)
}

/// `Binary files a/x and b/x differ`, which diff writes instead of a binary file's change.
pub(super) fn is_binary_notice(line: &[u8]) -> bool {
    let line = trim_cr(line);
    line.starts_with(b"Binary files ") && line.ends_with(b" differ")
}

/// Whether a `---` line followed by a `+++` line starts at `index`.
pub(super) fn is_file_header(lines: &Lines<'_>, index: usize) -> bool {
    lines.get(index).is_some_and(|l| l.starts_with(b"--- "))
        && lines.get(index + 1).is_some_and(|l| l.starts_with(b"+++ "))
}

type FileHeaders = (Option<HeaderName>, Option<HeaderName>, usize);

/// Parses the `---`/`+++` pair at `index`; returns both names and the index after them.
pub(super) fn parse_file_headers(
    lines: &Lines<'_>,
    index: usize,
) -> Result<FileHeaders, PatchError> {
    let old = header_name(lines, index, 4)?;
    let new = header_name(lines, index + 1, 4)?;
    if old.is_none() && new.is_none() {
        return Err(lines.malformed(index, "both file names are /dev/null"));
    }
    Ok((old, new, index + 2))
}

/// The name after the first `skip` bytes of line `index`; `None` for `/dev/null`.
fn header_name(
    lines: &Lines<'_>,
    index: usize,
    skip: usize,
) -> Result<Option<HeaderName>, PatchError> {
    let rest = &lines.get(index).unwrap_or_default()[skip..];
    let (name, timestamp): (Vec<u8>, &[u8]) = if rest.first() == Some(&b'"') {
        unquote(rest).ok_or_else(|| lines.malformed(index, "malformed quoted file name"))?
    } else if let Some(tab) = rest.iter().position(|&b| b == b'\t') {
        (rest[..tab].to_vec(), &rest[tab + 1..])
    } else {
        let end = rest.len()
            - rest
                .iter()
                .rev()
                .take_while(|&&b| b == b'\r' || b == b' ')
                .count();
        (rest[..end].to_vec(), b"")
    };
    if name.is_empty() {
        return Err(lines.malformed(index, "missing file name"));
    }
    if name == b"/dev/null" {
        return Ok(None);
    }
    Ok(Some(HeaderName {
        bytes: name,
        epoch: is_epoch(&String::from_utf8_lossy(timestamp)),
        line: index + 1,
        prefixed: true,
    }))
}

/// Parses the hunks starting at `index` (at least one); returns them and the index after them.
pub(super) fn parse_hunks<'a>(
    lines: &Lines<'a>,
    index: usize,
) -> Result<(Vec<Hunk<'a>>, usize), PatchError> {
    let mut hunks = Vec::new();
    let mut i = index;
    while lines.get(i).is_some_and(|l| l.starts_with(b"@@ ")) {
        let (hunk, next) = parse_hunk(lines, i)?;
        hunks.push(hunk);
        i = next;
    }
    if hunks.is_empty() {
        return Err(lines.malformed(
            i.min(lines.len().saturating_sub(1)),
            "expected a hunk header (@@ -l,s +l,s @@) after the file header",
        ));
    }
    Ok((hunks, i))
}

/// Parses `a,b` or `a` from a hunk header range; the count defaults to 1.
fn parse_range(range: &str) -> Option<(usize, usize)> {
    let number = |digits: &str| -> Option<usize> {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    match range.split_once(',') {
        Some((start, count)) => Some((number(start)?, number(count)?)),
        None => Some((number(range)?, 1)),
    }
}

struct HunkHeader {
    old_start: usize,
    old_count: usize,
    new_start: usize,
    new_count: usize,
    text: String,
}

/// Parses `@@ -a,b +c,d @@ section`.
fn parse_hunk_header(line: &[u8]) -> Option<HunkHeader> {
    let rest = line.strip_prefix(b"@@ -")?;
    let end = rest.windows(3).position(|w| w == b" @@")?;
    let ranges = std::str::from_utf8(&rest[..end]).ok()?;
    let (old, new) = ranges.split_once(" +")?;
    let (old_start, old_count) = parse_range(old)?;
    let (new_start, new_count) = parse_range(new)?;
    Some(HunkHeader {
        old_start,
        old_count,
        new_start,
        new_count,
        text: format!("@@ -{old} +{new} @@"),
    })
}

/// A hunk line's kind and text, or `None` for a `\ No newline at end of file` marker.
/// Some tools write an empty context line without its leading space.
fn classify(line: &[u8]) -> Result<Option<(LineKind, &[u8])>, ()> {
    match line.first() {
        None => Ok(Some((LineKind::Context, line))),
        Some(b'\r') if line == b"\r" => Ok(Some((LineKind::Context, line))),
        Some(b' ') => Ok(Some((LineKind::Context, &line[1..]))),
        Some(b'-') => Ok(Some((LineKind::Removed, &line[1..]))),
        Some(b'+') => Ok(Some((LineKind::Added, &line[1..]))),
        Some(b'\\') => Ok(None),
        Some(_) => Err(()),
    }
}

/// Parses the hunk whose header is at `start`; returns it and the index after it.
fn parse_hunk<'a>(lines: &Lines<'a>, start: usize) -> Result<(Hunk<'a>, usize), PatchError> {
    let header_line = start + 1;
    let header = parse_hunk_header(lines.get(start).unwrap_or_default())
        .ok_or_else(|| lines.malformed(start, "malformed hunk header"))?;
    if header.old_count > 0 && header.old_start == 0 {
        return Err(lines.malformed(start, "malformed hunk header (old range starts at line 0)"));
    }
    let mut hunk = Hunk {
        line: header_line,
        header: header.text,
        old_start: header.old_start,
        new_start: header.new_start,
        lines: Vec::with_capacity(header.old_count + header.new_count),
        old_no_eol: false,
        new_no_eol: false,
    };
    let (mut old_left, mut new_left) = (header.old_count, header.new_count);
    let mut i = start + 1;
    while old_left > 0 || new_left > 0 {
        let Some(line) = lines.get(i) else {
            return Err(lines.malformed(
                lines.len().saturating_sub(1),
                format!(
                    "patch ends in the middle of the hunk starting at line {header_line} \
                     ({old_left} old and {new_left} new line(s) missing)"
                ),
            ));
        };
        let unexpected = || {
            lines.malformed(
                i,
                format!(
                    "unexpected line in hunk starting at line {header_line} \
                     ({old_left} old and {new_left} new line(s) still expected)"
                ),
            )
        };
        let Some((kind, text)) = classify(line).map_err(|()| unexpected())? else {
            mark_no_eol(&mut hunk, lines, i)?;
            i += 1;
            continue;
        };
        let fits = match kind {
            LineKind::Context => old_left > 0 && new_left > 0,
            LineKind::Removed => old_left > 0,
            LineKind::Added => new_left > 0,
        };
        if !fits {
            return Err(lines.malformed(
                i,
                format!("hunk starting at line {header_line} has more lines than its header says"),
            ));
        }
        if kind != LineKind::Added {
            old_left -= 1;
        }
        if kind != LineKind::Removed {
            new_left -= 1;
        }
        hunk.lines.push(HunkLine { kind, text });
        i += 1;
    }
    // A no-newline marker may follow the last line of the hunk.
    if lines.get(i).is_some_and(|l| l.starts_with(b"\\")) {
        mark_no_eol(&mut hunk, lines, i)?;
        i += 1;
    }
    Ok((hunk, i))
}

/// Applies a `\ No newline at end of file` marker at `index` to the line before it.
fn mark_no_eol(hunk: &mut Hunk<'_>, lines: &Lines<'_>, index: usize) -> Result<(), PatchError> {
    match hunk.lines.last().map(|l| l.kind) {
        Some(LineKind::Context) => {
            hunk.old_no_eol = true;
            hunk.new_no_eol = true;
        }
        Some(LineKind::Removed) => hunk.old_no_eol = true,
        Some(LineKind::Added) => hunk.new_no_eol = true,
        None => {
            return Err(lines.malformed(
                index,
                "'\\ No newline at end of file' marker without a preceding line",
            ))
        }
    }
    Ok(())
}
