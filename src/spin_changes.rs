//! A spin's `ADD` or `REMOVE`: what it adds to, or takes from, its base spin's targets,
//! overlays, packages and overrides.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rhai::{Array, Dynamic, Map, Scope};

use crate::problems::Problems;

/// The parts of a base spin that `ADD` and `REMOVE` change.
const PARTS: [&str; 4] = ["targets", "overlays", "packages", "overrides"];

/// One of `ADD` or `REMOVE`, read.
#[derive(Debug, Clone, Default)]
pub struct SpinChanges {
    pub targets: Vec<String>,
    /// Made absolute against the project root, as the spin's own OVERLAYS are.
    pub overlays: Vec<PathBuf>,
    /// Stage name to recipe names.
    pub packages: BTreeMap<String, Vec<String>>,
    /// In `ADD`, recipe to the declarations that replace its own; in `REMOVE`, the recipes
    /// whose overrides go (as keys, with unit values).
    pub overrides: Map,
}

fn strings(value: Option<&Dynamic>) -> Vec<String> {
    value
        .and_then(|value| value.read_lock::<Array>().map(|items| items.clone()))
        .unwrap_or_default()
        .iter()
        .map(|item| item.to_string())
        .collect()
}

impl SpinChanges {
    /// The declaration `name` (`ADD` or `REMOVE`) of a spin script's scope; checked already.
    pub fn read(scope: &Scope, name: &str, root: &Path) -> SpinChanges {
        let map = scope.get_value::<Map>(name).unwrap_or_default();
        let packages = map
            .get("packages")
            .and_then(|value| value.read_lock::<Map>().map(|stages| stages.clone()))
            .unwrap_or_default()
            .into_iter()
            .map(|(stage, names)| (stage.to_string(), strings(Some(&names))))
            .collect();
        let overrides = match map.get("overrides") {
            Some(value) if value.is_map() => value.clone().cast::<Map>(),
            found => strings(found)
                .into_iter()
                .map(|recipe| (recipe.into(), Dynamic::UNIT))
                .collect(),
        };
        SpinChanges {
            targets: strings(map.get("targets")),
            overlays: strings(map.get("overlays"))
                .iter()
                .map(|dir| root.join(dir))
                .collect(),
            packages,
            overrides,
        }
    }
}

/// `ADD` and `REMOVE` must be maps of the parts they change, each of the shape it has in a
/// spin, and need a `BASE` to change.
pub fn check(scope: &Scope, problems: &mut Problems) {
    let has_base = scope.contains("BASE");
    for declaration in ["ADD", "REMOVE"] {
        let Some(changes) = scope.get_value::<Map>(declaration) else {
            continue;
        };
        if !has_base {
            problems.add(
                declaration,
                None,
                format!("{declaration} changes a base spin, but the spin has no BASE"),
                Some("name the spin to change: const BASE = \"mini\";".into()),
            );
        }
        for (part, value) in &changes {
            if !PARTS.contains(&part.as_str()) {
                let help = crate::suggest::closest(part, &PARTS)
                    .map(|guess| format!("did you mean `{guess}`?"))
                    .unwrap_or_else(|| format!("it can change {}", PARTS.join(", ")));
                let message = format!("{declaration}.{part}: not a part of a spin it can change");
                problems.add(declaration, Some(part.as_str()), message, Some(help));
            } else if !has_its_shape(declaration, part, value) {
                let message = format!(
                    "{declaration}.{part} has the wrong shape: expected {}",
                    expected_shape(declaration, part)
                );
                problems.add(declaration, Some(part.as_str()), message, None);
            }
        }
    }
}

fn is_string_list(value: &Dynamic) -> bool {
    value
        .read_lock::<Array>()
        .is_some_and(|items| items.iter().all(Dynamic::is_string))
}

fn has_its_shape(declaration: &str, part: &str, value: &Dynamic) -> bool {
    match (declaration, part) {
        (_, "packages") => value
            .read_lock::<Map>()
            .is_some_and(|stages| stages.values().all(is_string_list)),
        ("ADD", "overrides") => value
            .read_lock::<Map>()
            .is_some_and(|recipes| recipes.values().all(Dynamic::is_map)),
        _ => is_string_list(value),
    }
}

fn expected_shape(declaration: &str, part: &str) -> &'static str {
    match (declaration, part) {
        (_, "packages") => "a map of stage names to lists of recipe names",
        ("ADD", "overrides") => "a map of recipe names to maps of declarations",
        ("REMOVE", "overrides") => "a list of recipe names",
        _ => "a list of strings",
    }
}
