//! Applying patches: unified diffs with git's extensions, as bytes, all or nothing.
//!
//! [`apply_series`] applies patches one after another to an in-memory view of the tree and
//! writes the result only when every hunk of every patch applied; otherwise nothing on disk
//! changes. Matching follows GNU patch without fuzz (see [`hunks`]), so a patch GNU patch
//! applies without fuzz gives the same tree, and anything else is refused with the patch, the
//! file, the hunk and its line. Offsets are reported the way GNU patch reports them.
//!
//! git's renames, copies, mode changes, empty files and binary patches (literal and delta)
//! are applied. What is refused on purpose is listed in docs/containment.md ("Patching").

mod apply;
mod git;
mod hunks;
mod names;
mod parse;
mod tree;

use std::path::Path;

use crate::beneath::BeneathError;

pub use hunks::{Endings, HunkOffset};

/// Everything that can go wrong while applying a patch. Every variant but [`PatchError::Write`]
/// names the patch; file paths are relative to the patched tree, after stripping.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The patch contains no file sections at all.
    #[error("patch {patch}: no diffs found (is it a unified diff?)")]
    NoDiffs { patch: String },

    /// The patch is not a well-formed unified diff.
    #[error("patch {patch}, line {line}: {message}")]
    Malformed {
        patch: String,
        /// 1-based line number in the patch.
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

    /// The file to patch, rename, copy or delete does not exist.
    #[error("patch {patch}, line {line}: {path} does not exist (strip level {strip}; is -p{strip} right?)")]
    Missing {
        patch: String,
        line: usize,
        path: String,
        strip: usize,
    },

    /// The patch creates a file (or renames or copies to one) that already exists.
    #[error(
        "patch {patch}, line {line}: cannot create {path}: it already exists (already applied?)"
    )]
    AlreadyExists {
        patch: String,
        line: usize,
        path: String,
    },

    /// The path to patch is a directory, symbolic link or other non-regular file.
    #[error("patch {patch}, line {line}: {path} is not a regular file; serpent patches regular files only")]
    NotRegularFile {
        patch: String,
        line: usize,
        path: String,
    },

    /// A hunk's context and removed lines are not where GNU patch would find them.
    #[error(
        "patch {patch}, line {line}: hunk #{hunk} ({header}) of {path} does not apply (looked for at line {expected_at} of {path}){}",
        endings_hint(*.endings)
    )]
    HunkFailed {
        patch: String,
        path: String,
        /// 1-based index of the hunk within its file section.
        hunk: usize,
        /// The hunk header without the section text, e.g. `@@ -10,7 +10,8 @@`.
        header: String,
        /// 1-based line number of the hunk header in the patch.
        line: usize,
        /// The line of the file where the hunk was looked for first.
        expected_at: isize,
        /// The file and the hunk use different line endings.
        endings: Option<Endings>,
    },

    /// A deletion applied, but the file still has content the patch does not remove.
    #[error(
        "patch {patch}, line {line}: not deleting {path}: it has content the patch does not remove"
    )]
    DeleteNotEmpty {
        patch: String,
        line: usize,
        path: String,
    },

    /// `Binary files ... differ`: the patch says a binary file changed but not how.
    #[error("patch {patch}, line {line}: `{notice}`: the patch does not carry the change (make it with `git diff --binary`)")]
    BinaryWithoutData {
        patch: String,
        line: usize,
        notice: String,
    },

    /// A `GIT binary patch` that cannot be applied to the file as it is.
    #[error("patch {patch}, line {line}: binary patch of {path}: {reason}")]
    Binary {
        patch: String,
        line: usize,
        path: String,
        reason: String,
    },

    /// Something serpent does not do on purpose, such as creating a symbolic link.
    #[error("patch {patch}, line {line}: {path}: {what}")]
    Refused {
        patch: String,
        line: usize,
        path: String,
        what: String,
    },

    /// A path leads outside the tree, or reading a file failed.
    #[error("patch {patch}: {error}")]
    Beneath {
        patch: String,
        error: Box<BeneathError>,
    },

    /// Writing the patched files failed; every file is as it was before.
    #[error("cannot write the patched tree: {error}; no file was changed")]
    Write { error: Box<BeneathError> },
}

fn endings_hint(endings: Option<Endings>) -> &'static str {
    match endings {
        Some(Endings::CrlfFile) => "; the file has CRLF line endings and the hunk LF: convert the patch to CRLF (or the file to LF) so they agree",
        Some(Endings::CrlfPatch) => "; the hunk has CRLF line endings and the file LF: convert the patch to LF (or the file to CRLF) so they agree",
        None => "",
    }
}

/// What one patch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatchSummary {
    /// Number of file sections applied.
    pub files: usize,
    /// Number of hunks applied.
    pub hunks: usize,
    /// Hunks that applied away from their stated line, with their file.
    pub offsets: Vec<(String, HunkOffset)>,
    /// Files created, including the targets of renames and copies.
    pub created: Vec<String>,
    /// Files removed, including the sources of renames.
    pub deleted: Vec<String>,
    /// What GNU patch would say: `patching file x`, then its hunks' offsets.
    pub log: Vec<String>,
}

/// One patch of a series.
#[derive(Debug, Clone, Copy)]
pub struct SeriesPatch<'a> {
    /// How the patch is named in messages (usually its path).
    pub name: &'a str,
    pub bytes: &'a [u8],
    /// Leading path components to strip from file names, like `patch -pN`.
    pub strip: usize,
}

/// Why a series was not applied; the tree is as it was before the series.
#[derive(Debug)]
pub struct SeriesFailure {
    /// 0-based index of the patch that failed; `None` when writing the result failed.
    pub index: Option<usize>,
    pub error: PatchError,
}

/// Applies `patches` in order to the tree at `dir`: all of them, or none.
pub fn apply_series(
    patches: &[SeriesPatch<'_>],
    dir: &Path,
) -> Result<Vec<PatchSummary>, SeriesFailure> {
    let mut tree = tree::Tree::open(dir).map_err(|error| SeriesFailure {
        index: None,
        error: PatchError::Write {
            error: Box::new(error),
        },
    })?;
    let mut summaries = Vec::with_capacity(patches.len());
    for (index, patch) in patches.iter().enumerate() {
        tree.begin_patch();
        let summary = apply_one(&mut tree, patch).map_err(|error| SeriesFailure {
            index: Some(index),
            error,
        })?;
        summaries.push(summary);
    }
    tree.commit().map_err(|error| SeriesFailure {
        index: None,
        error: PatchError::Write {
            error: Box::new(error),
        },
    })?;
    Ok(summaries)
}

/// Applies one patch to the tree at `dir`, stripping `strip` leading path components from
/// file names; either every hunk applies and every file is written, or nothing changes.
pub fn apply_patch(
    bytes: &[u8],
    name: &str,
    dir: &Path,
    strip: usize,
) -> Result<PatchSummary, PatchError> {
    let patch = SeriesPatch { name, bytes, strip };
    apply_series(&[patch], dir)
        .map(|mut summaries| summaries.remove(0))
        .map_err(|failure| failure.error)
}

fn apply_one(tree: &mut tree::Tree, patch: &SeriesPatch<'_>) -> Result<PatchSummary, PatchError> {
    let sections = parse::parse(patch.bytes, patch.name)?;
    if sections.is_empty() {
        return Err(PatchError::NoDiffs {
            patch: patch.name.to_string(),
        });
    }
    let mut summary = PatchSummary::default();
    for section in &sections {
        apply::apply_section(tree, section, patch, &mut summary)?;
    }
    summary.files = sections.len();
    Ok(summary)
}

#[cfg(test)]
mod tests;
