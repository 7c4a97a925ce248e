//! Applying unified diffs, atomically.
//!
//! [`apply_patch`] parses a unified diff (as produced by `diff -u`, `diff -ruN`,
//! `git diff` or `git format-patch`), applies every hunk of every file in
//! memory and only then writes the results to disk. If any hunk of any file
//! fails to apply, no file is touched.
//!
//! Matching is exact (no fuzz): a hunk's context and removed lines must appear
//! verbatim in the file. The hunk is tried at the line its header states
//! (adjusted by the offset of the previous hunk of the same file) and then at
//! increasing distances before and after it; any offset used is reported in
//! [`PatchSummary::offsets`].

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Everything that can go wrong while applying a patch.
///
/// Every variant names the patch (`patch`, as passed to [`apply_patch`]).
/// File paths are relative to the directory the patch is applied in, after
/// stripping, with `/` separators.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The patch text contains no `---`/`+++` file sections at all.
    #[error("patch {patch}: no diffs found (is it a unified diff?)")]
    NoDiffs { patch: String },

    /// The patch text is not a well-formed unified diff.
    #[error("patch {patch}, line {line}: {message}")]
    Malformed {
        patch: String,
        /// 1-based line number in the patch text.
        line: usize,
        message: String,
    },

    /// A file name has fewer leading components than the strip level removes.
    #[error(
        "patch {patch}, line {line}: cannot strip {strip} leading path component(s) from {name} (is -p{strip} right?)"
    )]
    BadStrip {
        patch: String,
        line: usize,
        name: String,
        strip: usize,
    },

    /// After stripping, a path is absolute, empty or contains `..`.
    #[error("patch {patch}, line {line}: refusing to patch unsafe path {path}")]
    UnsafePath {
        patch: String,
        line: usize,
        path: String,
    },

    /// The file to patch (or delete) does not exist.
    #[error("patch {patch}: {path} does not exist (strip level {strip}; is -p{strip} right?)")]
    Missing {
        patch: String,
        path: String,
        strip: usize,
    },

    /// The patch creates a file that already exists.
    #[error("patch {patch}: cannot create {path}: it already exists (already applied?)")]
    AlreadyExists { patch: String, path: String },

    /// The path to patch exists but is a directory, symlink or other non-regular file.
    #[error("patch {patch}: {path} is not a regular file")]
    NotRegularFile { patch: String, path: String },

    /// A hunk's context/removed lines were not found in the file.
    #[error("patch {patch}: hunk #{hunk} ({header}) of {path} does not apply")]
    HunkFailed {
        patch: String,
        path: String,
        /// 1-based index of the hunk within this file's section.
        hunk: usize,
        /// The hunk header without the section text, e.g. `@@ -10,7 +10,8 @@`.
        header: String,
        /// 1-based line number of the hunk header in the patch text.
        line: usize,
        /// The lines the hunk expected to find (context and removed lines),
        /// joined with `\n`.
        expected: String,
    },

    /// A deletion hunk applied, but the file still has content left over.
    #[error("patch {patch}: not deleting {path}: it has content the patch does not remove")]
    DeleteNotEmpty { patch: String, path: String },

    /// Reading or writing a file failed.
    #[error("patch {patch}: {}: {source}", .path.display())]
    Io {
        patch: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// What [`apply_patch`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatchSummary {
    /// Number of file sections applied.
    pub files: usize,
    /// Total number of hunks applied.
    pub hunks: usize,
    /// Hunks that applied at a different line than stated:
    /// `(path, 1-based hunk number within the file, offset in lines)`.
    pub offsets: Vec<(String, usize, isize)>,
    /// Files created by the patch.
    pub created: Vec<String>,
    /// Files deleted by the patch.
    pub deleted: Vec<String>,
}

/// Apply the unified diff `patch_text` to the tree rooted at `dir`, stripping
/// `strip` leading path components from file names (like `patch -pN`).
///
/// `patch_name` is how the patch is named in errors (usually its path).
///
/// Either every hunk of every file applies and all files are written, or an
/// error is returned and nothing on disk has changed.
pub fn apply_patch(
    patch_text: &str,
    patch_name: &str,
    dir: &Path,
    strip: usize,
) -> Result<PatchSummary, PatchError> {
    let sections = parse(patch_text, patch_name)?;
    if sections.is_empty() {
        return Err(PatchError::NoDiffs {
            patch: patch_name.to_string(),
        });
    }

    let mut tree = Tree {
        patch: patch_name,
        dir,
        entries: Vec::new(),
        index: HashMap::new(),
    };
    let mut summary = PatchSummary::default();

    for section in &sections {
        apply_section(&mut tree, section, strip, &mut summary)?;
    }

    tree.commit()?;
    summary.files = sections.len();
    Ok(summary)
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

/// One name from a `---` or `+++` header.
#[derive(Debug)]
struct HeaderName {
    name: String,
    /// The timestamp denotes the Unix epoch, which `diff -N` uses for absent files.
    epoch: bool,
}

#[derive(Debug)]
struct Section<'a> {
    /// `None` is `/dev/null`.
    old: Option<HeaderName>,
    new: Option<HeaderName>,
    /// 1-based patch line of the `---` header.
    line: usize,
    /// File mode from git's `new file mode` / `new mode` extended headers.
    mode: Option<u32>,
    hunks: Vec<Hunk<'a>>,
}

#[derive(Debug)]
struct Hunk<'a> {
    /// 1-based patch line of the `@@` header.
    line: usize,
    /// `@@ -a,b +c,d @@` as written, without section text.
    header: String,
    old_start: usize,
    old_lines: Vec<&'a str>,
    new_lines: Vec<&'a str>,
    /// The last old line has no trailing newline.
    old_no_eol: bool,
    /// The last new line has no trailing newline.
    new_no_eol: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum LineKind {
    Context,
    Removed,
    Added,
}

fn malformed(patch: &str, line: usize, message: impl Into<String>) -> PatchError {
    PatchError::Malformed {
        patch: patch.to_string(),
        line,
        message: message.into(),
    }
}

fn parse<'a>(text: &'a str, patch: &str) -> Result<Vec<Section<'a>>, PatchError> {
    let mut lines: Vec<&str> = text.split('\n').collect();
    if text.ends_with('\n') {
        lines.pop();
    }
    let n = lines.len();
    let mut sections = Vec::new();
    let mut mode: Option<u32> = None;
    let mut i = 0;

    while i < n {
        let line = lines[i];
        if let (Some(old), Some(new)) = (
            line.strip_prefix("--- "),
            lines.get(i + 1).and_then(|l| l.strip_prefix("+++ ")),
        ) {
            let header_line = i + 1;
            let old = parse_header_name(old, patch, header_line)?;
            let new = parse_header_name(new, patch, header_line + 1)?;
            if old.is_none() && new.is_none() {
                return Err(malformed(
                    patch,
                    header_line,
                    "both file names are /dev/null",
                ));
            }
            i += 2;
            let mut hunks = Vec::new();
            while i < n && lines[i].starts_with("@@ ") {
                let (hunk, next) = parse_hunk(&lines, i, patch)?;
                hunks.push(hunk);
                i = next;
            }
            if hunks.is_empty() {
                return Err(malformed(
                    patch,
                    (i + 1).min(n.max(1)),
                    "expected a hunk header (@@ -l,s +l,s @@) after the file header",
                ));
            }
            sections.push(Section {
                old,
                new,
                line: header_line,
                mode: mode.take(),
                hunks,
            });
            continue;
        }

        // Anything else is commentary; pick up git's mode headers on the way.
        let trimmed = line.trim_end_matches('\r');
        if trimmed.starts_with("diff ") {
            mode = None;
        } else if let Some(m) = trimmed
            .strip_prefix("new file mode ")
            .or_else(|| trimmed.strip_prefix("new mode "))
        {
            mode = u32::from_str_radix(m.trim(), 8).ok();
        }
        i += 1;
    }
    Ok(sections)
}

/// Parse the part of a `---`/`+++` line after the marker.
/// Returns `None` for `/dev/null`.
fn parse_header_name(
    rest: &str,
    patch: &str,
    line: usize,
) -> Result<Option<HeaderName>, PatchError> {
    let (name, timestamp) = if rest.starts_with('"') {
        let (name, after) =
            unquote(rest).ok_or_else(|| malformed(patch, line, "malformed quoted file name"))?;
        (name, after)
    } else if let Some((name, ts)) = rest.split_once('\t') {
        (name.to_string(), ts)
    } else {
        (rest.trim_end_matches(['\r', ' ']).to_string(), "")
    };
    if name.is_empty() {
        return Err(malformed(patch, line, "missing file name"));
    }
    if name == "/dev/null" {
        return Ok(None);
    }
    Ok(Some(HeaderName {
        name,
        epoch: is_epoch(timestamp),
    }))
}

/// Decode a C-style quoted name as git writes it (`"a/with\ttab"`).
/// Returns the name and whatever follows the closing quote.
fn unquote(s: &str) -> Option<(String, &str)> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let name = String::from_utf8_lossy(&out).into_owned();
                return Some((name, &s[i + 1..]));
            }
            b'\\' => {
                let c = *bytes.get(i + 1)?;
                i += 2;
                match c {
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'a' => out.push(0x07),
                    b'b' => out.push(0x08),
                    b'f' => out.push(0x0c),
                    b'v' => out.push(0x0b),
                    b'0'..=b'7' => {
                        let mut v = u32::from(c - b'0');
                        let mut digits = 1;
                        while digits < 3 {
                            match bytes.get(i) {
                                Some(&d @ b'0'..=b'7') => {
                                    v = v * 8 + u32::from(d - b'0');
                                    i += 1;
                                    digits += 1;
                                }
                                _ => break,
                            }
                        }
                        out.push(u8::try_from(v).ok()?);
                    }
                    other => out.push(other),
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    None
}

/// Whether a header timestamp denotes the Unix epoch, which `diff -N` writes
/// for files that are absent on that side.
fn is_epoch(ts: &str) -> bool {
    let ts = ts.trim();
    if ts.is_empty() {
        return false;
    }
    // Traditional `ctime` format: "Thu Jan  1 00:00:00 1970".
    let words: Vec<&str> = ts.split_whitespace().collect();
    if words.len() == 5 && words[1..] == ["Jan", "1", "00:00:00", "1970"] {
        return true;
    }
    // ISO format: "1970-01-01 00:00:00.000000000 +0000" (zone optional).
    let (Some(date), Some(time)) = (words.first(), words.get(1)) else {
        return false;
    };
    let zone = words.get(2).copied().unwrap_or("+0000");
    parse_iso_seconds(date, time, zone) == Some(0)
}

fn parse_iso_seconds(date: &str, time: &str, zone: &str) -> Option<i64> {
    let mut d = date.splitn(3, '-');
    let year: i64 = d.next()?.parse().ok()?;
    let month: i64 = d.next()?.parse().ok()?;
    let day: i64 = d.next()?.parse().ok()?;
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    if !frac.bytes().all(|b| b == b'0') {
        return None;
    }
    let mut t = hms.splitn(3, ':');
    let hour: i64 = t.next()?.parse().ok()?;
    let minute: i64 = t.next()?.parse().ok()?;
    let second: i64 = t.next()?.parse().ok()?;
    let (sign, digits) = match zone.as_bytes().first()? {
        b'+' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => return None,
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let zh: i64 = digits[..2].parse().ok()?;
    let zm: i64 = digits[2..].parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Days since 1970-01-01 in the proleptic Gregorian calendar.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - sign * (zh * 3600 + zm * 60))
}

/// Parse `a,b` or `a` from a hunk header range. The count defaults to 1.
fn parse_range(s: &str) -> Option<(usize, usize)> {
    let num = |t: &str| -> Option<usize> {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    match s.split_once(',') {
        Some((start, count)) => Some((num(start)?, num(count)?)),
        None => Some((num(s)?, 1)),
    }
}

/// Parse `@@ -a,b +c,d @@ section`. Returns (old start, old count, new count, header).
fn parse_hunk_header(line: &str) -> Option<(usize, usize, usize, String)> {
    let rest = line.strip_prefix("@@ -")?;
    let end = rest.find(" @@")?;
    let ranges = &rest[..end];
    let (old, new) = ranges.split_once(" +")?;
    let (old_start, old_count) = parse_range(old)?;
    let (_new_start, new_count) = parse_range(new)?;
    Some((
        old_start,
        old_count,
        new_count,
        format!("@@ -{old} +{new} @@"),
    ))
}

/// Parse the hunk whose header is `lines[start]`. Returns the hunk and the
/// index of the first line after it.
fn parse_hunk<'a>(
    lines: &[&'a str],
    start: usize,
    patch: &str,
) -> Result<(Hunk<'a>, usize), PatchError> {
    let header_line = start + 1;
    let (old_start, old_count, new_count, header) = parse_hunk_header(lines[start])
        .ok_or_else(|| malformed(patch, header_line, "malformed hunk header"))?;
    if old_count > 0 && old_start == 0 {
        return Err(malformed(
            patch,
            header_line,
            "malformed hunk header (old range starts at line 0)",
        ));
    }

    let mut hunk = Hunk {
        line: header_line,
        header,
        old_start,
        old_lines: Vec::with_capacity(old_count),
        new_lines: Vec::with_capacity(new_count),
        old_no_eol: false,
        new_no_eol: false,
    };
    let (mut old_left, mut new_left) = (old_count, new_count);
    let mut last: Option<LineKind> = None;
    let mut i = start + 1;

    let mark_no_eol = |hunk: &mut Hunk<'a>, last: Option<LineKind>, line: usize| match last {
        Some(LineKind::Context) => {
            hunk.old_no_eol = true;
            hunk.new_no_eol = true;
            Ok(())
        }
        Some(LineKind::Removed) => {
            hunk.old_no_eol = true;
            Ok(())
        }
        Some(LineKind::Added) => {
            hunk.new_no_eol = true;
            Ok(())
        }
        None => Err(malformed(
            patch,
            line,
            "'\\ No newline at end of file' marker without a preceding line",
        )),
    };

    while old_left > 0 || new_left > 0 {
        let Some(&line) = lines.get(i) else {
            return Err(malformed(
                patch,
                lines.len(),
                format!(
                    "patch ends in the middle of the hunk starting at line {header_line} \
                     ({old_left} old and {new_left} new line(s) missing)"
                ),
            ));
        };
        let (kind, content) = match line.as_bytes().first() {
            // Some tools emit empty context lines without the leading space.
            None => (LineKind::Context, ""),
            Some(b'\r') if line == "\r" => (LineKind::Context, line),
            Some(b' ') => (LineKind::Context, &line[1..]),
            Some(b'-') => (LineKind::Removed, &line[1..]),
            Some(b'+') => (LineKind::Added, &line[1..]),
            Some(b'\\') => {
                mark_no_eol(&mut hunk, last, i + 1)?;
                i += 1;
                continue;
            }
            Some(_) => {
                return Err(malformed(
                    patch,
                    i + 1,
                    format!(
                        "unexpected line in hunk starting at line {header_line} \
                         ({old_left} old and {new_left} new line(s) still expected)"
                    ),
                ));
            }
        };
        let fits = match kind {
            LineKind::Context => old_left > 0 && new_left > 0,
            LineKind::Removed => old_left > 0,
            LineKind::Added => new_left > 0,
        };
        if !fits {
            return Err(malformed(
                patch,
                i + 1,
                format!("hunk starting at line {header_line} has more lines than its header says"),
            ));
        }
        if kind != LineKind::Added {
            hunk.old_lines.push(content);
            old_left -= 1;
        }
        if kind != LineKind::Removed {
            hunk.new_lines.push(content);
            new_left -= 1;
        }
        last = Some(kind);
        i += 1;
    }
    // A no-newline marker may follow the last line of the hunk.
    if lines.get(i).is_some_and(|l| l.starts_with('\\')) {
        mark_no_eol(&mut hunk, last, i + 1)?;
        i += 1;
    }
    Ok((hunk, i))
}

// ---------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------

/// Remove `strip` leading components like `patch -pN` (runs of `/` count as one separator).
fn strip_components(name: &str, strip: usize) -> Option<&str> {
    let mut s = name;
    for _ in 0..strip {
        let idx = s.find('/')?;
        s = s[idx..].trim_start_matches('/');
    }
    Some(s)
}

/// Normalise a stripped path; `None` if it is absolute, empty or has `..`.
fn safe_relative(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return None;
    }
    let mut parts = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => return None,
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(parts.join("/"))
}

fn resolve_name(name: &str, strip: usize, patch: &str, line: usize) -> Result<String, PatchError> {
    let stripped = strip_components(name, strip).ok_or_else(|| PatchError::BadStrip {
        patch: patch.to_string(),
        line,
        name: name.to_string(),
        strip,
    })?;
    safe_relative(stripped).ok_or_else(|| PatchError::UnsafePath {
        patch: patch.to_string(),
        line,
        path: stripped.to_string(),
    })
}

// ---------------------------------------------------------------------------
// Applying
// ---------------------------------------------------------------------------

/// A file's content split into lines (without their `\n`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Content {
    lines: Vec<Vec<u8>>,
    /// Whether the last line is terminated by `\n`.
    eol: bool,
}

impl Content {
    fn empty() -> Self {
        Content {
            lines: Vec::new(),
            eol: true,
        }
    }

    fn from_bytes(bytes: &[u8]) -> Self {
        let mut lines: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
        // `split` always yields a final piece: empty iff the data ends in `\n` (or is empty).
        let eol = lines.last().is_some_and(Vec::is_empty);
        if eol {
            lines.pop();
        }
        Content { lines, eol }
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.lines.iter().map(|l| l.len() + 1).sum());
        for (i, line) in self.lines.iter().enumerate() {
            if i > 0 {
                out.push(b'\n');
            }
            out.extend_from_slice(line);
        }
        if self.eol && !self.lines.is_empty() {
            out.push(b'\n');
        }
        out
    }
}

/// One file the patch reads or writes, as it will be after the patch.
struct Entry {
    path: PathBuf,
    /// Permissions of the file on disk before patching (`None` if it did not exist).
    original: Option<fs::Permissions>,
    /// Current content; `None` if the file does not (or no longer) exist.
    content: Option<Content>,
    /// Mode requested by a git extended header.
    mode: Option<u32>,
    /// Whether the patch changes this file (as opposed to just looking at it).
    touched: bool,
}

struct Tree<'p> {
    patch: &'p str,
    dir: &'p Path,
    entries: Vec<Entry>,
    index: HashMap<String, usize>,
}

impl Tree<'_> {
    fn io_err(&self, path: &Path, source: io::Error) -> PatchError {
        PatchError::Io {
            patch: self.patch.to_string(),
            path: path.to_path_buf(),
            source,
        }
    }

    /// Look up (loading from disk on first use) the entry for `rel`.
    fn entry(&mut self, rel: &str) -> Result<usize, PatchError> {
        if let Some(&i) = self.index.get(rel) {
            return Ok(i);
        }
        let path = self.dir.join(rel);
        let (original, content) = match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => {
                let bytes = fs::read(&path).map_err(|e| self.io_err(&path, e))?;
                (Some(meta.permissions()), Some(Content::from_bytes(&bytes)))
            }
            Ok(_) => {
                return Err(PatchError::NotRegularFile {
                    patch: self.patch.to_string(),
                    path: rel.to_string(),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => (None, None),
            // A path component that is a file also means "absent".
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => (None, None),
            Err(e) => return Err(self.io_err(&path, e)),
        };
        let i = self.entries.len();
        self.entries.push(Entry {
            path,
            original,
            content,
            mode: None,
            touched: false,
        });
        self.index.insert(rel.to_string(), i);
        Ok(i)
    }

    fn exists(&mut self, rel: &str) -> Result<bool, PatchError> {
        let i = self.entry(rel)?;
        Ok(self.entries[i].content.is_some())
    }

    /// Write every touched entry: first all new contents to temporary files
    /// (undoing everything if any of that fails), then rename them into
    /// place and remove deleted files.
    fn commit(&self) -> Result<(), PatchError> {
        let mut staged: Vec<(PathBuf, &Path)> = Vec::new();
        let mut created_dirs: Vec<PathBuf> = Vec::new();

        let result = self.stage(&mut staged, &mut created_dirs);
        if let Err(e) = result {
            for (tmp, _) in &staged {
                let _ = fs::remove_file(tmp);
            }
            for d in created_dirs.iter().rev() {
                let _ = fs::remove_dir(d);
            }
            return Err(e);
        }

        for (n, (tmp, target)) in staged.iter().enumerate() {
            if let Err(e) = fs::rename(tmp, target) {
                for (tmp, _) in &staged[n..] {
                    let _ = fs::remove_file(tmp);
                }
                return Err(self.io_err(target, e));
            }
        }

        for entry in &self.entries {
            if entry.touched && entry.content.is_none() && entry.original.is_some() {
                match fs::remove_file(&entry.path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(self.io_err(&entry.path, e)),
                }
                self.prune_empty_parents(&entry.path);
            }
        }
        Ok(())
    }

    fn stage<'e>(
        &'e self,
        staged: &mut Vec<(PathBuf, &'e Path)>,
        created_dirs: &mut Vec<PathBuf>,
    ) -> Result<(), PatchError> {
        for entry in &self.entries {
            let Some(content) = entry.content.as_ref().filter(|_| entry.touched) else {
                continue;
            };
            let parent = entry.path.parent().unwrap_or(self.dir);
            if entry.original.is_none() {
                create_dirs(parent, created_dirs).map_err(|e| self.io_err(parent, e))?;
            }
            let tmp = write_temp(parent, &entry.path, &content.to_bytes(), staged)
                .map_err(|e| self.io_err(&entry.path, e))?;
            let perms = entry
                .mode
                .and_then(perms_from_mode)
                .or_else(|| entry.original.clone());
            if let Some(perms) = perms {
                fs::set_permissions(&tmp, perms).map_err(|e| self.io_err(&tmp, e))?;
            }
        }
        Ok(())
    }

    /// After deleting a file, remove directories it leaves empty (like GNU patch),
    /// never going above the patch root.
    fn prune_empty_parents(&self, path: &Path) {
        let mut cur = path.parent();
        while let Some(d) = cur {
            if d == self.dir || !d.starts_with(self.dir) || fs::remove_dir(d).is_err() {
                break;
            }
            cur = d.parent();
        }
    }
}

/// Create `dir` and its missing ancestors, recording each one created.
fn create_dirs(dir: &Path, created: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if d.as_os_str().is_empty() || d.exists() {
            break;
        }
        missing.push(d.to_path_buf());
        cur = d.parent();
    }
    for d in missing.into_iter().rev() {
        match fs::create_dir(&d) {
            Ok(()) => created.push(d),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && d.is_dir() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

static TEMP_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Write `data` to a fresh temporary file next to `target` and record it in `staged`.
fn write_temp<'e>(
    parent: &Path,
    target: &'e Path,
    data: &[u8],
    staged: &mut Vec<(PathBuf, &'e Path)>,
) -> io::Result<PathBuf> {
    let base = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    loop {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = parent.join(format!(".{base}.serpent-patch.{}.{n}", std::process::id()));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(mut f) => {
                staged.push((tmp.clone(), target));
                f.write_all(data)?;
                f.flush()?;
                return Ok(tmp);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Permissions for a git mode such as `100755`.
#[cfg(unix)]
fn perms_from_mode(mode: u32) -> Option<fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(fs::Permissions::from_mode(mode & 0o7777))
}

#[cfg(not(unix))]
fn perms_from_mode(_mode: u32) -> Option<fs::Permissions> {
    None
}

fn apply_section(
    tree: &mut Tree<'_>,
    section: &Section<'_>,
    strip: usize,
    summary: &mut PatchSummary,
) -> Result<(), PatchError> {
    let patch = tree.patch;
    let old_line = section.line;
    let new_line = section.line + 1;

    let creating = match &section.old {
        None => true,
        Some(old) => old.epoch && section.hunks.iter().all(|h| h.old_lines.is_empty()),
    };
    let deleting = match &section.new {
        None => true,
        Some(new) => new.epoch && section.hunks.iter().all(|h| h.new_lines.is_empty()),
    };

    let rel = match (&section.old, &section.new) {
        (_, Some(new)) => {
            let rel = resolve_name(&new.name, strip, patch, new_line)?;
            // Like GNU patch, fall back to the old name if only that one exists
            // (e.g. `diff -u foo.c.orig foo.c`).
            if !creating && !tree.exists(&rel)? {
                match &section.old {
                    Some(old) => match resolve_name(&old.name, strip, patch, old_line) {
                        Ok(old_rel) if tree.exists(&old_rel)? => old_rel,
                        _ => rel,
                    },
                    None => rel,
                }
            } else {
                rel
            }
        }
        (Some(old), None) => resolve_name(&old.name, strip, patch, old_line)?,
        (None, None) => unreachable!("rejected by the parser"),
    };

    let idx = tree.entry(&rel)?;
    let current = match (&tree.entries[idx].content, creating) {
        (Some(_), true) => {
            return Err(PatchError::AlreadyExists {
                patch: patch.to_string(),
                path: rel,
            });
        }
        (None, true) => Content::empty(),
        (Some(c), false) => c.clone(),
        (None, false) => {
            return Err(PatchError::Missing {
                patch: patch.to_string(),
                path: rel,
                strip,
            });
        }
    };

    let (result, offsets) = apply_hunks(&current, &section.hunks).map_err(|k| {
        let hunk = &section.hunks[k];
        PatchError::HunkFailed {
            patch: patch.to_string(),
            path: rel.clone(),
            hunk: k + 1,
            header: hunk.header.clone(),
            line: hunk.line,
            expected: hunk.old_lines.join("\n"),
        }
    })?;

    if deleting && !result.lines.is_empty() {
        return Err(PatchError::DeleteNotEmpty {
            patch: patch.to_string(),
            path: rel,
        });
    }

    let entry = &mut tree.entries[idx];
    let existed_before = entry.content.is_some();
    entry.touched = true;
    if deleting {
        entry.content = None;
        summary.deleted.push(rel.clone());
    } else {
        entry.content = Some(result);
        if section.mode.is_some() {
            entry.mode = section.mode;
        }
        if !existed_before {
            summary.created.push(rel.clone());
        }
    }
    summary.hunks += section.hunks.len();
    summary.offsets.extend(
        offsets
            .into_iter()
            .map(|(k, off)| (rel.clone(), k + 1, off)),
    );
    Ok(())
}

/// Apply `hunks` in order to `content`. On failure returns the index of the
/// failing hunk. On success also returns `(hunk index, offset)` for every hunk
/// that applied away from its stated line.
fn apply_hunks(
    content: &Content,
    hunks: &[Hunk<'_>],
) -> Result<(Content, Vec<(usize, isize)>), usize> {
    let old = &content.lines;
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(old.len());
    let mut eol = content.eol;
    let mut cursor = 0usize;
    let mut last_offset = 0isize;
    let mut offsets = Vec::new();

    for (k, hunk) in hunks.iter().enumerate() {
        // For an empty old range, the header names the line *after which* to insert.
        let stated = if hunk.old_lines.is_empty() {
            hunk.old_start
        } else {
            hunk.old_start - 1
        };
        let stated = isize::try_from(stated).map_err(|_| k)?;
        let at_eof = hunk.old_no_eol || hunk.new_no_eol;
        let pos = locate(old, &hunk.old_lines, stated + last_offset, cursor, at_eof).ok_or(k)?;

        out.extend(old[cursor..pos].iter().cloned());
        out.extend(hunk.new_lines.iter().map(|l| l.as_bytes().to_vec()));
        cursor = pos + hunk.old_lines.len();
        if cursor == old.len() {
            if hunk.new_no_eol {
                eol = false;
            } else if hunk.old_no_eol {
                eol = true;
            }
        }

        // `pos` fits in isize: it indexes a Vec.
        let offset = pos as isize - stated;
        last_offset = offset;
        if offset != 0 {
            offsets.push((k, offset));
        }
    }
    out.extend(old[cursor..].iter().cloned());
    Ok((Content { lines: out, eol }, offsets))
}

/// Find where `pattern` occurs exactly in `lines`, at or after `min`, as
/// close as possible to `expected` (trying before, then after, at each
/// distance). With `at_eof` the match must end at the last line.
fn locate(
    lines: &[Vec<u8>],
    pattern: &[&str],
    expected: isize,
    min: usize,
    at_eof: bool,
) -> Option<usize> {
    let len = lines.len();
    let plen = pattern.len();
    if plen > len {
        return None;
    }
    let max = len - plen;
    if min > max {
        return None;
    }
    let matches = |p: usize| {
        lines[p..p + plen]
            .iter()
            .zip(pattern)
            .all(|(have, want)| have.as_slice() == want.as_bytes())
    };
    if at_eof {
        return matches(max).then_some(max);
    }
    if plen == 0 {
        // Pure insertion without context: only the stated position makes sense.
        let p = usize::try_from(expected).ok()?;
        return (min..=max).contains(&p).then_some(p);
    }
    let start = usize::try_from(expected.max(0)).ok()?.clamp(min, max);
    if matches(start) {
        return Some(start);
    }
    let mut d = 1;
    loop {
        let before = start.checked_sub(d).filter(|&p| p >= min);
        let after = start.checked_add(d).filter(|&p| p <= max);
        if before.is_none() && after.is_none() {
            return None;
        }
        if let Some(p) = before.filter(|&p| matches(p)) {
            return Some(p);
        }
        if let Some(p) = after.filter(|&p| matches(p)) {
            return Some(p);
        }
        d += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, content) in files {
            let p = dir.path().join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, content).unwrap();
        }
        dir
    }

    fn read(dir: &tempfile::TempDir, path: &str) -> String {
        fs::read_to_string(dir.path().join(path)).unwrap()
    }

    /// Names of all entries under `dir`, to check no temp files are left behind.
    fn listing(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().unwrap().is_dir() {
                for sub in listing(&e.path()) {
                    out.push(format!("{name}/{sub}"));
                }
            } else {
                out.push(name);
            }
        }
        out.sort();
        out
    }

    const FOO: &str = "one\ntwo\nthree\nfour\nfive\nsix\nseven\n";
    const BAR: &str = "alpha\nbeta\ngamma\n";

    const GIT_PATCH: &str = "\
From 1234567890abcdef Mon Sep 17 00:00:00 2001
From: Some One <someone@example.com>
Date: Tue, 1 Apr 2025 12:00:00 +0000
Subject: [PATCH] fix things

This changes --- things.
---
 src/foo.c | 3 ++-
 bar.h     | 2 +-
 2 files changed, 3 insertions(+), 2 deletions(-)

diff --git a/src/foo.c b/src/foo.c
index 1111111..2222222 100644
--- a/src/foo.c
+++ b/src/foo.c
@@ -2,3 +2,4 @@ int main(void)
 two
-three
+THREE
+three and a half
 four
Only in b/: generated.txt
diff --git a/bar.h b/bar.h
index 3333333..4444444 100644
--- a/bar.h
+++ b/bar.h
@@ -1,3 +1,3 @@
 alpha
-beta
+BETA
 gamma
-- 
2.40.0
";

    #[test]
    fn multi_file_git_patch() {
        let dir = tree(&[("src/foo.c", FOO), ("bar.h", BAR)]);
        let s = apply_patch(GIT_PATCH, "fix.patch", dir.path(), 1).unwrap();
        assert_eq!(s.files, 2);
        assert_eq!(s.hunks, 2);
        assert!(s.offsets.is_empty());
        assert_eq!(
            read(&dir, "src/foo.c"),
            "one\ntwo\nTHREE\nthree and a half\nfour\nfive\nsix\nseven\n"
        );
        assert_eq!(read(&dir, "bar.h"), "alpha\nBETA\ngamma\n");
        assert_eq!(listing(dir.path()), ["bar.h", "src/foo.c"]);
    }

    #[test]
    fn strip_levels() {
        let p0 = "--- bar.h\n+++ bar.h\n@@ -2 +2 @@\n-beta\n+BETA\n";
        let dir = tree(&[("bar.h", BAR)]);
        apply_patch(p0, "p0.patch", dir.path(), 0).unwrap();
        assert_eq!(read(&dir, "bar.h"), "alpha\nBETA\ngamma\n");

        // With -p1 "bar.h" has no component to strip.
        let dir = tree(&[("bar.h", BAR)]);
        let err = apply_patch(p0, "p0.patch", dir.path(), 1).unwrap_err();
        assert!(
            matches!(
                err,
                PatchError::BadStrip {
                    strip: 1,
                    line: 2,
                    ..
                }
            ),
            "{err:?}"
        );

        // A -p1 patch applied with -p0 looks for b/bar.h.
        let dir = tree(&[("bar.h", BAR)]);
        let p1 = "--- a/bar.h\n+++ b/bar.h\n@@ -2 +2 @@\n-beta\n+BETA\n";
        let err = apply_patch(p1, "p1.patch", dir.path(), 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "patch p1.patch: b/bar.h does not exist (strip level 0; is -p0 right?)"
        );
        apply_patch(p1, "p1.patch", dir.path(), 1).unwrap();
        assert_eq!(read(&dir, "bar.h"), "alpha\nBETA\ngamma\n");

        // -p2 on a deeper path; repeated slashes count as one separator.
        let dir = tree(&[("src/bar.h", BAR)]);
        let p2 = "--- x//y/src/bar.h\n+++ x//y/src/bar.h\n@@ -2 +2 @@\n-beta\n+BETA\n";
        apply_patch(p2, "p2.patch", dir.path(), 2).unwrap();
        assert_eq!(read(&dir, "src/bar.h"), "alpha\nBETA\ngamma\n");
    }

    #[test]
    fn offsets_are_found_and_reported() {
        // Three lines were inserted at the top since the patch was made.
        let shifted = format!("x\ny\nz\n{FOO}");
        let dir = tree(&[("src/foo.c", &shifted)]);
        let patch = "\
--- a/src/foo.c
+++ b/src/foo.c
@@ -2,3 +2,3 @@
 two
-three
+THREE
 four
@@ -5,3 +5,3 @@
 five
-six
+SIX
 seven
";
        let s = apply_patch(patch, "off.patch", dir.path(), 1).unwrap();
        assert_eq!(
            s.offsets,
            [
                ("src/foo.c".to_string(), 1, 3),
                ("src/foo.c".to_string(), 2, 3)
            ]
        );
        assert_eq!(
            read(&dir, "src/foo.c"),
            "x\ny\nz\none\ntwo\nTHREE\nfour\nfive\nSIX\nseven\n"
        );

        // Negative offset: lines were removed before the hunk.
        let dir = tree(&[("src/foo.c", "three\nfour\nfive\nsix\nseven\n")]);
        let s = apply_patch(patch, "off.patch", dir.path(), 1).unwrap_err();
        // The first hunk needs "two", which is gone.
        assert!(matches!(s, PatchError::HunkFailed { hunk: 1, .. }));
        let only_second = "--- a/f\n+++ b/f\n@@ -5,3 +5,3 @@\n five\n-six\n+SIX\n seven\n";
        let dir = tree(&[("f", "three\nfour\nfive\nsix\nseven\n")]);
        let s = apply_patch(only_second, "off.patch", dir.path(), 1).unwrap();
        assert_eq!(s.offsets, [("f".to_string(), 1, -2)]);
        assert_eq!(read(&dir, "f"), "three\nfour\nfive\nSIX\nseven\n");
    }

    #[test]
    fn nearest_match_wins_and_hunks_do_not_go_backwards() {
        // "a" then "b" occurs at lines 1, 5 and 9; stated at line 6 -> nearest is 5.
        let content = "a\nb\nc\nd\na\nb\nc\nd\na\nb\n";
        let dir = tree(&[("f", content)]);
        let patch = "--- a/f\n+++ b/f\n@@ -6,2 +6,2 @@\n a\n-b\n+B\n";
        let s = apply_patch(patch, "n.patch", dir.path(), 1).unwrap();
        assert_eq!(s.offsets, [("f".to_string(), 1, -1)]);
        assert_eq!(read(&dir, "f"), "a\nb\nc\nd\na\nB\nc\nd\na\nb\n");

        // Second hunk's only match lies before the first hunk: must fail.
        let dir = tree(&[("f", "p\nq\nr\ns\n")]);
        let patch = "--- a/f\n+++ b/f\n@@ -3 +3 @@\n-r\n+R\n@@ -4 +4 @@\n-p\n+P\n";
        let err = apply_patch(patch, "back.patch", dir.path(), 1).unwrap_err();
        assert!(
            matches!(err, PatchError::HunkFailed { hunk: 2, .. }),
            "{err:?}"
        );
        assert_eq!(read(&dir, "f"), "p\nq\nr\ns\n");
    }

    #[test]
    fn failing_second_file_changes_nothing() {
        let dir = tree(&[
            ("src/foo.c", FOO),
            ("bar.h", "alpha\nbeta (changed)\ngamma\n"),
        ]);
        let err = apply_patch(GIT_PATCH, "fix.patch", dir.path(), 1).unwrap_err();
        assert!(matches!(err, PatchError::HunkFailed { ref path, .. } if path == "bar.h"));
        assert_eq!(read(&dir, "src/foo.c"), FOO);
        assert_eq!(read(&dir, "bar.h"), "alpha\nbeta (changed)\ngamma\n");
        assert_eq!(listing(dir.path()), ["bar.h", "src/foo.c"]);

        // Same when the second file is missing, and a file the patch creates is not created.
        let dir = tree(&[("src/foo.c", FOO)]);
        let patch = format!(
            "--- /dev/null\n+++ b/new/file.txt\n@@ -0,0 +1 @@\n+hello\n{}",
            &GIT_PATCH[GIT_PATCH.find("diff --git").unwrap()..]
        );
        let err = apply_patch(&patch, "fix.patch", dir.path(), 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "patch fix.patch: bar.h does not exist (strip level 1; is -p1 right?)"
        );
        assert_eq!(read(&dir, "src/foo.c"), FOO);
        assert_eq!(listing(dir.path()), ["src/foo.c"]);
    }

    #[test]
    fn hunk_failure_message() {
        let dir = tree(&[("src/foo.c", FOO)]);
        let patch = "\
--- a/src/foo.c
+++ b/src/foo.c
@@ -1,2 +1,2 @@ first
-one
+ONE
 two
@@ -5,3 +5,3 @@ second
 five
-SIX
+6
 seven
";
        let err = apply_patch(patch, "fix-foo.patch", dir.path(), 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "patch fix-foo.patch: hunk #2 (@@ -5,3 +5,3 @@) of src/foo.c does not apply"
        );
        match err {
            PatchError::HunkFailed {
                hunk,
                line,
                expected,
                ..
            } => {
                assert_eq!(hunk, 2);
                assert_eq!(line, 7);
                assert_eq!(expected, "five\nSIX\nseven");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(read(&dir, "src/foo.c"), FOO);
    }

    #[test]
    fn git_creation_and_deletion() {
        let dir = tree(&[("old.txt", "bye\nnow\n"), ("keep", "k\n")]);
        let patch = "\
diff --git a/dir/new.sh b/dir/new.sh
new file mode 100755
index 0000000..1111111
--- /dev/null
+++ b/dir/new.sh
@@ -0,0 +1,2 @@
+#!/bin/sh
+echo hi
diff --git a/old.txt b/old.txt
deleted file mode 100644
index 2222222..0000000
--- a/old.txt
+++ /dev/null
@@ -1,2 +0,0 @@
-bye
-now
";
        let s = apply_patch(patch, "cd.patch", dir.path(), 1).unwrap();
        assert_eq!(s.created, ["dir/new.sh"]);
        assert_eq!(s.deleted, ["old.txt"]);
        assert_eq!(read(&dir, "dir/new.sh"), "#!/bin/sh\necho hi\n");
        assert!(!dir.path().join("old.txt").exists());
        assert_eq!(listing(dir.path()), ["dir/new.sh", "keep"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("dir/new.sh"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o755);
        }

        // Applying again: the file to create exists (and nothing changes).
        let err = apply_patch(patch, "cd.patch", dir.path(), 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "patch cd.patch: cannot create dir/new.sh: it already exists (already applied?)"
        );
    }

    #[test]
    fn diff_n_style_creation_and_deletion() {
        // `diff -ruN` marks absent files with an epoch timestamp instead of /dev/null.
        let dir = tree(&[("gone/old.txt", "bye\n"), ("keep", "k\n")]);
        let patch = "\
diff -ruN a/gone/old.txt b/gone/old.txt
--- a/gone/old.txt\t2024-05-01 10:00:00.000000000 +0200
+++ b/gone/old.txt\t1970-01-01 01:00:00.000000000 +0100
@@ -1 +0,0 @@
-bye
diff -ruN a/new.txt b/new.txt
--- a/new.txt\t1969-12-31 19:00:00.000000000 -0500
+++ b/new.txt\t2024-05-01 10:00:00.123456789 +0200
@@ -0,0 +1 @@
+hello
";
        let s = apply_patch(patch, "n.patch", dir.path(), 1).unwrap();
        assert_eq!(s.deleted, ["gone/old.txt"]);
        assert_eq!(s.created, ["new.txt"]);
        assert_eq!(listing(dir.path()), ["keep", "new.txt"]);
        assert!(
            !dir.path().join("gone").exists(),
            "emptied directory is removed"
        );

        // A real (non-epoch) timestamp on an emptied file keeps it, empty.
        let dir = tree(&[("f", "x\n")]);
        let patch = "--- a/f\t2024-05-01 10:00:00 +0000\n+++ b/f\t2024-05-01 11:00:00 +0000\n@@ -1 +0,0 @@\n-x\n";
        apply_patch(patch, "e.patch", dir.path(), 1).unwrap();
        assert_eq!(read(&dir, "f"), "");

        // Deleting a file that has more content than the patch removes fails.
        let dir = tree(&[("f", "x\ny\n")]);
        let patch = "--- a/f\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n";
        let err = apply_patch(patch, "d.patch", dir.path(), 1).unwrap_err();
        assert!(matches!(err, PatchError::DeleteNotEmpty { .. }), "{err:?}");
        assert_eq!(read(&dir, "f"), "x\ny\n");
    }

    #[test]
    fn no_newline_at_eof() {
        // Remove the trailing newline.
        let dir = tree(&[("f", "a\nb\n")]);
        let patch = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n+b\n\\ No newline at end of file\n";
        apply_patch(patch, "p", dir.path(), 1).unwrap();
        assert_eq!(read(&dir, "f"), "a\nb");

        // Add it back.
        let patch = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n";
        apply_patch(patch, "p", dir.path(), 1).unwrap();
        assert_eq!(read(&dir, "f"), "a\nb\n");

        // Change the last line of a file that has no trailing newline on either side.
        let dir = tree(&[("f", "a\nb")]);
        let patch = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n";
        apply_patch(patch, "p", dir.path(), 1).unwrap();
        assert_eq!(read(&dir, "f"), "a\nc");

        // Context line without newline (both sides), change earlier in the file.
        let dir = tree(&[("f", "a\nb")]);
        let patch = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n-a\n+A\n b\n\\ No newline at end of file\n";
        apply_patch(patch, "p", dir.path(), 1).unwrap();
        assert_eq!(read(&dir, "f"), "A\nb");

        // A file without trailing newline, patched away from the end, keeps that.
        let dir = tree(&[("f", "a\nb\nc\nd\ne")]);
        let patch = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n-a\n+A\n b\n";
        apply_patch(patch, "p", dir.path(), 1).unwrap();
        assert_eq!(read(&dir, "f"), "A\nb\nc\nd\ne");

        // Creating a file without trailing newline.
        let dir = tree(&[]);
        let patch =
            "--- /dev/null\n+++ b/n\n@@ -0,0 +1,2 @@\n+x\n+y\n\\ No newline at end of file\n";
        apply_patch(patch, "p", dir.path(), 1).unwrap();
        assert_eq!(read(&dir, "n"), "x\ny");

        // A no-newline hunk must match at the end of the file.
        let dir = tree(&[("f", "a\nb\na\nb\nc\n")]);
        let patch = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n+B\n\\ No newline at end of file\n";
        assert!(apply_patch(patch, "p", dir.path(), 1).is_err());
    }

    #[test]
    fn malformed_patches_report_line_numbers() {
        let dir = tree(&[("bar.h", BAR)]);
        let patch = "junk\n--- a/bar.h\n+++ b/bar.h\n@@ -1,3 +1,3 @@\n alpha\n-beta\n+BETA\n gamma\n@@ -x +1 @@\n";
        let err = apply_patch(patch, "bad.patch", dir.path(), 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "patch bad.patch, line 9: malformed hunk header"
        );

        let patch = "--- a/bar.h\n+++ b/bar.h\n@@ -1,3 +1,3 @@\n alpha\n*beta\n";
        let err = apply_patch(patch, "bad.patch", dir.path(), 1).unwrap_err();
        assert!(
            matches!(err, PatchError::Malformed { line: 5, .. }),
            "{err:?}"
        );

        let patch = "--- a/bar.h\n+++ b/bar.h\n@@ -1,3 +1,3 @@\n alpha\n-beta\n";
        let err = apply_patch(patch, "bad.patch", dir.path(), 1).unwrap_err();
        assert!(
            matches!(err, PatchError::Malformed { line: 5, .. }),
            "{err:?}"
        );

        let patch = "--- a/bar.h\n+++ b/bar.h\nnot a hunk\n";
        let err = apply_patch(patch, "bad.patch", dir.path(), 1).unwrap_err();
        assert!(
            matches!(err, PatchError::Malformed { line: 3, .. }),
            "{err:?}"
        );

        let err = apply_patch("just some text\n", "empty.patch", dir.path(), 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "patch empty.patch: no diffs found (is it a unified diff?)"
        );
        assert_eq!(read(&dir, "bar.h"), BAR);
    }

    #[test]
    fn unsafe_paths_are_refused() {
        let dir = tree(&[]);
        for name in ["a/../../etc/passwd", "/etc/passwd", "a/"] {
            let patch = format!("--- /dev/null\n+++ {name}\n@@ -0,0 +1 @@\n+x\n");
            let strip = usize::from(!name.starts_with('/'));
            let err = apply_patch(&patch, "evil.patch", dir.path(), strip).unwrap_err();
            assert!(
                matches!(err, PatchError::UnsafePath { line: 2, .. }),
                "{name}: {err:?}"
            );
        }
        assert!(listing(dir.path()).is_empty());
    }

    #[test]
    fn crlf_counts_and_empty_context_lines() {
        // CRLF content: the \r is part of each line and must match the file.
        let dir = tree(&[("w.txt", "one\r\ntwo\r\n\r\nthree\r\n")]);
        let patch = "--- a/w.txt\r\n+++ b/w.txt\r\n@@ -1,4 +1,4 @@\r\n one\r\n-two\r\n+TWO\r\n\r\n three\r\n";
        apply_patch(patch, "crlf.patch", dir.path(), 1).unwrap();
        assert_eq!(read(&dir, "w.txt"), "one\r\nTWO\r\n\r\nthree\r\n");

        // Empty context line emitted as a bare empty line; omitted counts mean 1.
        let dir = tree(&[("f", "a\n\nb\n")]);
        let patch = "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n\n-b\n+B\n";
        apply_patch(patch, "e.patch", dir.path(), 1).unwrap();
        assert_eq!(read(&dir, "f"), "a\n\nB\n");

        let patch = "--- a/f\n+++ b/f\n@@ -3 +3,2 @@\n-B\n+b\n+c\n";
        apply_patch(patch, "e.patch", dir.path(), 1).unwrap();
        assert_eq!(read(&dir, "f"), "a\n\nb\nc\n");

        // Pure insertion with no context (diff -U0).
        let patch = "--- a/f\n+++ b/f\n@@ -1,0 +2 @@\n+inserted\n";
        apply_patch(patch, "e.patch", dir.path(), 1).unwrap();
        assert_eq!(read(&dir, "f"), "a\ninserted\n\nb\nc\n");
    }

    #[test]
    fn timestamps_quoted_names_and_old_name_fallback() {
        let dir = tree(&[("my file.txt", "x\n"), ("foo.c", "old\n")]);
        let patch = "\
--- \"a/my file.txt\"
+++ \"b/my file.txt\"
@@ -1 +1 @@
-x
+y
--- foo.c\t2024-01-01 00:00:00.000000000 +0000
+++ foo.c.new\t2024-01-02 00:00:00.000000000 +0000
@@ -1 +1 @@
-old
+new
";
        let s = apply_patch(patch, "q.patch", dir.path(), 1).unwrap_err();
        // foo.c has no component to strip at -p1.
        assert!(matches!(s, PatchError::BadStrip { line: 7, .. }), "{s:?}");
        let (first, second) = patch.split_at(patch.find("--- foo.c").unwrap());
        apply_patch(first, "q.patch", dir.path(), 1).unwrap();
        assert_eq!(read(&dir, "my file.txt"), "y\n");
        apply_patch(second, "q.patch", dir.path(), 0).unwrap();
        assert_eq!(read(&dir, "foo.c"), "new\n");
        assert!(!dir.path().join("foo.c.new").exists());
    }

    #[cfg(unix)]
    #[test]
    fn permissions_are_preserved() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tree(&[("run.sh", "#!/bin/sh\necho a\n")]);
        let p = dir.path().join("run.sh");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o750)).unwrap();
        let patch = "--- a/run.sh\n+++ b/run.sh\n@@ -2 +2 @@\n-echo a\n+echo b\n";
        apply_patch(patch, "x.patch", dir.path(), 1).unwrap();
        assert_eq!(read(&dir, "run.sh"), "#!/bin/sh\necho b\n");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o750
        );
    }

    #[test]
    fn same_file_twice_and_non_utf8_content() {
        let mut content = b"caf\xe9\nline\n".to_vec();
        content.extend_from_slice(b"end\n");
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("l1"), &content).unwrap();
        let patch = "--- a/l1\n+++ b/l1\n@@ -2,2 +2,2 @@\n-line\n+LINE\n end\n--- a/l1\n+++ b/l1\n@@ -2 +2 @@\n-LINE\n+Line\n";
        let s = apply_patch(patch, "t.patch", dir.path(), 1).unwrap();
        assert_eq!(s.files, 2);
        assert_eq!(
            fs::read(dir.path().join("l1")).unwrap(),
            b"caf\xe9\nLine\nend\n"
        );
    }

    #[test]
    fn epoch_detection() {
        assert!(is_epoch("1970-01-01 00:00:00.000000000 +0000"));
        assert!(is_epoch("1970-01-01 00:00:00"));
        assert!(is_epoch("1970-01-01 09:00:00.000000000 +0900"));
        assert!(is_epoch("1969-12-31 16:00:00.000000000 -0800"));
        assert!(is_epoch("Thu Jan  1 00:00:00 1970"));
        assert!(!is_epoch("1970-01-01 00:00:01 +0000"));
        assert!(!is_epoch("2024-03-01 12:00:00.5 +0000"));
        assert!(!is_epoch(""));
    }
}
