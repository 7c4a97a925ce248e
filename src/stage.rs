use std::path::{Path, PathBuf};

use rhai::{CallFnOptions, Dynamic, Map, Scope};
use serde::Deserialize;

use crate::declaration::{optional, Kind, Schema};
use crate::error::{Error, Result};
use crate::isolation::Isolation;
use crate::problems::Problems;
use crate::recipe::Recipe;
use crate::script::Script;
use crate::script_error::ScriptError;
use crate::scripts::Scripts;
use crate::target::Target;

/// The PATH inside a chroot stage when its ENV does not set one: its own tools first, then
/// the previous stage's at /serpent.
const CHROOT_PATH: &str = "/usr/bin:/bin:/usr/sbin:/sbin:/serpent/usr/bin:/serpent/bin";

const TOOLS: [&str; 7] = ["cc", "cxx", "ar", "ranlib", "nm", "strip", "ld"];
const SCHEMA: Schema = Schema {
    what: "stage declaration",
    within: None,
    fields: &[
        optional("DESCRIPTION", Kind::Text, "one line about the stage"),
        optional("COMMON_DEPENDS", Kind::Texts, "what nearly every recipe of the stage depends on; `serpent new` writes these into DEPENDS"),
        optional("PREVIOUS", Kind::Text, "the stage this one builds on: its root is seen at /serpent in a chroot"),
        optional("ISOLATION", Kind::Text, "\"host\" (the default) or \"chroot\": where the stage's recipes build"),
        optional("PREFIX", Kind::Text, "the install prefix (default /usr)"),
        optional("ROOT", Kind::Text, "the root folder's name under <work>/<target>/<stage>/ (default root)"),
        optional("ENV", Kind::Table, "the environment commands start from in a chroot stage"),
    ],
};

/// A stage script's declarations.
#[derive(Deserialize)]
#[serde(default)]
struct Declared {
    previous: Option<String>,
    isolation: Isolation,
    prefix: String,
    root: String,
    env: std::collections::BTreeMap<String, Dynamic>,
    common_depends: Vec<String>,
}

impl Default for Declared {
    fn default() -> Declared {
        Declared {
            previous: None,
            isolation: Isolation::Host,
            prefix: "/usr".to_string(),
            root: "root".to_string(),
            env: Default::default(),
            common_depends: Vec::new(),
        }
    }
}

/// A folder of recipes and the `stage.rhai` that says how they build: which stage comes
/// before it (whose root it sees and whose toolchain it may use), its isolation, its prefix.
pub struct Stage {
    pub name: String,
    pub dir: PathBuf,
    pub path: PathBuf,
    pub prefix: String,
    /// The stage this one builds on, if any.
    pub previous: Option<String>,
    pub isolation: Isolation,
    /// The folder name of the stage's root under `<work>/<target>/<stage>/`.
    pub root: String,
    /// The environment commands start from in a chroot stage (`ENV`), instead of the host's.
    pub env: Map,
    /// What nearly every recipe of the stage depends on (its C library): `serpent new` writes
    /// these into a new recipe's DEPENDS, since a build sees only what it depends on.
    pub common_depends: Vec<String>,
    /// The script, read once; its text is part of every key of the stage.
    pub script: Script,
    /// The stdlib modules the stage script imports: part of every key, like the script.
    pub imports: Vec<String>,
}

/// What a stage's toolchain may refer to: the roots of this target's stages, and whether the
/// recipe builds in the chroot or (like musl at the start of stage3) on the host.
pub struct Roots<'a> {
    pub root: &'a Path,
    pub previous: Option<&'a Path>,
    /// Every stage of the plan for this target, by name, with its root.
    pub stages: &'a [(String, PathBuf)],
    /// Where this recipe's commands run.
    pub isolation: Isolation,
}

impl Stage {
    /// Reads the `stage.rhai` of a stage folder.
    pub fn load(scripts: &Scripts, dir: &Path) -> Result<Stage> {
        let dir =
            std::path::absolute(dir).map_err(|error| Error::io("cannot resolve", dir, error))?;
        let path = dir.join("stage.rhai");
        if !path.is_file() {
            return Err(Error::Usage(format!(
                "{} has no stage.rhai: every recipe folder says how its stage builds (see docs/recipes.md)",
                dir.display()
            )));
        }
        let script = scripts.compile(&path)?;
        let scope = scripts.evaluate(&script.ast, &script.name)?;
        let mut problems = Problems::of(&script);
        let read = SCHEMA.read(crate::recipe::declared_in(&scope), &mut problems);
        let declared: Declared = SCHEMA.typed(&read, &mut problems);
        if !script
            .ast
            .iter_functions()
            .any(|function| function.name == "toolchain" && function.params.len() == 2)
        {
            problems.add("", None, "a stage must define `fn toolchain(target, roots)` returning a map of cc, cxx, ar, ranlib, nm, strip and ld".into(), None);
        }
        problems.finish()?;
        Ok(Stage {
            name: dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            previous: declared.previous,
            isolation: declared.isolation,
            prefix: declared.prefix,
            root: declared.root,
            env: declared
                .env
                .into_iter()
                .map(|(name, value)| (name.into(), value))
                .collect(),
            common_depends: declared.common_depends,
            dir,
            path,
            imports: crate::scripts::imports_of(&script.text),
            script,
        })
    }

    /// Where a recipe of this stage builds: in a chroot stage, in its chroot unless the recipe
    /// asks for the host (musl, which the chroot's tools need first).
    pub fn isolation_for(&self, recipe: &Recipe) -> Isolation {
        match self.isolation {
            Isolation::Chroot => recipe.isolation.unwrap_or(Isolation::Chroot),
            Isolation::Host => Isolation::Host,
        }
    }

    /// The environment commands start from inside this stage's chroot, for builds and
    /// `serpent shell` alike: the stage's `ENV` over a default PATH, HOME and TMPDIR; nothing of
    /// the host's leaks in.
    pub fn chroot_env(&self) -> std::collections::BTreeMap<String, String> {
        let mut env: std::collections::BTreeMap<String, String> =
            [("PATH", CHROOT_PATH), ("HOME", "/tmp"), ("TMPDIR", "/tmp")]
                .into_iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect();
        for (name, value) in &self.env {
            env.insert(name.to_string(), value.to_string());
        }
        env
    }

    /// The commands this stage compiles with for one target. `roots` is given to the script as
    /// a map with `root`, `previous` (empty when there is no previous stage), `stages` (stage
    /// name to root) and `isolation`.
    pub fn toolchain(&self, scripts: &Scripts, target: &Target, roots: &Roots) -> Result<Map> {
        let mut paths = Map::new();
        paths.insert(
            "root".into(),
            roots.root.to_string_lossy().into_owned().into(),
        );
        paths.insert(
            "previous".into(),
            roots
                .previous
                .map(|path| path.to_string_lossy().into_owned())
                .unwrap_or_default()
                .into(),
        );
        let mut stages = Map::new();
        for (name, root) in roots.stages {
            stages.insert(
                name.as_str().into(),
                root.to_string_lossy().into_owned().into(),
            );
        }
        paths.insert("stages".into(), stages.into());
        paths.insert("isolation".into(), roots.isolation.as_str().into());
        let value: Dynamic = scripts
            .engine
            .call_fn_with_options(
                CallFnOptions::new().eval_ast(true),
                &mut Scope::new(),
                &self.script.ast,
                "toolchain",
                (target.data.clone(), paths),
            )
            .map_err(|error| ScriptError::eval(&scripts.root, &self.script.name, &error, true))?;
        let tools = value.try_cast::<Map>().unwrap_or_default();
        let missing: Vec<&str> = TOOLS
            .iter()
            .copied()
            .filter(|tool| !tools.get(*tool).is_some_and(|value| value.is_string()))
            .collect();
        if !missing.is_empty() {
            return Err(ScriptError::message(format!(
                "{}: toolchain() must return a map with string fields {}; missing: {}",
                self.script.name,
                TOOLS.join(", "),
                missing.join(", ")
            ))
            .into());
        }
        Ok(tools)
    }
}
