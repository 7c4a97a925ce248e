use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rhai::module_resolvers::ModuleResolver;
use rhai::{Engine, EvalAltResult, Module, Position, Scope, Shared, AST};

use crate::error::{Error, Result};
use crate::script_error::ScriptError;

/// Limits that keep a runaway script from hanging or exhausting the machine. They are set
/// explicitly so debug and release builds behave the same.
const MAX_OPERATIONS: u64 = 200_000_000;
const MAX_CALL_LEVELS: usize = 64;
const MAX_EXPRESSION_DEPTH: usize = 64;
const MAX_STRING_SIZE: usize = 16 << 20;
const MAX_ARRAY_SIZE: usize = 1 << 20;
const MAX_MAP_SIZE: usize = 1 << 16;
const MAX_MODULES: usize = 256;

/// The Rhai engine with serpent's API and the stdlib modules, compiled once at start-up.
pub struct Scripts {
    pub engine: Engine,
    pub root: PathBuf,
    stdlib: Arc<Stdlib>,
}

/// A stdlib module and what the tool needs to know about it.
pub struct StdlibModule {
    pub module: Shared<Module>,
    /// Names of the functions that take one argument: the phases a build style offers.
    pub phases: Vec<String>,
    pub bytes: Vec<u8>,
    /// The stdlib modules this one imports.
    pub imports: Vec<String>,
    /// Each function's signature and its doc comment, for `serpent api`.
    pub functions: Vec<(String, String)>,
}

struct Stdlib {
    dir: PathBuf,
    root: PathBuf,
    modules: Mutex<BTreeMap<String, Arc<StdlibModule>>>,
    /// The first load error, kept with its source position so start-up can report it fully.
    failure: Mutex<Option<ScriptError>>,
}

struct StdlibResolver(Arc<Stdlib>);

impl Scripts {
    /// Sets up the engine for the project at `root` and compiles every module in `root/stdlib`.
    pub fn load(root: &Path) -> Result<Scripts> {
        let stdlib = Arc::new(Stdlib {
            dir: root.join("stdlib"),
            root: root.to_path_buf(),
            modules: Mutex::new(BTreeMap::new()),
            failure: Mutex::new(None),
        });
        let mut engine = Engine::new();
        engine
            .set_strict_variables(true)
            .set_fail_on_invalid_map_property(true)
            .set_max_operations(MAX_OPERATIONS)
            .set_max_call_levels(MAX_CALL_LEVELS)
            .set_max_expr_depths(MAX_EXPRESSION_DEPTH, MAX_EXPRESSION_DEPTH)
            .set_max_string_size(MAX_STRING_SIZE)
            .set_max_array_size(MAX_ARRAY_SIZE)
            .set_max_map_size(MAX_MAP_SIZE)
            .set_max_modules(MAX_MODULES)
            .set_module_resolver(StdlibResolver(stdlib.clone()));
        engine.disable_symbol("eval");
        engine.on_print(|text| eprintln!("{text}"));
        engine.on_debug(|text, source, position| {
            eprintln!("{}:{position}: {text}", source.unwrap_or("script"))
        });
        crate::context::register_api(&mut engine);

        let scripts = Scripts {
            engine,
            root: root.to_path_buf(),
            stdlib,
        };
        for name in scripts.stdlib_names()? {
            let resolver = StdlibResolver(scripts.stdlib.clone());
            if let Err(error) = resolver.load(&scripts.engine, &name) {
                let failure = scripts.stdlib.failure.lock().unwrap().take();
                return Err(failure
                    .unwrap_or_else(|| {
                        ScriptError::eval(root, &format!("stdlib/{name}.rhai"), &error, true)
                    })
                    .into());
            }
        }
        Ok(scripts)
    }

    fn stdlib_names(&self) -> Result<Vec<String>> {
        let dir = &self.stdlib.dir;
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(Error::io("cannot read", dir, error)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|error| Error::io("cannot read", dir, error))?
                .path();
            if path.extension().is_some_and(|ext| ext == "rhai") {
                if let Some(stem) = path.file_stem() {
                    names.push(stem.to_string_lossy().into_owned());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    /// A stdlib module by its import name, e.g. `autotools`.
    pub fn module(&self, name: &str) -> Option<Arc<StdlibModule>> {
        self.stdlib.modules.lock().unwrap().get(name).cloned()
    }

    /// Every stdlib module a script depends on through `imports`, directly or not, with the
    /// bytes of each; unknown names are left out (loading the script reports them).
    pub fn import_closure(&self, imports: &[String]) -> Vec<(String, Arc<StdlibModule>)> {
        let mut found: Vec<(String, Arc<StdlibModule>)> = Vec::new();
        let mut pending: Vec<String> = imports.to_vec();
        while let Some(name) = pending.pop() {
            if found.iter().any(|(seen, _)| *seen == name) {
                continue;
            }
            if let Some(module) = self.module(&name) {
                pending.extend(module.imports.iter().cloned());
                found.push((name, module));
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    /// Every loaded stdlib module, by name.
    pub fn modules(&self) -> Vec<(String, Arc<StdlibModule>)> {
        let modules = self.stdlib.modules.lock().unwrap();
        modules
            .iter()
            .map(|(name, module)| (name.clone(), module.clone()))
            .collect()
    }

    /// The stdlib modules that can serve as a build style: those with phase functions.
    pub fn styles(&self) -> Vec<String> {
        let modules = self.stdlib.modules.lock().unwrap();
        modules
            .iter()
            .filter(|(_, module)| {
                module
                    .phases
                    .iter()
                    .any(|phase| crate::recipe::PHASES.contains(&phase.as_str()))
            })
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// How a script is named in messages: relative to the project root when inside it.
    pub fn source_name(&self, path: &Path) -> String {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        absolute
            .strip_prefix(&self.root)
            .unwrap_or(&absolute)
            .to_string_lossy()
            .into_owned()
    }

    /// Compiles a script file; syntax errors point at their line and column.
    pub fn compile(&self, path: &Path) -> Result<(AST, String)> {
        let name = self.source_name(path);
        let text =
            std::fs::read_to_string(path).map_err(|error| Error::io("cannot read", path, error))?;
        let mut ast = self
            .engine
            .compile(&text)
            .map_err(|error| ScriptError::parse(&self.root, &name, &error))?;
        ast.set_source(name.as_str());
        Ok((ast, name))
    }

    /// Runs a script's top level, returning the scope with everything it declared.
    pub fn evaluate(&self, ast: &AST, name: &str) -> Result<Scope<'static>> {
        let mut scope = Scope::new();
        self.engine
            .run_ast_with_scope(&mut scope, ast)
            .map_err(|error| ScriptError::eval(&self.root, name, &error, true))?;
        Ok(scope)
    }
}

impl StdlibResolver {
    fn load(&self, engine: &Engine, name: &str) -> Result<Arc<StdlibModule>, Box<EvalAltResult>> {
        let stdlib = &self.0;
        if let Some(module) = stdlib.modules.lock().unwrap().get(name) {
            return Ok(module.clone());
        }
        let source_name = format!("stdlib/{name}.rhai");
        let path = stdlib.dir.join(format!("{name}.rhai"));
        let not_found = || {
            Box::new(EvalAltResult::ErrorModuleNotFound(
                name.to_string(),
                Position::NONE,
            ))
        };
        if name.contains('/') || name.contains("..") {
            return Err(not_found());
        }
        let bytes = std::fs::read(&path).map_err(|_| not_found())?;
        let text = String::from_utf8_lossy(&bytes);
        let mut ast = match engine.compile(&*text) {
            Ok(ast) => ast,
            Err(error) => {
                let failure = ScriptError::parse(&stdlib.root, &source_name, &error);
                stdlib.failure.lock().unwrap().get_or_insert(failure);
                return Err(Box::new(EvalAltResult::ErrorInModule(
                    name.to_string(),
                    error.into(),
                    Position::NONE,
                )));
            }
        };
        ast.set_source(source_name.as_str());
        let phases = ast
            .iter_functions()
            .filter(|function| function.params.len() == 1)
            .map(|function| function.name.to_string())
            .collect();
        let mut functions: Vec<(String, String)> = ast
            .iter_functions()
            .filter(|function| !function.name.starts_with("anon$"))
            .map(|function| {
                let doc = function
                    .comments
                    .iter()
                    .flat_map(|comment| comment.lines())
                    .map(|line| line.trim_start_matches("///").trim())
                    .collect::<Vec<_>>()
                    .join(" ");
                (
                    format!("{name}::{}({})", function.name, function.params.join(", ")),
                    doc,
                )
            })
            .collect();
        functions.sort();
        let mut module =
            Module::eval_ast_as_new(Scope::new(), &ast, engine).inspect_err(|error| {
                let failure = ScriptError::eval(&stdlib.root, &source_name, error, true);
                stdlib.failure.lock().unwrap().get_or_insert(failure);
            })?;
        module.set_id(source_name.as_str());
        let loaded = Arc::new(StdlibModule {
            module: module.into(),
            phases,
            imports: crate::recipe::imports_of(&text),
            functions,
            bytes,
        });
        stdlib
            .modules
            .lock()
            .unwrap()
            .insert(name.to_string(), loaded.clone());
        Ok(loaded)
    }
}

impl ModuleResolver for StdlibResolver {
    fn resolve(
        &self,
        engine: &Engine,
        _source: Option<&str>,
        path: &str,
        position: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        self.load(engine, path)
            .map(|loaded| loaded.module.clone())
            .map_err(|mut error| {
                if error.position().is_none() {
                    error.set_position(position);
                }
                error
            })
    }
}
