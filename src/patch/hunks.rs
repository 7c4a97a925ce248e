//! Applying a file's hunks to its content, the way GNU patch does without fuzz: each hunk is
//! looked for at the line its header states (moved by the offset of the hunk before it), then
//! at growing distances, below the line before above it; a hunk with less leading than
//! trailing context must match at the start of the file, one with less trailing context at its
//! end. Lines are compared with their line endings.

use super::parse::{Hunk, LineKind};

/// A hunk that applied away from the line its header states, as GNU patch reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HunkOffset {
    /// 1-based hunk number within its file section.
    pub hunk: usize,
    /// The line of the patched file where the hunk's new text starts.
    pub line: isize,
    /// Lines between where the header says and where the hunk applied.
    pub offset: isize,
}

impl std::fmt::Display for HunkOffset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = if self.offset.abs() == 1 { "" } else { "s" };
        write!(
            f,
            "Hunk #{} succeeded at {} (offset {} line{plural}).",
            self.hunk, self.line, self.offset
        )
    }
}

/// A hunk that does not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HunkFailure {
    /// 0-based index of the hunk.
    pub index: usize,
    /// The line of the file where the hunk was looked for first.
    pub expected_at: isize,
    /// The file and the hunk disagree about line endings.
    pub endings: Option<Endings>,
}

/// The line endings of a file and of a hunk that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endings {
    /// The file has CRLF line endings, the hunk LF.
    CrlfFile,
    /// The file has LF line endings, the hunk CRLF.
    CrlfPatch,
}

/// How the lines of a patch are read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reading {
    AsWritten,
    /// Without a CR before each line's end, as GNU patch reads a patch whose headers end
    /// in CR.
    StripCr,
}

/// Applies `hunks` to `input`. A patch whose headers end in CR is read without its CRs first,
/// as GNU patch does, and as written if that does not apply.
pub(super) fn apply(
    input: &[u8],
    hunks: &[Hunk<'_>],
    crlf_headers: bool,
) -> Result<(Vec<u8>, Vec<HunkOffset>), HunkFailure> {
    let readings: &[Reading] = if crlf_headers {
        &[Reading::StripCr, Reading::AsWritten]
    } else {
        &[Reading::AsWritten]
    };
    let mut first_failure = None;
    for &reading in readings {
        match apply_reading(input, hunks, reading) {
            Ok(applied) => return Ok(applied),
            Err(failure) => {
                first_failure.get_or_insert(failure);
            }
        }
    }
    let mut failure = first_failure.expect("at least one reading");
    let reading = readings[0];
    failure.endings = endings_differ(input, &side(&hunks[failure.index], Side::Old, reading));
    Err(failure)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Old,
    New,
}

/// The old or new lines of a hunk, each with its line ending.
fn side(hunk: &Hunk<'_>, side: Side, reading: Reading) -> Vec<Vec<u8>> {
    let excluded = match side {
        Side::Old => LineKind::Added,
        Side::New => LineKind::Removed,
    };
    let mut lines: Vec<Vec<u8>> = hunk
        .lines
        .iter()
        .filter(|line| line.kind != excluded)
        .map(|line| {
            let text = match reading {
                Reading::StripCr => line.text.strip_suffix(b"\r").unwrap_or(line.text),
                Reading::AsWritten => line.text,
            };
            let mut bytes = text.to_vec();
            bytes.push(b'\n');
            bytes
        })
        .collect();
    let no_eol = match side {
        Side::Old => hunk.old_no_eol,
        Side::New => hunk.new_no_eol,
    };
    if let Some(last) = lines.last_mut().filter(|_| no_eol) {
        last.pop();
    }
    lines
}

/// Where GNU patch would continue: the input lines already written out, and the offset of
/// the last hunk.
struct Cursor {
    frozen: usize,
    in_offset: isize,
}

fn apply_reading(
    input: &[u8],
    hunks: &[Hunk<'_>],
    reading: Reading,
) -> Result<(Vec<u8>, Vec<HunkOffset>), HunkFailure> {
    let lines: Vec<&[u8]> = input.split_inclusive(|&b| b == b'\n').collect();
    let mut out = Vec::with_capacity(input.len());
    let mut cursor = Cursor {
        frozen: 0,
        in_offset: 0,
    };
    let mut offsets = Vec::new();
    for (index, hunk) in hunks.iter().enumerate() {
        let old = side(hunk, Side::Old, reading);
        let new = side(hunk, Side::New, reading);
        let first = first_line(hunk.old_start, old.len());
        let failure = HunkFailure {
            index,
            expected_at: first + cursor.in_offset,
            endings: None,
        };
        let at = locate(&lines, &old, hunk, &mut cursor).ok_or(failure.clone())?;
        let (prefix, suffix) = context_of(hunk);
        // Lines before the first change; a pure insertion may point past the end.
        let unchanged = usize::try_from(at - 1).unwrap_or(0) + prefix;
        let unchanged = unchanged.min(lines.len());
        if cursor.frozen > unchanged || at < 1 {
            return Err(failure);
        }
        for line in &lines[cursor.frozen..unchanged] {
            emit(&mut out, line);
        }
        cursor.frozen = unchanged + old.len().saturating_sub(prefix + suffix);
        for line in &new[prefix..new.len() - suffix.min(new.len() - prefix)] {
            emit(&mut out, line);
        }
        if cursor.in_offset != 0 {
            offsets.push(HunkOffset {
                hunk: index + 1,
                line: first_line(hunk.new_start, new.len()) + cursor.in_offset,
                offset: cursor.in_offset,
            });
        }
    }
    for line in &lines[cursor.frozen.min(lines.len())..] {
        emit(&mut out, line);
    }
    Ok((out, offsets))
}

/// GNU patch's first line of a range: for an empty range the header names the line after
/// which to insert, so the range starts one line later.
fn first_line(start: usize, count: usize) -> isize {
    isize::try_from(start).unwrap_or(isize::MAX) + isize::from(count == 0)
}

/// Leading and trailing context of a hunk; a hunk without changes is all leading context.
fn context_of(hunk: &Hunk<'_>) -> (usize, usize) {
    let prefix = hunk.prefix_context();
    if prefix == hunk.lines.len() {
        return (prefix, 0);
    }
    (prefix, hunk.suffix_context())
}

/// Appends a line; a line without `\n` that gets more after it is ended first, as GNU patch
/// does.
fn emit(out: &mut Vec<u8>, line: &[u8]) {
    if out.last().is_some_and(|&b| b != b'\n') {
        out.push(b'\n');
    }
    out.extend_from_slice(line);
}

/// Finds the 1-based line where `old` (the hunk's old lines) matches, updating the cursor's
/// offset, or `None`.
fn locate(lines: &[&[u8]], old: &[Vec<u8>], hunk: &Hunk<'_>, cursor: &mut Cursor) -> Option<isize> {
    let first = first_line(hunk.old_start, old.len());
    let first_guess = first + cursor.in_offset;
    if old.is_empty() {
        return Some(first_guess);
    }
    let pattern = isize::try_from(old.len()).ok()?;
    let input = isize::try_from(lines.len()).ok()?;
    let frozen = isize::try_from(cursor.frozen).ok()?;
    let (prefix, suffix) = context_of(hunk);
    let (prefix, suffix) = (isize::try_from(prefix).ok()?, isize::try_from(suffix).ok()?);
    let context = prefix.max(suffix);
    let max_pos = input - pattern + 1 - first_guess;
    let mut max_neg = first_guess - (frozen + 1 - context);
    let max_offset = max_pos.max(max_neg);
    if first_guess <= max_neg {
        max_neg = first_guess - 1;
    }
    let matches = |at: isize| {
        let Ok(start) = usize::try_from(at - 1) else {
            return false;
        };
        lines.get(start..start + old.len()).is_some_and(|found| {
            found
                .iter()
                .zip(old)
                .all(|(have, want)| *have == want.as_slice())
        })
    };
    let mut found = |offset: isize| {
        cursor.in_offset += offset;
        Some(first_guess + offset)
    };
    if prefix < context && first <= 1 {
        // Less leading context than trailing: the hunk is at the start of the file.
        let offset = 1 - first_guess;
        if frozen <= prefix && offset <= max_pos && matches(1) {
            return found(offset);
        }
        return None;
    }
    if suffix < context {
        // Less trailing context than leading: the hunk is at the end of the file.
        let offset = input - pattern + 1 - first_guess;
        if -offset <= max_neg && matches(first_guess + offset) {
            return found(offset);
        }
        return None;
    }
    for distance in 0..=max_offset {
        if distance <= max_pos && matches(first_guess + distance) {
            return found(distance);
        }
        if distance > 0 && distance <= max_neg && matches(first_guess - distance) {
            return found(-distance);
        }
    }
    None
}

/// Whether the file and a hunk's old lines use different line endings.
fn endings_differ(input: &[u8], old: &[Vec<u8>]) -> Option<Endings> {
    let mostly_crlf = |lines: &mut dyn Iterator<Item = &[u8]>| {
        let (mut crlf, mut total) = (0, 0);
        for line in lines.filter(|line| line.ends_with(b"\n")) {
            total += 1;
            crlf += usize::from(line.ends_with(b"\r\n"));
        }
        (total > 0).then_some(crlf * 2 > total)
    };
    let file = mostly_crlf(&mut input.split_inclusive(|&b| b == b'\n'))?;
    let hunk = mostly_crlf(&mut old.iter().map(Vec::as_slice))?;
    match (file, hunk) {
        (true, false) => Some(Endings::CrlfFile),
        (false, true) => Some(Endings::CrlfPatch),
        _ => None,
    }
}
