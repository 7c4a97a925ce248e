//! What Tab offers for the values of serpent's arguments: spin, target and stage names from the
//! project in the folder the user is in, as they are when serpent runs there, and script paths.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use clap_complete::engine::{CompletionCandidate, PathCompleter};

use crate::project::Project;

/// The project the completion is for: `SERPENT_ROOT`, else the folder holding recipes/ and
/// stdlib/ from here up. A `--root` on the line being completed is not seen.
fn project() -> Option<Project> {
    let root = match std::env::var_os("SERPENT_ROOT") {
        Some(root) => PathBuf::from(root),
        None => crate::project::find_root(Path::new("."))?,
    };
    Some(Project::new(&root, &[]))
}

fn starting_with(current: &OsStr, names: Vec<String>) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    names
        .into_iter()
        .filter(|name| name.starts_with(current.as_ref()))
        .map(CompletionCandidate::new)
        .collect()
}

fn is_script_or_folder(path: &Path) -> bool {
    path.is_dir() || path.extension().is_some_and(|ext| ext == "rhai")
}

/// Recipe, stage or target scripts: `.rhai` files and the folders that may hold them.
pub fn script_paths() -> PathCompleter {
    PathCompleter::any().filter(is_script_or_folder)
}

/// Spin names from recipes/spins/, or script paths once the word looks like a path.
pub fn spins(current: &OsStr) -> Vec<CompletionCandidate> {
    names_or_paths(current, Project::spin_names)
}

/// Target names from recipes/targets/, or script paths once the word looks like a path.
pub fn targets(current: &OsStr) -> Vec<CompletionCandidate> {
    names_or_paths(current, Project::target_names)
}

/// Stage names: the folders of recipes/ that hold a stage.rhai.
pub fn stages(current: &OsStr) -> Vec<CompletionCandidate> {
    let names = project().map(|project| project.stage_names());
    starting_with(current, names.unwrap_or_default())
}

fn names_or_paths(current: &OsStr, names: fn(&Project) -> Vec<String>) -> Vec<CompletionCandidate> {
    let text = current.to_string_lossy();
    if text.contains('/') || text.starts_with('.') {
        return clap_complete::engine::ValueCompleter::complete(&script_paths(), current);
    }
    let names = project().map(|project| names(&project));
    starting_with(current, names.unwrap_or_default())
}
