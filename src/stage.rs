use std::path::{Path, PathBuf};

use rhai::{CallFnOptions, Dynamic, Map, Scope, AST};

use crate::error::{Error, Result};
use crate::recipe::Problems;
use crate::script_error::ScriptError;
use crate::scripts::Scripts;
use crate::target::Target;

const TOOLS: [&str; 7] = ["cc", "cxx", "ar", "ranlib", "nm", "strip", "ld"];

/// A folder of recipes and the `stage.rhai` that says how they build.
pub struct Stage {
    pub name: String,
    pub dir: PathBuf,
    pub prefix: String,
    source_name: String,
    ast: AST,
}

impl Stage {
    /// Reads the `stage.rhai` beside a recipe.
    pub fn for_recipe(scripts: &Scripts, recipe: &Path) -> Result<Stage> {
        let dir = std::path::absolute(recipe.parent().unwrap_or(Path::new(".")))
            .map_err(|error| Error::io("cannot resolve", recipe, error))?;
        let path = dir.join("stage.rhai");
        if !path.is_file() {
            return Err(Error::Usage(format!(
                "{} has no stage.rhai: every recipe folder says how its stage builds (see docs/recipes.md)",
                dir.display()
            )));
        }
        let (ast, source_name) = scripts.compile(&path)?;
        let scope = scripts.evaluate(&ast, &source_name)?;
        let text = std::fs::read_to_string(&path)
            .map_err(|error| Error::io("cannot read", &path, error))?;
        let mut problems = Problems::new(&source_name, &text);
        let prefix = scope
            .get_value::<String>("PREFIX")
            .unwrap_or_else(|| "/usr".to_string());
        if !ast
            .iter_functions()
            .any(|function| function.name == "toolchain" && function.params.len() == 2)
        {
            problems.add("", None, "a stage must define `fn toolchain(target, sysroot)` returning a map of cc, cxx, ar, ranlib, nm, strip and ld".into(), None);
        }
        problems.finish()?;
        Ok(Stage {
            name: dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            dir,
            prefix,
            source_name,
            ast,
        })
    }

    /// The commands this stage compiles with for one target.
    pub fn toolchain(&self, scripts: &Scripts, target: &Target, sysroot: &Path) -> Result<Map> {
        let sysroot = sysroot.to_string_lossy().into_owned();
        let value: Dynamic = scripts
            .engine
            .call_fn_with_options(
                CallFnOptions::new().eval_ast(true),
                &mut Scope::new(),
                &self.ast,
                "toolchain",
                (target.data.clone(), sysroot),
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
