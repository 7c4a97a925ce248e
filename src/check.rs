use std::path::{Path, PathBuf};

use crate::build::recipe_names;
use crate::error::{Error, Result};
use crate::recipe::Recipe;
use crate::scripts::Scripts;
use crate::stage::Stage;
use crate::target::Target;

/// What kind of script a file under recipes/ is, by where it sits.
enum Script {
    Recipe,
    Stage,
    Target,
}

fn classify(path: &Path) -> Script {
    let in_folder = |name: &str| {
        path.parent()
            .and_then(Path::file_name)
            .is_some_and(|folder| folder == name)
    };
    if in_folder("targets") {
        Script::Target
    } else if path.file_name().is_some_and(|name| name == "stage.rhai") {
        Script::Stage
    } else {
        Script::Recipe
    }
}

/// Every script under recipes/ that `check` looks at, sorted.
pub fn all_scripts(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() && name != "patches" && name != "spins" {
                walk(&path, found);
            } else if path.extension().is_some_and(|ext| ext == "rhai") {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(&root.join("recipes"), &mut found);
    found.sort();
    found
}

/// Checks scripts and returns how many of each kind passed; every problem is reported.
pub fn check(scripts: &Scripts, paths: &[PathBuf]) -> Result<String> {
    let paths = if paths.is_empty() {
        all_scripts(&scripts.root)
    } else {
        paths.to_vec()
    };
    let mut problems = Vec::new();
    let (mut recipes, mut stages, mut targets) = (0, 0, 0);
    for path in &paths {
        let result = match classify(path) {
            Script::Target => Target::read(scripts, path).map(|_| targets += 1),
            Script::Stage => Stage::for_recipe(scripts, path).map(|_| stages += 1),
            Script::Recipe => check_recipe(scripts, path).map(|()| recipes += 1),
        };
        match result {
            Ok(()) => {}
            Err(Error::Many(many)) => problems.extend(many),
            Err(error) => problems.push(error),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Many(problems));
    }
    Ok(format!(
        "checked {recipes} recipe(s), {stages} stage(s) and {targets} target(s): no problems"
    ))
}

fn check_recipe(scripts: &Scripts, path: &Path) -> Result<()> {
    if !path.is_file() {
        return Err(Error::Usage(format!("no such file: {}", path.display())));
    }
    let recipe = Recipe::load(scripts, path)?;
    let stage = Stage::for_recipe(scripts, path)?;
    let known = recipe_names(&stage.dir);
    let missing: Vec<&String> = recipe
        .depends
        .iter()
        .filter(|name| !known.contains(name))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let text =
        std::fs::read_to_string(path).map_err(|error| Error::io("cannot read", path, error))?;
    let mut problems = crate::recipe::Problems::new(&recipe.source_name, &text);
    for name in missing {
        let names: Vec<&str> = known.iter().map(String::as_str).collect();
        let help =
            crate::suggest::closest(name, &names).map(|guess| format!("did you mean \"{guess}\"?"));
        problems.add(
            "DEPENDS",
            Some(&format!("\"{name}\"")),
            format!(
                "unknown dependency \"{name}\": no {name}.rhai in {}",
                scripts.source_name(&stage.dir)
            ),
            help,
        );
    }
    problems.finish()
}
