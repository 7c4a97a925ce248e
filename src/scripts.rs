use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rhai::module_resolvers::ModuleResolver;
use rhai::{Dynamic, Engine, EvalAltResult, FnAccess, Module, Position, Scope, Shared, AST};

use crate::error::{Error, Result};
use crate::limits::{
    MAX_ARRAY_SIZE, MAX_CALL_LEVELS, MAX_EXPRESSION_DEPTH, MAX_MAP_SIZE, MAX_MODULES,
    MAX_OPERATIONS, MAX_STRING_SIZE,
};
use crate::script::Script;
use crate::script_error::ScriptError;
use crate::signatures::{Kind, Signatures};

/// The phases of a build, in the order they run.
pub const PHASES: [&str; 4] = ["setup", "build", "check", "install"];

/// The modules named by `import "..."` statements in a script.
pub fn imports_of(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        let Some(rest) = line.strip_prefix("import") else {
            continue;
        };
        let rest = rest.trim_start();
        let Some(rest) = rest.strip_prefix('"') else {
            continue;
        };
        if let Some(end) = rest.find('"') {
            let name = rest[..end].to_string();
            if !found.contains(&name) {
                found.push(name);
            }
        }
    }
    found
}

/// The Rhai engine with serpent's API and the stdlib modules, compiled once at start-up.
pub struct Scripts {
    pub engine: Engine,
    pub root: PathBuf,
    stdlib: Arc<Stdlib>,
    /// serpent's own functions, and with them the engine's standard ones (listed when needed).
    own: OnceLock<Signatures>,
    standard: OnceLock<Signatures>,
}

/// A stdlib module and what the tool needs to know about it.
pub struct StdlibModule {
    pub module: Shared<Module>,
    /// Names of the functions that take one argument: the phases a build style offers.
    pub phases: Vec<String>,
    pub bytes: Vec<u8>,
    /// The compiled module, for checking its calls.
    pub ast: AST,
    /// The stdlib modules this one imports.
    pub imports: Vec<String>,
    /// Each function's signature and its doc comment, for `serpent api`.
    pub functions: Vec<(String, String)>,
    /// The functions other scripts may call, with their parameter names.
    pub callable: Vec<(String, Vec<String>)>,
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
            .set_max_operations(2 * MAX_OPERATIONS)
            .set_max_call_levels(2 * MAX_CALL_LEVELS)
            .set_max_expr_depths(MAX_EXPRESSION_DEPTH, MAX_EXPRESSION_DEPTH)
            .set_max_string_size(2 * MAX_STRING_SIZE)
            .set_max_array_size(2 * MAX_ARRAY_SIZE)
            .set_max_map_size(2 * MAX_MAP_SIZE)
            .set_max_modules(MAX_MODULES)
            .set_module_resolver(StdlibResolver(stdlib.clone()));
        engine.disable_symbol("eval");
        engine.on_print(|text| eprintln!("{text}"));
        engine.on_debug(|text, source, position| {
            eprintln!("{}:{position}: {text}", source.unwrap_or("script"))
        });
        crate::context::register_api(&mut engine);
        stop_runaways(&mut engine);
        explain_wrong_arguments(&mut engine);

        let scripts = Scripts {
            own: OnceLock::new(),
            standard: OnceLock::new(),
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

    /// The functions serpent registers: the `ctx` methods and properties.
    pub fn signatures(&self) -> &Signatures {
        // Listing them takes a few milliseconds, which a build with nothing to do need not spend.
        self.own.get_or_init(|| Signatures::of(&self.engine, false))
    }

    /// Every function a script can call without importing anything.
    pub fn standard_functions(&self) -> &Signatures {
        self.standard
            .get_or_init(|| Signatures::of(&self.engine, true))
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
                    .any(|phase| PHASES.contains(&phase.as_str()))
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

    /// Reads and compiles a script file; syntax errors point at their line and column.
    pub fn compile(&self, path: &Path) -> Result<Script> {
        self.compile_in(path, &Scope::new())
    }

    /// Reads and compiles a script that may use the constants of `scope` (a recipe's `STAGE`).
    pub fn compile_in(&self, path: &Path, scope: &Scope) -> Result<Script> {
        let name = self.source_name(path);
        let text =
            std::fs::read_to_string(path).map_err(|error| Error::io("cannot read", path, error))?;
        let mut ast = self
            .engine
            .compile_with_scope(scope, &text)
            .map_err(|error| ScriptError::parse(&self.root, &name, &error))?;
        ast.set_source(name.as_str());
        Ok(Script {
            name,
            path: path.to_path_buf(),
            text: text.into(),
            ast,
        })
    }

    /// Runs a script's top level, returning the scope with everything it declared.
    pub fn evaluate(&self, ast: &AST, name: &str) -> Result<Scope<'static>> {
        self.evaluate_in(ast, name, Scope::new())
    }

    /// Runs a script's top level with the constants of `scope` given.
    pub fn evaluate_in(
        &self,
        ast: &AST,
        name: &str,
        mut scope: Scope<'static>,
    ) -> Result<Scope<'static>> {
        self.engine
            .run_ast_with_scope(&mut scope, ast)
            .map_err(|error| ScriptError::eval(&self.root, name, &error, true))?;
        Ok(scope)
    }
}

/// Rhai answers a call of a function with arguments of the wrong kinds with "Function not
/// found" and the types it was given; this says which forms exist instead.
#[allow(deprecated)] // rhai marks the missing-function hook as subject to change
fn explain_wrong_arguments(engine: &mut Engine) {
    // Listing the engine's functions takes a moment: only a failing call needs them.
    let known = OnceLock::new();
    // The hook also runs when a function that was found fails; what it keeps is used only if
    // the error that follows is "Function not found" for this name.
    engine.on_missing_function(move |name, args, _, context| {
        // A function that was called has taken its arguments, leaving `()` behind: such an
        // argument tells nothing.
        let given: Vec<Option<Kind>> = args
            .iter()
            .map(|arg| Kind::of_value(arg).filter(|kind| *kind != Kind::Unit))
            .collect();
        let known = known.get_or_init(|| Signatures::of(context.engine(), true));
        if let Some(mismatch) = known.mismatch(name, &given) {
            // Rhai's own error, raised next, carries the position and the calls that led here.
            let explanation = format!("{}\n{}", mismatch.message, forms_list(&mismatch.forms));
            crate::script_error::explain_missing_function(name, explanation);
        }
        Ok(None)
    });
}

/// The forms of a function, one per line, for a message.
pub fn forms_list(forms: &[String]) -> String {
    let mut text = String::from("its forms:");
    for form in forms {
        text.push_str("\n  ");
        text.push_str(form);
    }
    text
}

/// Stops a runaway script where it is. The engine's own limits (set at twice these) raise
/// errors that lose their position on the way out of each function, so the script is stopped
/// at the next variable it reads once it passes one of these, with a normal error that keeps
/// the line, column and call chain. A loop that reads no variable at all still meets the
/// engine's limit.
#[allow(deprecated)] // rhai marks the variable hook as subject to change
fn stop_runaways(engine: &mut Engine) {
    engine.on_var(|name, _, context| {
        let operations = context.global_runtime_state().num_operations;
        let problem = if operations > MAX_OPERATIONS {
            Some(EvalAltResult::ErrorTooManyOperations(Position::NONE))
        } else if context.call_level() > MAX_CALL_LEVELS {
            Some(EvalAltResult::ErrorStackOverflow(Position::NONE))
        } else {
            context.scope().get(name).and_then(too_large)
        };
        match problem {
            // Raised as the script's own error, so that it keeps the place it was raised at.
            Some(problem) => Err(Box::new(EvalAltResult::ErrorRuntime(
                crate::script_error::limit_message(&problem).into(),
                Position::NONE,
            ))),
            None => Ok(None),
        }
    });
}

/// Whether a value is past a size limit, looking only at its own length (so the check costs
/// the same however big the value is).
fn too_large(value: &Dynamic) -> Option<EvalAltResult> {
    // A value captured by a closure is shared behind a lock the script may hold; the engine's
    // own limit covers it.
    if value.is_shared() {
        return None;
    }
    let what = if value
        .as_immutable_string_ref()
        .is_ok_and(|text| text.len() > MAX_STRING_SIZE)
    {
        "Length of string"
    } else if value
        .as_array_ref()
        .is_ok_and(|items| items.len() > MAX_ARRAY_SIZE)
    {
        "Size of array"
    } else if value.as_map_ref().is_ok_and(|map| map.len() > MAX_MAP_SIZE) {
        "Size of object map"
    } else {
        return None;
    };
    Some(EvalAltResult::ErrorDataTooLarge(
        what.to_string(),
        Position::NONE,
    ))
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
        let callable = callable_functions(&ast);
        let mut module =
            Module::eval_ast_as_new(Scope::new(), &ast, engine).inspect_err(|error| {
                let failure = ScriptError::eval(&stdlib.root, &source_name, error, true);
                stdlib.failure.lock().unwrap().get_or_insert(failure);
            })?;
        module.set_id(source_name.as_str());
        let loaded = Arc::new(StdlibModule {
            module: module.into(),
            phases,
            imports: imports_of(&text),
            functions,
            callable,
            bytes,
            ast: ast.clone(),
        });
        stdlib
            .modules
            .lock()
            .unwrap()
            .insert(name.to_string(), loaded.clone());
        Ok(loaded)
    }
}

/// The functions of a module that other scripts may call, with their parameter names.
fn callable_functions(ast: &AST) -> Vec<(String, Vec<String>)> {
    ast.iter_functions()
        .filter(|function| {
            function.access != FnAccess::Private && !function.name.starts_with("anon$")
        })
        .map(|function| {
            let params = function.params.iter().map(|p| p.to_string()).collect();
            (function.name.to_string(), params)
        })
        .collect()
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
