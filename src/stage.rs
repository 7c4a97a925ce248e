use std::path::{Path, PathBuf};

use rhai::{CallFnOptions, Dynamic, Map, Scope, AST};

use crate::error::{Error, Result};
use crate::problems::Problems;
use crate::script_error::ScriptError;
use crate::scripts::Scripts;
use crate::target::Target;

/// The PATH inside a chroot stage when its ENV does not set one: its own tools first, then
/// the previous stage's at /serpent.
const CHROOT_PATH: &str = "/usr/bin:/bin:/usr/sbin:/sbin:/serpent/usr/bin:/serpent/bin";

const TOOLS: [&str; 7] = ["cc", "cxx", "ar", "ranlib", "nm", "strip", "ld"];
const DECLARATIONS: [&str; 7] = [
    "DESCRIPTION",
    "COMMON_DEPENDS",
    "PREVIOUS",
    "ISOLATION",
    "PREFIX",
    "ROOT",
    "ENV",
];

/// A folder of recipes and the `stage.rhai` that says how they build: which stage comes
/// before it (whose root it sees and whose toolchain it may use), its isolation, its prefix.
pub struct Stage {
    pub name: String,
    pub dir: PathBuf,
    pub path: PathBuf,
    pub prefix: String,
    /// The stage this one builds on, if any.
    pub previous: Option<String>,
    pub isolation: String,
    /// The folder name of the stage's root under `<work>/<target>/<stage>/`.
    pub root: String,
    /// The environment commands start from in a chroot stage (`ENV`), instead of the host's.
    pub env: Map,
    /// What nearly every recipe of the stage depends on (its C library): `serpent new` writes
    /// these into a new recipe's DEPENDS, since a build sees only what it depends on.
    pub common_depends: Vec<String>,
    pub bytes: Vec<u8>,
    /// The stdlib modules the stage script imports: part of every key, like the script.
    pub imports: Vec<String>,
    source_name: String,
    ast: AST,
}

/// What a stage's toolchain may refer to: the roots of this target's stages, and whether the
/// recipe builds in the chroot or (like musl at the start of stage3) on the host.
pub struct Roots<'a> {
    pub root: &'a Path,
    pub previous: Option<&'a Path>,
    /// Every stage of the plan for this target, by name, with its root.
    pub stages: &'a [(String, PathBuf)],
    /// `host` or `chroot`: where this recipe's commands run.
    pub isolation: &'a str,
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
        let (ast, source_name) = scripts.compile(&path)?;
        let scope = scripts.evaluate(&ast, &source_name)?;
        let bytes = std::fs::read(&path).map_err(|error| Error::io("cannot read", &path, error))?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let mut problems = Problems::new(&source_name, &text);
        let text_of = |name: &str, default: &str| {
            scope
                .get_value::<Dynamic>(name)
                .map(|value| value.to_string())
                .unwrap_or_else(|| default.to_string())
        };
        for (name, _, _) in scope.iter() {
            if crate::recipe::is_declaration(name) && !DECLARATIONS.contains(&name) {
                let help = crate::suggest::closest(name, &DECLARATIONS)
                    .map(|guess| format!("did you mean {guess}?"));
                problems.add(
                    name,
                    None,
                    format!("unknown stage declaration {name}"),
                    help,
                );
            }
        }
        let isolation = text_of("ISOLATION", "host");
        if !["host", "chroot"].contains(&isolation.as_str()) {
            problems.add(
                "ISOLATION",
                Some(&isolation),
                format!("ISOLATION must be \"host\" or \"chroot\", not {isolation:?}"),
                None,
            );
        }
        if !ast
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
            previous: Some(text_of("PREVIOUS", "")).filter(|previous| !previous.is_empty()),
            isolation,
            prefix: text_of("PREFIX", "/usr"),
            root: text_of("ROOT", "root"),
            env: scope.get_value::<Map>("ENV").unwrap_or_default(),
            common_depends: scope
                .get_value::<rhai::Array>("COMMON_DEPENDS")
                .unwrap_or_default()
                .iter()
                .map(|name| name.to_string())
                .collect(),
            dir,
            path,
            imports: crate::scripts::imports_of(&text),
            bytes,
            source_name,
            ast,
        })
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

    /// The compiled script, whose functions `serpent explain` tells apart.
    pub fn ast(&self) -> &AST {
        &self.ast
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
        paths.insert("isolation".into(), roots.isolation.into());
        let value: Dynamic = scripts
            .engine
            .call_fn_with_options(
                CallFnOptions::new().eval_ast(true),
                &mut Scope::new(),
                &self.ast,
                "toolchain",
                (target.data.clone(), paths),
            )
            .map_err(|error| ScriptError::eval(&scripts.root, &self.source_name, &error, true))?;
        let tools = value.try_cast::<Map>().unwrap_or_default();
        let missing: Vec<&str> = TOOLS
            .iter()
            .copied()
            .filter(|tool| !tools.get(*tool).is_some_and(|value| value.is_string()))
            .collect();
        if !missing.is_empty() {
            return Err(ScriptError::message(format!(
                "{}: toolchain() must return a map with string fields {}; missing: {}",
                self.source_name,
                TOOLS.join(", "),
                missing.join(", ")
            ))
            .into());
        }
        Ok(tools)
    }
}
