use std::path::{Path, PathBuf};

use rhai::{Array, Dynamic, Map, Scope};

use crate::error::{Error, Result};
use crate::problems::Problems;
use crate::project::Project;
use crate::scripts::Scripts;
use crate::spin_changes::SpinChanges;

const DECLARATIONS: [&str; 10] = [
    "DESCRIPTION",
    "TARGETS",
    "STAGES",
    "PACKAGES",
    "OVERLAYS",
    "FLAGS",
    "OVERRIDES",
    "BASE",
    "ADD",
    "REMOVE",
];
const FLAG_NAMES: [&str; 3] = ["cflags", "cxxflags", "ldflags"];

/// The top-level choice of what to build: targets, stages, flag changes, per-recipe overrides
/// and overlay folders searched before `recipes/`.
#[derive(Debug, Clone, Default)]
pub struct Spin {
    pub name: String,
    pub path: Option<PathBuf>,
    pub targets: Vec<String>,
    /// Empty means every stage.
    pub stages: Vec<String>,
    pub overlays: Vec<PathBuf>,
    /// `#{ add: #{ cflags: [...] }, remove: #{ cflags: [...] } }`
    pub flags: Map,
    /// Recipe name (or `stage/name`) to the declarations that replace the recipe's own.
    pub overrides: Map,
    /// Stage name to the recipes the spin builds in it (with what they depend on); a stage
    /// not named here builds all of its recipes.
    pub packages: std::collections::BTreeMap<String, Vec<String>>,
    /// The spin this one extends (`BASE`), as the script names it; `spin_base` merges it in.
    pub base: Option<String>,
    /// The declarations the script sets itself, which replace its base's.
    pub declared: Vec<String>,
    /// `ADD` and `REMOVE`: changes to the base's declarations.
    pub added: SpinChanges,
    pub removed: SpinChanges,
}

fn strings(value: Option<Dynamic>) -> Vec<String> {
    value
        .and_then(|value| value.into_array().ok())
        .unwrap_or_default()
        .iter()
        .map(|item| item.to_string())
        .collect()
}

impl Spin {
    /// The spin used when none is named and the project has no `spins/default.rhai`: the
    /// host's architecture and every stage.
    pub fn implicit() -> Spin {
        Spin {
            name: "implicit".to_string(),
            targets: vec![std::env::consts::ARCH.to_string()],
            ..Spin::default()
        }
    }

    /// `name` is a spin in `recipes/spins/` or a path to a spin script.
    pub fn load(scripts: &Scripts, project: &Project, name: Option<&str>) -> Result<Spin> {
        let path = match name {
            Some(name) => project.spin_path(name).ok_or_else(|| {
                Error::Usage(format!(
                    "unknown spin `{name}`: no recipes/spins/{name}.rhai and no such file"
                ))
            })?,
            None => match project.spin_path("default") {
                Some(path) => path,
                None => return Ok(Spin::implicit()),
            },
        };
        Spin::read(scripts, &path)
    }

    /// Reads a spin script. Every problem in it is reported at once, each at its place in
    /// the script, before any of it is used.
    pub fn read(scripts: &Scripts, path: &Path) -> Result<Spin> {
        let (ast, source_name) = scripts.compile(path)?;
        let scope = scripts.evaluate(&ast, &source_name)?;
        let text =
            std::fs::read_to_string(path).map_err(|error| Error::io("cannot read", path, error))?;
        let mut problems = Problems::new(&source_name, &text);
        check_declarations(&scope, &mut problems);
        let flags = scope.get_value::<Map>("FLAGS").unwrap_or_default();
        check_flags(&flags, &mut problems);
        let overrides = scope.get_value::<Map>("OVERRIDES").unwrap_or_default();
        check_overrides(&overrides, &mut problems);
        crate::spin_changes::check(&scope, &mut problems);
        problems.finish()?;
        let root = &scripts.root;
        let mut targets = strings(scope.get_value("TARGETS"));
        if targets.is_empty() {
            targets.push(std::env::consts::ARCH.to_string());
        }
        Ok(Spin {
            name: path
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            path: Some(path.to_path_buf()),
            targets,
            stages: strings(scope.get_value("STAGES")),
            overlays: strings(scope.get_value("OVERLAYS"))
                .iter()
                .map(|dir| root.join(dir))
                .collect(),
            flags,
            overrides,
            packages: scope
                .get_value::<Map>("PACKAGES")
                .unwrap_or_default()
                .into_iter()
                .map(|(stage, names)| (stage.to_string(), strings(Some(names))))
                .collect(),
            base: scope.get_value::<String>("BASE"),
            declared: scope
                .iter()
                .map(|(name, _, _)| name.to_string())
                .filter(|name| crate::recipe::is_declaration(name))
                .collect(),
            added: SpinChanges::read(&scope, "ADD", root),
            removed: SpinChanges::read(&scope, "REMOVE", root),
        })
    }

    /// The declarations a spin replaces in one recipe, if any.
    pub fn override_for(&self, stage: &str, name: &str) -> Option<Map> {
        let qualified = format!("{stage}/{name}");
        self.overrides
            .get(qualified.as_str())
            .or_else(|| self.overrides.get(name))
            .and_then(|value| value.clone().try_cast::<Map>())
    }

    /// Applies the spin's flag changes to a target's data.
    pub fn apply_flags(&self, data: &mut Map) {
        for flag in FLAG_NAMES {
            let mut list: Vec<Dynamic> = data
                .get(flag)
                .and_then(|value| value.clone().into_array().ok())
                .unwrap_or_default();
            let change = |kind: &str| {
                self.flags
                    .get(kind)
                    .and_then(|value| value.clone().try_cast::<Map>())
                    .and_then(|map| map.get(flag).cloned())
                    .and_then(|value| value.into_array().ok())
                    .unwrap_or_default()
            };
            let removed: Vec<String> = change("remove")
                .iter()
                .map(|item| item.to_string())
                .collect();
            list.retain(|item| !removed.contains(&item.to_string()));
            list.extend(change("add"));
            data.insert(flag.into(), Dynamic::from(list));
        }
    }
}

/// Each upper-case name the script sets must be a spin declaration, of its type: a typo
/// would otherwise be a spin that silently does less than it says.
fn check_declarations(scope: &Scope, problems: &mut Problems) {
    for (name, _, value) in scope.iter() {
        if !crate::recipe::is_declaration(name) {
            continue;
        }
        if !DECLARATIONS.contains(&name) {
            let help = crate::suggest::closest(name, &DECLARATIONS)
                .map(|guess| format!("did you mean {guess}?"));
            problems.add(name, None, format!("unknown spin declaration {name}"), help);
            continue;
        }
        if !has_its_type(name, &value) {
            problems.add(
                name,
                None,
                format!("{name} has the wrong type ({})", value.type_name()),
                None,
            );
        }
    }
}

/// Whether a spin declaration's value has the shape the spin reads it as.
fn has_its_type(name: &str, value: &Dynamic) -> bool {
    let all_strings = |items: &Array| items.iter().all(Dynamic::is_string);
    match name {
        "TARGETS" | "STAGES" | "OVERLAYS" => value
            .read_lock::<Array>()
            .is_some_and(|items| all_strings(&items)),
        "FLAGS" | "OVERRIDES" | "ADD" | "REMOVE" => value.is_map(),
        "PACKAGES" => value.read_lock::<Map>().is_some_and(|stages| {
            stages.values().all(|names| {
                names
                    .read_lock::<Array>()
                    .is_some_and(|items| all_strings(&items))
            })
        }),
        _ => value.is_string(),
    }
}

/// FLAGS may only add to or remove from the flag lists a target has; anything else would
/// be ignored by `apply_flags`, so it is an error here.
fn check_flags(flags: &Map, problems: &mut Problems) {
    for (change, value) in flags {
        if change != "add" && change != "remove" {
            problems.add(
                "FLAGS",
                Some(change.as_str()),
                format!("FLAGS.{change}: expected `add` or `remove`"),
                None,
            );
            continue;
        }
        for (flag, _) in value.clone().try_cast::<Map>().unwrap_or_default() {
            if !FLAG_NAMES.contains(&flag.as_str()) {
                problems.add(
                    "FLAGS",
                    Some(flag.as_str()),
                    format!(
                        "FLAGS.{change}.{flag}: expected one of {}",
                        FLAG_NAMES.join(", ")
                    ),
                    None,
                );
            }
        }
    }
}

/// Each override replaces declarations of a recipe, so it must be a map of them.
fn check_overrides(overrides: &Map, problems: &mut Problems) {
    for (recipe, value) in overrides {
        if !value.is_map() {
            problems.add(
                "OVERRIDES",
                Some(recipe.as_str()),
                format!("OVERRIDES.{recipe} must be a map of declarations"),
                None,
            );
        }
    }
}
