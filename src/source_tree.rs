//! A recipe's source tree as its build starts from it: the sources unpacked from the store (or
//! copied, for those not unpacked), the files the recipe carries copied in, and its patches
//! applied, all of them or none.

use std::path::Path;

use crate::beneath::{self, Beneath};
use crate::context::copy_tree;
use crate::error::{Error, Result};
use crate::fetch::Fetcher;
use crate::patch::{apply_series, SeriesFailure, SeriesPatch};
use crate::plan::Plan;
use crate::recipe::Recipe;
use crate::recipe_files;
use crate::reproducible;
use crate::scripts::Scripts;
use crate::unpack::{unpack, UnpackOptions};

/// What preparing a tree found out.
pub struct Prepared {
    /// The newest time the archives recorded, which the build gets as `SOURCE_DATE_EPOCH`.
    pub source_date_epoch: i64,
    /// What GNU patch would have said, patch by patch.
    pub patch_log: String,
    /// `<patch>: <file>: Hunk #2 succeeded at 140 (offset 3 lines).` for each hunk that
    /// matched away from its stated line.
    pub offsets: Vec<String>,
}

/// Prepares `recipe`'s tree in `srcdir`; `id` names the instance in errors.
pub fn prepare(
    fetcher: &Fetcher,
    scripts: &Scripts,
    recipe: &Recipe,
    id: &str,
    srcdir: &Path,
) -> Result<Prepared> {
    // A link an earlier source unpacked must not carry a later source's `dest` elsewhere.
    let tree = Beneath::create(srcdir, beneath::Scope::Contained)
        .map_err(|error| Error::io("cannot create", srcdir, error))?;
    for source in &recipe.sources {
        let fetched = fetcher.fetch(&source.url, &source.sha256)?;
        let dest = tree
            .real_dir(Path::new(&source.dest))
            .map_err(|error| Error::io("cannot unpack into", srcdir, error.into()))?;
        if source.unpack {
            let options = UnpackOptions {
                strip: source.strip,
                only: source.only.clone(),
            };
            unpack(&fetched.path, &dest, &options).map_err(|error| Error::Unpack {
                context: format!("{id}: cannot unpack {}", source.url),
                source: Box::new(error),
            })?;
        } else {
            let file = Path::new(&source.dest).join(source.file_name());
            let copied = dest.join(source.file_name());
            copy_tree(&fetched.path, &tree, &file)
                .and_then(|()| reproducible::clamp_times(&copied, 0))
                .map_err(|error| Error::io("cannot copy source to", &copied, error))?;
        }
    }
    recipe_files::copy_into(&recipe.files, &tree)?;
    let source_date_epoch = reproducible::source_date_epoch(srcdir);
    let (patch_log, offsets) = apply_patches(scripts, recipe, id, srcdir)?;
    Ok(Prepared {
        source_date_epoch,
        patch_log,
        offsets,
    })
}

/// Applies the recipe's patches, all or none: the log GNU patch would write and the hunks
/// that matched at an offset.
fn apply_patches(
    scripts: &Scripts,
    recipe: &Recipe,
    id: &str,
    srcdir: &Path,
) -> Result<(String, Vec<String>)> {
    let mut read = Vec::with_capacity(recipe.patches.len());
    for patch in &recipe.patches {
        let bytes = std::fs::read(&patch.path)
            .map_err(|error| Error::io("cannot read patch", &patch.path, error))?;
        read.push((scripts.source_name(&patch.path), bytes, patch.strip));
    }
    let series: Vec<SeriesPatch> = read
        .iter()
        .map(|(name, bytes, strip)| SeriesPatch {
            name,
            bytes,
            strip: *strip,
        })
        .collect();
    if series.is_empty() {
        return Ok((String::new(), Vec::new()));
    }
    let summaries =
        apply_series(&series, srcdir).map_err(|failure| series_failure(id, &series, failure))?;
    let mut log = String::new();
    let mut offsets = Vec::new();
    for (patch, summary) in series.iter().zip(&summaries) {
        log.push_str(&format!("applying {}\n", patch.name));
        for line in &summary.log {
            log.push_str(line);
            log.push('\n');
        }
        for (path, offset) in &summary.offsets {
            offsets.push(format!("{}: {path}: {offset}", patch.name));
        }
    }
    Ok((log, offsets))
}

/// `serpent check --patches`: prepares, in a scratch folder, the tree of every instance of the
/// plan that has patches, once for each distinct set of sources and patches, so a patch that
/// does not apply to the version a spin builds is found before hours of building. Every
/// failure is reported; returns how many trees were prepared.
pub fn check_patches(plan: &Plan, fetcher: &Fetcher, scripts: &Scripts) -> Result<usize> {
    let mut seen = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for instance in &plan.instances {
        let recipe = plan.recipe_of(instance);
        if recipe.patches.is_empty() {
            continue;
        }
        let sources = recipe.sources.iter().map(|source| &source.sha256);
        let patches = recipe
            .patches
            .iter()
            .map(|patch| patch.path.display().to_string());
        let files = recipe
            .files
            .iter()
            .map(|file| file.path.display().to_string());
        let what: Vec<String> = sources.cloned().chain(patches).chain(files).collect();
        if !seen.insert(what) {
            continue;
        }
        let scratch = tempfile::Builder::new()
            .prefix("serpent-check-")
            .tempdir()
            .map_err(|error| Error::io("cannot create", std::env::temp_dir(), error))?;
        if let Err(error) = prepare(fetcher, scripts, recipe, &instance.id, scratch.path()) {
            failures.push(error);
        }
    }
    match failures.len() {
        0 => Ok(seen.len()),
        1 => Err(failures.remove(0)),
        _ => Err(Error::Many(failures)),
    }
}

/// The error for a series that did not apply: which patch of how many, and that none is
/// applied.
fn series_failure(id: &str, series: &[SeriesPatch], failure: SeriesFailure) -> Error {
    let total = series.len();
    let Some(index) = failure.index else {
        return Error::patch(
            format!("{id}: cannot write the patched source tree"),
            "free space or fix permissions and build again; no patch was applied".to_string(),
            "",
            "",
            failure.error,
        );
    };
    let patch = &series[index];
    let which = if total == 1 {
        format!("patch {}", patch.name)
    } else {
        format!("patch {} of {total}, {},", index + 1, patch.name)
    };
    let help = if total == 1 {
        "refresh the patch against this version of the source, or drop it; the source tree was left unpatched".to_string()
    } else {
        format!("refresh the patch against this version of the source, or drop it; none of the {total} patches was applied, the source tree is as unpacked")
    };
    Error::patch(
        format!("{id}: {which} does not apply"),
        help,
        patch.name,
        &String::from_utf8_lossy(patch.bytes),
        failure.error,
    )
}
