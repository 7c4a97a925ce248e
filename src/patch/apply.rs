//! Applying one file section to the tree: which file it reads and which it writes (GNU
//! patch's choice of names, git's renames and copies), its hunks or binary patch, its mode.

use super::git::{self, BinaryKind, BinaryPatch, GitHeader, GitOp};
use super::names::{best_name, display, safe_relative, strip_components};
use super::parse::{Body, HeaderName, Section};
use super::tree::{FileState, Found, Tree};
use super::{hunks, HunkOffset, PatchError, PatchSummary, SeriesPatch};

/// Which file a section reads and which it writes.
struct Plan {
    /// The file whose content the hunks apply to; `None` when the section creates its file.
    source: Option<Vec<u8>>,
    target: Vec<u8>,
    /// A rename: the source goes away.
    remove_source: bool,
    /// The target goes away once the hunks have emptied it.
    delete: bool,
}

/// Section names after stripping and checking.
struct Names {
    old: Option<Vec<u8>>,
    new: Option<Vec<u8>>,
}

pub(super) fn apply_section(
    tree: &mut Tree,
    section: &Section<'_>,
    patch: &SeriesPatch<'_>,
    summary: &mut PatchSummary,
) -> Result<(), PatchError> {
    let context = Context { patch, section };
    let resolve = |name: &Option<HeaderName>| name.as_ref().map(|n| context.resolve(n)).transpose();
    let new = resolve(&section.new)?;
    let old = resolve(&section.old)?;
    let names = Names { old, new };
    let plan = match &section.git {
        Some(header) => git_plan(header, names),
        None => context.plain_plan(tree, names)?,
    };
    let input = match &plan.source {
        // git reads the sources of renames and copies as the patch found them.
        Some(source) if plan.source.as_ref() != Some(&plan.target) => {
            context.existing_before_patch(tree, source)?
        }
        Some(source) => context.existing(tree, source)?,
        None => FileState {
            bytes: Vec::new(),
            mode: None,
        },
    };
    if plan.source.as_ref() != Some(&plan.target) {
        context.absent(tree, &plan.target)?;
    }
    let path = display(&plan.target);
    let (bytes, offsets) = context.new_content(&input.bytes, &path)?;
    let mode = context.new_mode(&path)?.or(input.mode);
    if plan.delete && !bytes.is_empty() {
        return Err(PatchError::DeleteNotEmpty {
            patch: patch.name.to_string(),
            line: section.line,
            path,
        });
    }
    let result = (!plan.delete).then_some(FileState { bytes, mode });
    record(tree, &plan, result, summary);
    if let Body::Text(section_hunks) = &section.body {
        summary.hunks += section_hunks.len();
    }
    for offset in offsets {
        summary.log.push(offset.to_string());
        summary.offsets.push((path.clone(), offset));
    }
    Ok(())
}

/// Puts a section's result in the tree and says what it did, as GNU patch does.
fn record(tree: &mut Tree, plan: &Plan, result: Option<FileState>, summary: &mut PatchSummary) {
    let path = display(&plan.target);
    let moved_from = plan
        .source
        .as_ref()
        .filter(|source| **source != plan.target);
    match (&result, &plan.source) {
        (None, _) => summary.deleted.push(path.clone()),
        (Some(_), None) => summary.created.push(path.clone()),
        (Some(_), Some(_)) if moved_from.is_some() => summary.created.push(path.clone()),
        (Some(_), Some(_)) => {}
    }
    tree.set(&plan.target, result);
    let mut line = format!("patching file {path}");
    if let Some(source) = moved_from {
        let verb = if plan.remove_source {
            "renamed"
        } else {
            "copied"
        };
        line.push_str(&format!(" ({verb} from {})", display(source)));
        if plan.remove_source {
            tree.set(source, None);
            summary.deleted.push(display(source));
        }
    }
    summary.log.push(line);
}

fn git_plan(header: &GitHeader, names: Names) -> Plan {
    let Names { old, new } = names;
    let either = || new.clone().or_else(|| old.clone()).unwrap_or_default();
    match header.op {
        GitOp::Create => Plan {
            source: None,
            target: either(),
            remove_source: false,
            delete: false,
        },
        GitOp::Delete => Plan {
            source: old.clone(),
            target: old.unwrap_or_default(),
            remove_source: false,
            delete: true,
        },
        GitOp::Rename | GitOp::Copy => Plan {
            source: old.clone(),
            target: new.unwrap_or_default(),
            remove_source: header.op == GitOp::Rename,
            delete: false,
        },
        GitOp::Modify => Plan {
            source: Some(either()),
            target: either(),
            remove_source: false,
            delete: false,
        },
    }
}

struct Context<'s> {
    patch: &'s SeriesPatch<'s>,
    section: &'s Section<'s>,
}

impl Context<'_> {
    fn name(&self) -> String {
        self.patch.name.to_string()
    }

    /// Strips and checks a header name. git's rename and copy names carry no `a/` prefix, so
    /// they lose one component fewer.
    fn resolve(&self, name: &HeaderName) -> Result<Vec<u8>, PatchError> {
        let strip = match name.prefixed {
            true => self.patch.strip,
            false => self.patch.strip.saturating_sub(1),
        };
        let stripped =
            strip_components(&name.bytes, strip).ok_or_else(|| PatchError::BadStrip {
                patch: self.name(),
                line: name.line,
                name: display(&name.bytes),
                strip,
            })?;
        safe_relative(stripped).ok_or_else(|| PatchError::UnsafePath {
            patch: self.name(),
            line: name.line,
            path: display(stripped),
        })
    }

    /// GNU patch's reading of a plain unified diff: `/dev/null` or an epoch timestamp marks
    /// an absent side; otherwise the existing file with the best name is patched, and a hunk
    /// `@@ -0,0 +1,N @@` on a missing file creates it (old-style `diff -N` output).
    fn plain_plan(&self, tree: &mut Tree, names: Names) -> Result<Plan, PatchError> {
        let hunks = match &self.section.body {
            Body::Text(hunks) => hunks.as_slice(),
            _ => &[],
        };
        let epoch = |name: &Option<HeaderName>| name.as_ref().is_some_and(|n| n.epoch);
        let inserts_only = hunks.iter().all(|h| h.old_count() == 0);
        let empties = hunks.iter().all(|h| h.new_count() == 0);
        let creating = names.old.is_none() || (epoch(&self.section.old) && inserts_only);
        let delete = names.new.is_none() || (epoch(&self.section.new) && empties);
        let fallback = names
            .new
            .clone()
            .or_else(|| names.old.clone())
            .unwrap_or_default();
        let mut existing = Vec::new();
        for name in [&names.old, &names.new].into_iter().flatten() {
            if matches!(self.get(tree, name)?, Found::File(_)) {
                existing.push(name.as_slice());
            }
        }
        let chosen = best_name(&existing).map(<[u8]>::to_vec);
        let new_file = |target: Vec<u8>| Plan {
            source: None,
            target,
            remove_source: false,
            delete: false,
        };
        let old_style_creation = hunks.len() == 1 && hunks[0].old_start == 0 && inserts_only;
        Ok(match chosen {
            None if creating || old_style_creation => new_file(fallback),
            Some(name) if creating && self.is_empty_file(tree, &name)? => Plan {
                source: Some(name.clone()),
                target: name,
                remove_source: false,
                delete,
            },
            Some(name) if creating => new_file(name),
            chosen => {
                let target = chosen.unwrap_or(fallback);
                Plan {
                    source: Some(target.clone()),
                    target,
                    remove_source: false,
                    delete,
                }
            }
        })
    }

    fn is_empty_file(&self, tree: &mut Tree, rel: &[u8]) -> Result<bool, PatchError> {
        Ok(matches!(self.get(tree, rel)?, Found::File(state) if state.bytes.is_empty()))
    }

    fn get(&self, tree: &mut Tree, rel: &[u8]) -> Result<Found, PatchError> {
        tree.get(rel).map_err(|error| PatchError::Beneath {
            patch: self.name(),
            error: Box::new(error),
        })
    }

    /// The regular file `rel`, which the section reads.
    fn existing(&self, tree: &mut Tree, rel: &[u8]) -> Result<FileState, PatchError> {
        let found = self.get(tree, rel)?;
        self.regular(rel, found)
    }

    /// The regular file `rel` as the patch found it.
    fn existing_before_patch(&self, tree: &mut Tree, rel: &[u8]) -> Result<FileState, PatchError> {
        let found = tree
            .get_before_patch(rel)
            .map_err(|error| PatchError::Beneath {
                patch: self.name(),
                error: Box::new(error),
            })?;
        self.regular(rel, found)
    }

    fn regular(&self, rel: &[u8], found: Found) -> Result<FileState, PatchError> {
        match found {
            Found::File(state) => Ok(state),
            Found::Absent => Err(PatchError::Missing {
                patch: self.name(),
                line: self.section.line,
                path: display(rel),
                strip: self.patch.strip,
            }),
            Found::NotRegular => Err(self.not_regular(rel)),
        }
    }

    /// Checks that nothing is at `rel`, which the section creates.
    fn absent(&self, tree: &mut Tree, rel: &[u8]) -> Result<(), PatchError> {
        match self.get(tree, rel)? {
            Found::Absent => Ok(()),
            Found::File(_) => Err(PatchError::AlreadyExists {
                patch: self.name(),
                line: self.section.line,
                path: display(rel),
            }),
            Found::NotRegular => Err(self.not_regular(rel)),
        }
    }

    fn not_regular(&self, rel: &[u8]) -> PatchError {
        PatchError::NotRegularFile {
            patch: self.name(),
            line: self.section.line,
            path: display(rel),
        }
    }

    /// The content after the section's hunks or binary patch.
    fn new_content(
        &self,
        input: &[u8],
        path: &str,
    ) -> Result<(Vec<u8>, Vec<HunkOffset>), PatchError> {
        match &self.section.body {
            Body::Text(section_hunks) => {
                let (output, offsets) =
                    hunks::apply(input, section_hunks, self.section.crlf_headers).map_err(
                        |failure| {
                            let hunk = &section_hunks[failure.index];
                            PatchError::HunkFailed {
                                patch: self.name(),
                                path: path.to_string(),
                                hunk: failure.index + 1,
                                header: hunk.header.clone(),
                                line: hunk.line,
                                expected_at: failure.expected_at,
                                endings: failure.endings,
                            }
                        },
                    )?;
                Ok((output, offsets))
            }
            Body::Binary(binary) => Ok((self.apply_binary(input, binary, path)?, Vec::new())),
            Body::BinaryWithoutData { line } => Err(PatchError::BinaryWithoutData {
                patch: self.name(),
                line: *line,
                notice: format!("Binary files differ for {path}"),
            }),
            Body::Nothing => Ok((input.to_vec(), Vec::new())),
        }
    }

    /// Applies a binary patch after checking that the file is the one the patch was made
    /// from, by its git blob id, and that the result is the one the patch names.
    fn apply_binary(
        &self,
        input: &[u8],
        binary: &BinaryPatch,
        path: &str,
    ) -> Result<Vec<u8>, PatchError> {
        let refuse = |reason: String| PatchError::Binary {
            patch: self.name(),
            line: binary.line,
            path: path.to_string(),
            reason,
        };
        let header = self.section.git.as_ref();
        let creating = header.is_some_and(|h| h.op == GitOp::Create);
        let (old_id, new_id) = header
            .and_then(|h| h.index.clone())
            .ok_or_else(|| refuse("the section has no `index` line naming the blobs".into()))?;
        if !creating {
            if !git::is_full_id(&old_id) {
                return Err(refuse(format!(
                    "the `index` line has abbreviated blob ids ({old_id}), so the content the patch expects is unknown; make it with `git diff --binary`"
                )));
            }
            let found = git::blob_id(input);
            if found != old_id {
                return Err(refuse(format!(
                    "the file is not the one the patch was made from (blob {found}, the patch expects {old_id})"
                )));
            }
        }
        let output = match binary.kind {
            BinaryKind::Literal => binary.data.clone(),
            BinaryKind::Delta => git::apply_delta(input, &binary.data)
                .ok_or_else(|| refuse("the delta does not fit the file".into()))?,
        };
        let deleting = header.is_some_and(|h| h.op == GitOp::Delete);
        if git::is_full_id(&new_id) && !deleting && git::blob_id(&output) != new_id {
            return Err(refuse(format!(
                "the result is not the blob {new_id} the patch names"
            )));
        }
        Ok(if deleting { Vec::new() } else { output })
    }

    /// The permission bits a git header sets; symbolic links and submodules are refused.
    fn new_mode(&self, path: &str) -> Result<Option<u32>, PatchError> {
        let Some(header) = self.section.git.as_ref() else {
            return Ok(None);
        };
        // Like GNU patch, a mode is set where it changes; an `index` line's mode is the
        // file's on both sides.
        let Some(mode) = header
            .new_mode
            .filter(|&mode| header.op == GitOp::Create || header.old_mode != Some(mode))
        else {
            return Ok(None);
        };
        let what = match mode & 0o170000 {
            0o100000 | 0 => return Ok(Some(mode & 0o7777)),
            0o120000 => {
                "the patch makes a symbolic link, which serpent does not create from patches"
            }
            0o160000 => "the patch changes a git submodule, which has no content to patch",
            _ => "the patch sets a file type serpent does not create",
        };
        Err(PatchError::Refused {
            patch: self.name(),
            line: self.section.line,
            path: path.to_string(),
            what: what.to_string(),
        })
    }
}
