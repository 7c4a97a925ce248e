use std::path::{Path, PathBuf};

use std::collections::BTreeMap;
use std::sync::Arc;

use rhai::{Dynamic, Map};
use serde::Deserialize;

use crate::declaration::{optional, Kind, Schema};
use crate::error::{Error, Result};
use crate::problems::Problems;
use crate::project::Project;
use crate::script::Script;
use crate::scripts::Scripts;
use crate::spin_changes::SpinChanges;

const SCHEMA: Schema = Schema {
    what: "spin declaration",
    within: None,
    fields: &[
        optional("DESCRIPTION", Kind::Text, "one line about the spin"),
        optional("TARGETS", Kind::Texts, "target names (default: the host's architecture)"),
        optional("STAGES", Kind::Texts, "the stages to build (default: all)"),
        optional("PACKAGES", Kind::TextsByName, "stage name to the recipes built in it, with what they depend on; a stage not named builds all of its recipes"),
        optional("OVERLAYS", Kind::Texts, "folders laid out like recipes/, relative to the project root, searched before recipes/"),
        optional("FLAGS", Kind::Table, "#{ add: #{ cflags: [..] }, remove: #{ ldflags: [..] } }: changes to every target's flags"),
        optional("OVERRIDES", Kind::Table, "recipe name (or stage/name) to the declarations that replace the recipe's own"),
        optional("BASE", Kind::Text, "the spin this one extends: its declarations hold where this one sets none"),
        optional("ADD", Kind::Table, "what to add to the base's targets, overlays, packages and overrides"),
        optional("REMOVE", Kind::Table, "what to take from the base's targets, overlays, packages and overrides"),
    ],
};

/// A spin script's declarations.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Declared {
    targets: Vec<String>,
    stages: Vec<String>,
    packages: BTreeMap<String, Vec<String>>,
    overlays: Vec<String>,
    flags: FlagChanges,
    overrides: BTreeMap<String, BTreeMap<String, Dynamic>>,
}

/// What a spin adds to and removes from every target's flag lists.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FlagChanges {
    pub add: FlagLists,
    pub remove: FlagLists,
}

/// The flag lists a target has.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FlagLists {
    pub cflags: Vec<String>,
    pub cxxflags: Vec<String>,
    pub ldflags: Vec<String>,
}

impl FlagLists {
    fn of(&self, flag: &str) -> &[String] {
        match flag {
            "cflags" => &self.cflags,
            "cxxflags" => &self.cxxflags,
            _ => &self.ldflags,
        }
    }
}

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
    pub flags: FlagChanges,
    /// Recipe name (or `stage/name`) to the declarations that replace the recipe's own.
    pub overrides: Map,
    /// Stage name to the recipes the spin builds in it (with what they depend on); a stage
    /// not named here builds all of its recipes.
    pub packages: BTreeMap<String, Vec<String>>,
    /// The spin this one extends (`BASE`), as the script names it; `spin_base` merges it in.
    pub base: Option<String>,
    /// The declarations the script sets itself, which replace its base's.
    pub declared: Vec<String>,
    /// `ADD` and `REMOVE`: changes to the base's declarations.
    pub added: SpinChanges,
    pub removed: SpinChanges,
    /// The script it was read from, for pointing into it.
    pub script: Option<Arc<Script>>,
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
        let script = Arc::new(scripts.compile(path)?);
        let scope = scripts.evaluate(&script.ast, &script.name)?;
        let mut problems = Problems::of(&script);
        let read = SCHEMA.read(crate::recipe::declared_in(&scope), &mut problems);
        let declared: Declared = SCHEMA.typed(&read, &mut problems);
        crate::spin_changes::check(&scope, &mut problems);
        problems.finish()?;
        let mut targets = declared.targets;
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
            stages: declared.stages,
            overlays: declared
                .overlays
                .iter()
                .map(|dir| scripts.root.join(dir))
                .collect(),
            flags: declared.flags,
            overrides: declared
                .overrides
                .into_iter()
                .map(|(recipe, declarations)| {
                    let declarations: Map = declarations
                        .into_iter()
                        .map(|(name, value)| (name.into(), value))
                        .collect();
                    (recipe.into(), Dynamic::from(declarations))
                })
                .collect(),
            packages: declared.packages,
            base: scope.get_value::<String>("BASE"),
            declared: crate::recipe::declared_in(&scope)
                .into_iter()
                .map(|(name, _)| name)
                .collect(),
            added: SpinChanges::read(&scope, "ADD", &scripts.root),
            removed: SpinChanges::read(&scope, "REMOVE", &scripts.root),
            script: Some(script.clone()),
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
            let removed = self.flags.remove.of(flag);
            list.retain(|item| !removed.contains(&item.to_string()));
            list.extend(
                self.flags
                    .add
                    .of(flag)
                    .iter()
                    .map(|item| Dynamic::from(item.clone())),
            );
            data.insert(flag.into(), Dynamic::from(list));
        }
    }
}
