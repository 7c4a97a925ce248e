use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::license::{warning as license_warning, LicenseWarning};
use crate::lint::Holder;
use crate::project::Project;
use crate::recipe::Recipe;
use crate::scripts::Scripts;
use crate::stage::Stage;
use crate::target::Target;

/// What kind of script a file under recipes/ is, by where it sits.
enum Script {
    Recipe,
    Stage,
    Target,
    Spin,
}

fn classify(path: &Path) -> Script {
    let in_folder = |name: &str| {
        path.parent()
            .and_then(Path::file_name)
            .is_some_and(|folder| folder == name)
    };
    if in_folder("targets") {
        Script::Target
    } else if in_folder("spins") {
        Script::Spin
    } else if path.file_name().is_some_and(|name| name == "stage.rhai") {
        Script::Stage
    } else {
        Script::Recipe
    }
}

/// Every script under recipes/ and examples/ that `check` looks at, sorted; the shared
/// definitions in recipes/packages/ through the stage folders' links to them.
pub fn all_scripts(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            // Patches and the files recipes carry are not scripts, whatever their names; a
            // shared package definition is checked as each stage that links to it reads it.
            let skipped = ["patches", "files", "packages"].map(std::ffi::OsStr::new);
            if path.is_dir() && !skipped.contains(&entry.file_name().as_os_str()) {
                walk(&path, found);
            } else if path.extension().is_some_and(|ext| ext == "rhai") {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(&root.join("recipes"), &mut found);
    walk(&root.join("examples"), &mut found);
    found.sort();
    found
}

/// Checks scripts and says how many of each kind passed; every problem is reported, and what
/// is worth fixing but stops nothing (a recipe's LICENSE) goes into `warnings`.
pub fn check(
    scripts: &Scripts,
    project: &Project,
    paths: &[PathBuf],
    warnings: &mut Vec<LicenseWarning>,
) -> Result<String> {
    let paths = if paths.is_empty() {
        all_scripts(&scripts.root)
    } else {
        paths.to_vec()
    };
    let mut problems = Vec::new();
    let (mut recipes, mut stages, mut targets, mut spins) = (0, 0, 0, 0);
    for path in &paths {
        let result = match classify(path) {
            Script::Target => Target::read(scripts, path).map(|_| targets += 1),
            Script::Spin => check_spin(scripts, project, path).map(|()| spins += 1),
            Script::Stage => {
                Stage::load(scripts, path.parent().unwrap_or(Path::new("."))).map(|_| stages += 1)
            }
            Script::Recipe => check_recipe(scripts, project, path, warnings).map(|()| recipes += 1),
        };
        match result {
            Ok(()) => {}
            Err(Error::Many(many)) => problems.extend(many),
            Err(error) => problems.push(error),
        }
    }
    problems.extend(check_stdlib(scripts));
    if !problems.is_empty() {
        // A broken recipe also breaks every spin that plans it: say it once.
        let mut seen = std::collections::HashSet::new();
        problems.retain(|problem| seen.insert(format!("{problem:?}")));
        return Err(Error::Many(problems));
    }
    let spins = if spins > 0 {
        format!(", {spins} spin(s)")
    } else {
        String::new()
    };
    Ok(format!(
        "checked {recipes} recipe(s), {stages} stage(s){spins} and {targets} target(s): no problems"
    ))
}

/// The calls of every stdlib module's functions, which run only when a recipe uses them.
fn check_stdlib(scripts: &Scripts) -> Vec<Error> {
    let mut found = Vec::new();
    for (name, module) in scripts.modules() {
        let text = String::from_utf8_lossy(&module.bytes);
        let findings = crate::lint::check_calls(scripts, &module.ast, &text, Holder::Module);
        if findings.is_empty() {
            continue;
        }
        let source_name = format!("stdlib/{name}.rhai");
        let mut problems = crate::problems::Problems::new(&source_name, &text);
        for finding in findings {
            problems.add_at(finding.span, finding.message, finding.help);
        }
        match problems.finish() {
            Err(Error::Many(many)) => found.extend(many),
            Err(error) => found.push(error),
            Ok(()) => {}
        }
    }
    found
}

/// A spin is checked by reading and planning it: every recipe it builds, with its overrides,
/// and every target and dependency must hold up.
fn check_spin(scripts: &Scripts, project: &Project, path: &Path) -> Result<()> {
    let spin = crate::spin_base::read(scripts, project, path)?;
    let mut overlays = project.recipe_dirs[..project.recipe_dirs.len() - 1].to_vec();
    overlays.extend(spin.overlays.iter().cloned());
    let project = Project::new(&project.root, &overlays);
    let config = crate::config::Config::for_checking(&scripts.root);
    crate::plan::Plan::new(scripts, &config, spin, project, None, None).map(|_| ())
}

fn check_recipe(
    scripts: &Scripts,
    project: &Project,
    path: &Path,
    warnings: &mut Vec<LicenseWarning>,
) -> Result<()> {
    if !path.is_file() {
        return Err(Error::Usage(format!("no such file: {}", path.display())));
    }
    let recipe = Recipe::load(scripts, path, &project.recipe_dirs, None)?;
    recipe.check_calls(scripts)?;
    warnings.extend(license_warning(&recipe.script, recipe.license.as_deref()));
    let stage_dir = path.parent().unwrap_or(Path::new("."));
    // An overlay may replace a recipe without its stage: the stage is then the project's.
    let stage = match stage_dir.file_name() {
        Some(name) if !stage_dir.join("stage.rhai").is_file() => {
            let name = name.to_string_lossy();
            match project.find(&format!("{name}/stage.rhai")) {
                Some(found) => Stage::load(scripts, found.parent().unwrap_or(stage_dir))?,
                None => Stage::load(scripts, stage_dir)?,
            }
        }
        _ => Stage::load(scripts, stage_dir)?,
    };
    let mut known: Vec<String> = project.stage_recipes(&stage.name).into_keys().collect();
    known.extend(
        std::fs::read_dir(stage_dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let path = entry.path();
                (path.extension()? == "rhai")
                    .then(|| path.file_stem().unwrap().to_string_lossy().into_owned())
            }),
    );
    let names: Vec<&str> = known.iter().map(String::as_str).collect();
    let folder = scripts.source_name(&stage.dir);
    let mut problems: Vec<Error> = recipe
        .depends
        .iter()
        .filter(|name| !name.contains('/') && !known.contains(name))
        .map(|name| recipe.unknown_dependency(name, &names, &folder))
        .collect();
    match problems.len() {
        0 => Ok(()),
        1 => Err(problems.remove(0)),
        _ => Err(Error::Many(problems)),
    }
}
