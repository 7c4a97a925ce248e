//! A recipe as the command line names it: a file, `STAGE/NAME` or just `NAME`, looked up in
//! the project's recipe folders (overlays first) the way the plan finds recipes.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::project::Project;
use crate::suggest::closest;

/// The recipe file `argument` names. An existing file is taken as it is (see [`recipe_file`]);
/// otherwise `STAGE/NAME` is that stage's recipe and `NAME` the one recipe of that name in any
/// stage.
pub fn recipe_path(project: &Project, argument: &Path) -> Result<PathBuf> {
    if let Some(file) = recipe_file(project, argument)? {
        return Ok(file);
    }
    let text = argument.to_string_lossy();
    if text.ends_with(".rhai") {
        return Err(Error::Usage(format!("no recipe at {}", argument.display())));
    }
    match text.split_once('/') {
        Some((stage, name)) if !name.contains('/') => in_stage(project, stage, name),
        Some(_) => Err(Error::Usage(format!(
            "no recipe at {}: give a recipe file, STAGE/NAME or NAME",
            argument.display()
        ))),
        None => by_name(project, &text),
    }
}

/// A recipe named by its file. A relative path is the project's file when the project root
/// (`--root`) has one there, wherever serpent runs from: it is the recipe `build` builds, under
/// the same key. The same path from the current folder is taken only when the project has no
/// such file, and refused when it holds other bytes than the project's.
fn recipe_file(project: &Project, argument: &Path) -> Result<Option<PathBuf>> {
    let in_project = project.root.join(argument);
    if argument.is_relative() && in_project.is_file() {
        let here = std::fs::read(argument).ok();
        if here.is_some_and(|here| std::fs::read(&in_project).ok() != Some(here)) {
            return Err(Error::Usage(format!(
                "{} is two different recipes: the project's ({}) and one from the current folder; \
                 give an absolute path, or STAGE/NAME for the project's",
                argument.display(),
                in_project.display()
            )));
        }
        return Ok(Some(in_project));
    }
    Ok(argument.is_file().then(|| argument.to_path_buf()))
}

/// `STAGE/NAME`: the stage's recipe, or an error saying what the stage has.
fn in_stage(project: &Project, stage: &str, name: &str) -> Result<PathBuf> {
    let stages = project.stage_names();
    if !stages.iter().any(|known| known == stage) {
        let known: Vec<&str> = stages.iter().map(String::as_str).collect();
        return Err(Error::Usage(format!(
            "no recipe `{stage}/{name}`: there is no stage `{stage}`{}",
            hint(stage, &known)
        )));
    }
    let recipes = project.stage_recipes(stage);
    recipes.get(name).cloned().ok_or_else(|| {
        let known: Vec<&str> = recipes.keys().map(String::as_str).collect();
        Error::Usage(format!(
            "no recipe `{name}` in {stage}{}",
            hint(name, &known)
        ))
    })
}

/// `NAME`: the one recipe of that name; several stages having one is an error listing them.
fn by_name(project: &Project, name: &str) -> Result<PathBuf> {
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    let mut known: Vec<String> = Vec::new();
    for stage in project.stage_names() {
        for (recipe, path) in project.stage_recipes(&stage) {
            if recipe == name {
                found.push((format!("{stage}/{recipe}"), path));
            } else {
                known.push(recipe);
            }
        }
    }
    match found.len() {
        1 => Ok(found.remove(0).1),
        0 => {
            known.sort();
            known.dedup();
            let known: Vec<&str> = known.iter().map(String::as_str).collect();
            Err(Error::Usage(format!(
                "no recipe file `{name}` and no recipe of that name in any stage{}",
                hint(name, &known)
            )))
        }
        _ => {
            let candidates: Vec<String> = found
                .iter()
                .map(|(qualified, path)| {
                    let shown = path.strip_prefix(&project.root).unwrap_or(path);
                    format!("  {qualified} ({})", shown.display())
                })
                .collect();
            Err(Error::Usage(format!(
                "`{name}` names a recipe in several stages; name one as STAGE/NAME:\n{}",
                candidates.join("\n")
            )))
        }
    }
}

/// `; did you mean `x`?` when a known name is close to `name`.
fn hint(name: &str, known: &[&str]) -> String {
    closest(name, known)
        .map(|guess| format!("; did you mean `{guess}`?"))
        .unwrap_or_default()
}
