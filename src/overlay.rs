//! Which recipe an overlay's recipe takes the place of, for `serpent explain`.

use std::path::{Path, PathBuf};

use crate::plan::Plan;
use crate::project::Project;
use crate::recipe::Recipe;

/// The recipe folders of a project, absolute, in the order they are searched.
fn folders(project: &Project) -> Vec<PathBuf> {
    project
        .recipe_dirs
        .iter()
        .map(|dir| std::path::absolute(dir).unwrap_or_else(|_| dir.clone()))
        .collect()
}

/// Where `path` lies: the index of its recipe folder and its path inside that folder.
fn place(folders: &[PathBuf], path: &Path) -> Option<(usize, PathBuf)> {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    folders
        .iter()
        .enumerate()
        .find_map(|(position, dir)| Some((position, path.strip_prefix(dir).ok()?.to_path_buf())))
}

/// The recipe file builds use for `path`: an overlay's file at the same place, when one
/// comes before `path`'s folder, with a line saying so; else `path` itself.
pub fn effective(project: &Project, path: &Path) -> (PathBuf, Option<String>) {
    let folders = folders(project);
    let Some((position, relative)) = place(&folders, path) else {
        return (path.to_path_buf(), None);
    };
    let Some((overlay, replacing)) = folders[..position]
        .iter()
        .map(|dir| (dir, dir.join(&relative)))
        .find(|(_, file)| file.is_file())
    else {
        return (path.to_path_buf(), None);
    };
    let shown = |path: &Path| shown(project, path);
    let note = format!(
        "{} is replaced by {} from the overlay {}; explaining the overlay's, which builds use:",
        shown(path),
        shown(&replacing),
        shown(overlay)
    );
    (replacing, Some(note))
}

/// A path as the user reads it: inside the project, relative to its root.
fn shown(project: &Project, path: &Path) -> String {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    path.strip_prefix(&project.root)
        .unwrap_or(&path)
        .display()
        .to_string()
}

/// When `recipe` comes from an overlay and a folder searched after it (another overlay or
/// recipes/) has a recipe at the same place, a line saying which file replaced which and what
/// that means for the build.
pub fn replacement(plan: &Plan, recipe: &Recipe) -> Option<String> {
    let folders = folders(&plan.project);
    let (position, relative) = place(&folders, &recipe.path)?;
    let replaced = folders[position + 1..]
        .iter()
        .map(|dir| dir.join(&relative))
        .find(|path| path.is_file())?;
    let shown = |path: &Path| shown(&plan.project, path);
    Some(format!(
        "{} comes from the overlay {} and replaces {}: builds with and without the overlay rebuild this in turn",
        shown(&recipe.path),
        shown(&folders[position]),
        shown(&replaced)
    ))
}
