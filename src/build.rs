use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use rhai::{CallFnOptions, Dynamic, Map, Scope};

use crate::config::Config;
use crate::context::{copy_tree, Context, Inner};
use crate::error::{Error, Result};
use crate::fetch::Fetcher;
use crate::layout::Layout;
use crate::recipe::{Recipe, PHASES};
use crate::script_error::ScriptError;
use crate::scripts::Scripts;
use crate::stage::Stage;
use crate::suggest::closest;
use crate::target::Target;
use crate::unpack::{unpack, UnpackOptions};

/// Builds recipes for one target: fetch, unpack, patch, phases, then commit the package.
pub struct Builder<'a> {
    pub scripts: &'a Scripts,
    pub config: &'a Config,
    pub fetcher: &'a Fetcher,
    pub target: &'a Target,
}

/// A recipe together with the stage it belongs to.
struct Planned {
    recipe: Recipe,
    stage: Stage,
}

impl Builder<'_> {
    /// Builds the recipe at `path` after the recipes it depends on.
    pub fn run(&self, path: &Path) -> Result<()> {
        let mut order = Vec::new();
        self.plan(path, &mut Vec::new(), &mut order)?;
        for planned in &order {
            for source in &planned.recipe.sources {
                self.fetcher.fetch(&source.url, &source.sha256)?;
            }
        }
        for planned in &order {
            self.build(planned)?;
        }
        Ok(())
    }

    /// Depth-first: dependencies come before the recipes that need them.
    fn plan(&self, path: &Path, chain: &mut Vec<PathBuf>, order: &mut Vec<Planned>) -> Result<()> {
        let path =
            std::path::absolute(path).map_err(|error| Error::io("cannot resolve", path, error))?;
        if let Some(start) = chain.iter().position(|seen| *seen == path) {
            let cycle: Vec<String> = chain[start..]
                .iter()
                .chain(std::iter::once(&path))
                .map(|path| self.scripts.source_name(path))
                .collect();
            return Err(Error::Usage(format!(
                "dependency cycle: {}",
                cycle.join(" -> ")
            )));
        }
        if order.iter().any(|planned| planned.recipe.path == path) {
            return Ok(());
        }
        if !path.is_file() {
            return Err(Error::Usage(format!("no recipe at {}", path.display())));
        }
        let recipe = Recipe::load(self.scripts, &path)?;
        let stage = Stage::for_recipe(self.scripts, &path)?;
        chain.push(path.clone());
        for dependency in &recipe.depends {
            let dependency_path = stage.dir.join(format!("{dependency}.rhai"));
            if !dependency_path.is_file() {
                let known = recipe_names(&stage.dir);
                let names: Vec<&str> = known.iter().map(String::as_str).collect();
                let hint = closest(dependency, &names)
                    .map(|guess| format!("; did you mean `{guess}`?"))
                    .unwrap_or_default();
                return Err(Error::Usage(format!(
                    "{} depends on `{dependency}`, but {} has no {dependency}.rhai{hint}",
                    recipe.source_name,
                    self.scripts.source_name(&stage.dir),
                )));
            }
            self.plan(&dependency_path, chain, order)?;
        }
        chain.pop();
        order.push(Planned { recipe, stage });
        Ok(())
    }

    fn say(&self, message: &str) {
        if !self.config.quiet {
            eprintln!("{message}");
        }
    }

    fn build(&self, planned: &Planned) -> Result<()> {
        let Planned { recipe, stage } = planned;
        let started = Instant::now();
        let layout = Layout::new(
            &self.config.work_dir,
            &self.target.name,
            &stage.name,
            &recipe.name,
        );
        self.say(&format!(
            "==> {} {} ({}, {})",
            recipe.name, recipe.version, self.target.name, stage.name
        ));
        // Whatever a killed or failed run left behind is not trusted.
        let scratch = layout.scratch();
        remove_all(&scratch)?;
        remove_all(&layout.logs())?;
        for dir in [
            layout.srcdir(),
            layout.builddir(),
            layout.destdir(),
            layout.logs(),
            layout.sysroot(),
        ] {
            std::fs::create_dir_all(&dir)
                .map_err(|error| Error::io("cannot create", &dir, error))?;
        }
        self.prepare_sources(recipe, &layout)?;

        let context = self.context(recipe, stage, &layout)?;
        for phase in PHASES {
            self.run_phase(recipe, &context, phase)?;
        }
        self.commit(recipe, &layout)?;
        self.say(&format!(
            "    {} {} done in {:.1}s: {}",
            recipe.name,
            recipe.version,
            started.elapsed().as_secs_f64(),
            layout.package().display()
        ));
        Ok(())
    }

    fn prepare_sources(&self, recipe: &Recipe, layout: &Layout) -> Result<()> {
        let srcdir = layout.srcdir();
        for source in &recipe.sources {
            let fetched = self.fetcher.fetch(&source.url, &source.sha256)?;
            let dest = srcdir.join(&source.dest);
            if source.unpack {
                let options = UnpackOptions {
                    strip: source.strip,
                    only: source.only.clone(),
                };
                unpack(&fetched.path, &dest, &options).map_err(|error| Error::Unpack {
                    context: format!("{}: cannot unpack {}", recipe.name, source.url),
                    source: Box::new(error),
                })?;
            } else {
                let file = dest.join(source.file_name());
                copy_tree(&fetched.path, &file)
                    .map_err(|error| Error::io("cannot copy source to", &file, error))?;
            }
        }
        for patch in &recipe.patches {
            let text = std::fs::read_to_string(&patch.path)
                .map_err(|error| Error::io("cannot read patch", &patch.path, error))?;
            let name = self.scripts.source_name(&patch.path);
            crate::patch::apply_patch(&text, &name, &srcdir, patch.strip).map_err(|error| {
                Error::patch(
                    format!("{}: patch {name} does not apply", recipe.name),
                    "refresh the patch against this version of the source, or drop it; the source tree was left unpatched".to_string(),
                    &name,
                    &text,
                    error,
                )
            })?;
        }
        Ok(())
    }

    fn context(&self, recipe: &Recipe, stage: &Stage, layout: &Layout) -> Result<Context> {
        let sysroot = layout.sysroot();
        let tools = stage.toolchain(self.scripts, self.target, &sysroot)?;
        let mut flags = Map::new();
        for flag in ["cflags", "cxxflags", "ldflags"] {
            flags.insert(flag.into(), Dynamic::from(self.target.flags(flag)));
        }
        let builddir = if recipe.declarations["build_in_source"]
            .as_bool()
            .unwrap_or(false)
        {
            layout.srcdir()
        } else {
            layout.builddir()
        };
        let mut env = BTreeMap::new();
        env.insert(
            "PATH".to_string(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
        );
        env.insert(
            "HOME".to_string(),
            layout.scratch().to_string_lossy().into_owned(),
        );
        env.insert(
            "TMPDIR".to_string(),
            std::env::temp_dir().to_string_lossy().into_owned(),
        );
        env.insert("LC_ALL".to_string(), "C".to_string());
        env.insert("TZ".to_string(), "UTC".to_string());
        env.insert("TERM".to_string(), "dumb".to_string());
        for (tool, variable) in [
            ("cc", "CC"),
            ("cxx", "CXX"),
            ("ar", "AR"),
            ("ranlib", "RANLIB"),
            ("nm", "NM"),
            ("strip", "STRIP"),
            ("ld", "LD"),
        ] {
            env.insert(variable.to_string(), tools[tool].to_string());
        }
        for (flag, variable) in [
            ("cflags", "CFLAGS"),
            ("cxxflags", "CXXFLAGS"),
            ("ldflags", "LDFLAGS"),
        ] {
            env.insert(variable.to_string(), flags[flag].to_string());
        }
        let work_dir = std::path::absolute(&self.config.work_dir)
            .map_err(|error| Error::io("cannot resolve", &self.config.work_dir, error))?;
        Ok(Context::new(Inner {
            name: recipe.name.clone(),
            version: recipe.version.clone(),
            stage: stage.name.clone(),
            target: self.target.data.clone(),
            host: host_triple(),
            work_dir,
            srcdir: layout.srcdir(),
            builddir,
            destdir: layout.destdir(),
            prefix: stage.prefix.clone(),
            sysroot,
            jobs: self.config.jobs as i64,
            tools,
            flags,
            declarations: recipe.declarations.clone(),
            logs: layout.logs(),
            env: Mutex::new(env),
            phase: Mutex::new(String::new()),
            failure: Mutex::new(None),
        }))
    }

    /// Runs one phase: the recipe's own function, else its build style's, else nothing.
    fn run_phase(&self, recipe: &Recipe, context: &Context, phase: &str) -> Result<()> {
        context.set_phase(phase);
        let engine = &self.scripts.engine;
        let result = if recipe.phases.iter().any(|own| own == phase) {
            self.say(&format!("    {phase}"));
            engine
                .call_fn_with_options::<Dynamic>(
                    CallFnOptions::new().eval_ast(true),
                    &mut Scope::new(),
                    &recipe.ast,
                    phase,
                    (context.clone(),),
                )
                .map(drop)
        } else if let Some(style) = &recipe.style {
            let offers = self
                .scripts
                .module(style)
                .is_some_and(|module| module.phases.iter().any(|own| own == phase));
            if !offers {
                return Ok(());
            }
            self.say(&format!("    {phase} ({style})"));
            // A one-line script calls the style's phase, so errors carry the stdlib positions.
            let script = format!("import \"{style}\" as style; style::{phase}(ctx);");
            let mut scope = Scope::new();
            scope.push("ctx", context.clone());
            let mut ast = engine
                .compile_with_scope(&scope, &script)
                .map_err(|error| ScriptError::message(format!("internal: {error}")))?;
            ast.set_source(recipe.source_name.as_str());
            engine.run_ast_with_scope(&mut scope, &ast)
        } else {
            return Ok(());
        };
        result.map_err(|error| {
            let mut location = ScriptError::eval(&self.scripts.root, &recipe.source_name, &error, false);
            if !recipe.phases.iter().any(|own| own == phase) {
                location = location.with_help(format!(
                    "phase {phase} comes from STYLE \"{}\"; define `fn {phase}(ctx)` in the recipe to replace it",
                    recipe.style.as_deref().unwrap_or_default()
                ));
            }
            match context.take_failure() {
                Some(mut failure) => {
                    failure.location = Some(location.into_location());
                    Error::from(failure)
                }
                None => Error::from(location),
            }
        })
    }

    /// Moves the installed files into place as the package, merges them into the stage's
    /// sysroot, and only then writes the record that says the package is built.
    fn commit(&self, recipe: &Recipe, layout: &Layout) -> Result<()> {
        let package = layout.package();
        let record = layout.record();
        let _ = std::fs::remove_file(&record);
        remove_all(&package)?;
        if let Some(parent) = package.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|error| Error::io("cannot create", parent, error))?;
        }
        let destdir = layout.destdir();
        std::fs::rename(&destdir, &package)
            .map_err(|error| Error::io("cannot move into place", &package, error))?;
        let sysroot = layout.sysroot();
        copy_tree(&package, &sysroot)
            .map_err(|error| Error::io("cannot merge into", &sysroot, error))?;
        let description = serde_json::json!({
            "name": recipe.name,
            "version": recipe.version,
            "recipe": recipe.source_name,
            "target": self.target.name,
        });
        if let Some(parent) = record.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|error| Error::io("cannot create", parent, error))?;
        }
        let partial = record.with_extension("json.partial");
        std::fs::write(&partial, format!("{description:#}\n"))
            .and_then(|()| std::fs::rename(&partial, &record))
            .map_err(|error| Error::io("cannot write", &record, error))?;
        remove_all(&layout.scratch())
    }
}

fn remove_all(path: &Path) -> Result<()> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(Error::io("cannot remove", path, error)),
    }
}

/// The recipes in a stage folder, by name.
pub fn recipe_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let stem = path.file_stem()?.to_string_lossy().into_owned();
            (path.extension()? == "rhai" && stem != "stage").then_some(stem)
        })
        .collect();
    names.sort();
    names
}

/// The triple of the machine running serpent, for `--build=` in cross builds.
pub fn host_triple() -> String {
    format!("{}-linux-gnu", std::env::consts::ARCH)
}
