use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex};

use rhai::{
    Array, Dynamic, Engine, EvalAltResult, FuncRegistration, Map, Position, RhaiNativeFunc,
};

use crate::beneath::{Beneath, BeneathError, Scope};
use crate::command::Command;
use crate::command_failure::CommandFailure;
use crate::unpack::{unpack, UnpackOptions};
use crate::widening::Widening;

type ScriptResult<T> = Result<T, Box<EvalAltResult>>;

/// What a recipe's phase functions receive: where things are, the toolchain and flags for the
/// target, and the primitives that do work. Cloning shares the same state.
#[derive(Clone)]
pub struct Context(Arc<Inner>);

/// Told about each phase as it starts, for progress display.
pub type PhaseListener = Box<dyn Fn(&str) + Send + Sync>;

/// The fixed facts of one recipe instance, filled in by the builder.
pub struct Inner {
    pub name: String,
    pub version: String,
    pub stage: String,
    pub target: Map,
    pub host: String,
    pub work_dir: PathBuf,
    pub srcdir: PathBuf,
    pub builddir: PathBuf,
    pub destdir: PathBuf,
    pub prefix: String,
    pub sysroot: PathBuf,
    /// The previous stage's root for this target (empty for the first stage).
    pub previous: PathBuf,
    pub jobs: i64,
    /// Shared by every build of one serpent run, so nested makes never exceed `--jobs`.
    pub jobserver: Option<jobserver::Client>,
    /// Set in a chroot stage: commands run inside it.
    pub sandbox: Option<std::sync::Arc<crate::sandbox::Sandbox>>,
    pub tools: Map,
    pub flags: Map,
    pub declarations: Map,
    pub logs: PathBuf,
    pub env: Mutex<BTreeMap<String, String>>,
    pub phase: Mutex<String>,
    pub on_phase: Option<PhaseListener>,
    /// Echo every command to stderr as it starts (`--verbose`).
    pub verbose: bool,
    pub failure: Mutex<Option<CommandFailure>>,
    /// Set for `serpent env`: each command is written down here with its phase instead of
    /// being run, so a recipe's phases can be followed without building.
    pub recorded: Option<Mutex<Vec<(String, String)>>>,
}

fn fail<T>(message: impl Into<String>) -> ScriptResult<T> {
    Err(Box::new(EvalAltResult::ErrorRuntime(
        message.into().into(),
        Position::NONE,
    )))
}

impl Context {
    pub fn new(inner: Inner) -> Context {
        Context(Arc::new(inner))
    }

    pub fn inner(&self) -> &Inner {
        &self.0
    }

    pub fn set_phase(&self, phase: &str) {
        *self.0.phase.lock().unwrap() = phase.to_string();
        if let Some(on_phase) = &self.0.on_phase {
            on_phase(phase);
        }
    }

    pub fn phase(&self) -> String {
        self.0.phase.lock().unwrap().clone()
    }

    /// The environment commands get now, with what phases set so far.
    pub fn env(&self) -> BTreeMap<String, String> {
        self.0.env.lock().unwrap().clone()
    }

    /// Puts back the environment an interrupted build's finished phases had set.
    pub fn restore_env(&self, saved: &BTreeMap<String, String>) {
        self.0.env.lock().unwrap().extend(
            saved
                .iter()
                .map(|(name, value)| (name.clone(), value.clone())),
        );
    }

    pub fn log_path(&self) -> PathBuf {
        self.0.logs.join(format!("{}.log", self.phase()))
    }

    /// The structured failure behind the last script error, if a command caused it.
    pub fn take_failure(&self) -> Option<CommandFailure> {
        self.0.failure.lock().unwrap().take()
    }

    /// Relative paths are taken from the build directory, where commands run by default.
    fn resolve(&self, path: &str) -> PathBuf {
        normalize(&self.0.builddir.join(path))
    }

    /// Scripts may read anywhere but only change files inside the work dir.
    fn writable(&self, path: &str) -> ScriptResult<PathBuf> {
        let resolved = self.resolve(path);
        if resolved.starts_with(&self.0.work_dir) {
            Ok(resolved)
        } else {
            fail(format!(
                "refusing to change {}: recipes may only change files inside the work dir {}",
                resolved.display(),
                self.0.work_dir.display()
            ))
        }
    }

    fn command(&self, argv: Array, options: Map) -> ScriptResult<Command> {
        let argv: Vec<String> = argv.into_iter().map(|arg| arg.to_string()).collect();
        if argv.is_empty() {
            return fail("cannot run an empty command");
        }
        let mut command = Command {
            argv,
            env: self.0.env.lock().unwrap().clone(),
            cwd: self.0.builddir.clone(),
            jobserver: self.0.jobserver.clone(),
            sandbox: self.0.sandbox.clone(),
            running: None,
        };
        for (key, value) in options {
            match key.as_str() {
                "cwd" => command.cwd = self.resolve(&value.to_string()),
                "env" => {
                    let Some(env) = value.try_cast::<Map>() else {
                        return fail("option env must be a map of variable names to values");
                    };
                    for (name, value) in env {
                        if value.is_unit() {
                            command.env.remove(name.as_str());
                        } else {
                            command.env.insert(name.to_string(), value.to_string());
                        }
                    }
                }
                other => {
                    return fail(format!(
                        "unknown option `{other}` for a command; known options: cwd, env"
                    ))
                }
            }
        }
        Ok(command)
    }

    fn failed(&self, command: &Command, failed: crate::command::Failed) -> Box<EvalAltResult> {
        let failure = CommandFailure {
            recipe: self.0.name.clone(),
            phase: self.phase(),
            command: command.display(),
            status: failed.status.clone(),
            log: self.log_path(),
            tail: failed.tail,
            undeclared: Vec::new(),
            location: None,
        };
        let message = format!("`{}` {}", failure.command, failure.status);
        *self.0.failure.lock().unwrap() = Some(failure);
        Box::new(EvalAltResult::ErrorRuntime(message.into(), Position::NONE))
    }

    /// Writes the command down instead of running it when the context only records; the
    /// variables it sets over the phase's environment and a folder other than the build
    /// folder are part of what is written.
    fn record(&self, command: &Command) -> bool {
        let Some(recorded) = &self.0.recorded else {
            return false;
        };
        let base = self.env();
        let mut line = String::new();
        for (name, value) in &command.env {
            if base.get(name) != Some(value) {
                line.push_str(&format!("{name}={} ", crate::command::quote(value)));
            }
        }
        line.push_str(&command.display());
        if command.cwd != self.0.builddir {
            line.push_str(&format!("  (in {})", command.cwd.display()));
        }
        recorded.lock().unwrap().push((self.phase(), line));
        true
    }

    fn run(&mut self, argv: Array, options: Map) -> ScriptResult<()> {
        let command = self.command(argv, options)?;
        if self.record(&command) {
            return Ok(());
        }
        if self.0.verbose {
            eprintln!("{}: $ {}", self.0.name, command.display());
        }
        command
            .run(&self.log_path())
            .map_err(|failed| self.failed(&command, failed))
    }

    fn output(&mut self, argv: Array, options: Map) -> ScriptResult<String> {
        let command = self.command(argv, options)?;
        if self.record(&command) {
            return Ok(String::new());
        }
        command
            .capture(&self.log_path())
            .map(|text| text.trim_end().to_string())
            .map_err(|failed| self.failed(&command, failed))
    }

    fn shell(&mut self, script: &str, options: Map) -> ScriptResult<()> {
        let argv = vec!["sh".into(), "-c".into(), script.into()];
        self.run(argv, options)
    }

    fn make(&mut self, args: Array) -> ScriptResult<()> {
        // Under the jobserver, make takes its jobs from the shared pool; an explicit -j would
        // make it start a pool of its own.
        let mut argv: Array = match &self.0.jobserver {
            Some(_) => vec!["make".into()],
            None => vec!["make".into(), format!("-j{}", self.0.jobs).into()],
        };
        argv.extend(args);
        self.run(argv, Map::new())
    }

    /// Ninja does not take part in a jobserver, so it gets as many jobs as there are slots
    /// free right now (plus the one this build holds), and one more each time another slot
    /// comes free while it runs (see [`crate::widening`]); they are returned when it ends.
    fn ninja(&mut self, args: Array) -> ScriptResult<()> {
        let Some(client) = self.0.jobserver.clone() else {
            let mut argv: Array = vec!["ninja".into(), format!("-j{}", self.0.jobs).into()];
            argv.extend(args);
            return self.run(argv, Map::new());
        };
        let wanted = (self.0.jobs as usize).saturating_sub(1);
        let mut extra = crate::widening::free_slots(&client, wanted);
        loop {
            let mut argv: Array = vec!["ninja".into(), format!("-j{}", extra.len() + 1).into()];
            argv.extend(args.iter().cloned());
            let mut command = self.command(argv, Map::new())?;
            if self.record(&command) {
                return Ok(());
            }
            let running = Arc::new(AtomicU32::new(0));
            command.running = Some(running.clone());
            let widening = (extra.len() < wanted)
                .then(|| Widening::start(&client, running).ok())
                .flatten();
            if self.0.verbose {
                eprintln!("{}: $ {}", self.0.name, command.display());
            }
            let result = command.run(&self.log_path());
            if let Some(slot) = widening.and_then(Widening::end) {
                extra.push(slot);
                self.note_in_log(&format!(
                    "serpent: a job slot came free; ninja starts again with -j{}",
                    extra.len() + 1
                ));
                continue;
            }
            return result.map_err(|failed| self.failed(&command, failed));
        }
    }

    fn note_in_log(&self, line: &str) {
        let log = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.log_path());
        if let Ok(mut log) = log {
            let _ = writeln!(log, "{line}");
        }
    }

    fn setenv(&mut self, name: &str, value: Dynamic) {
        let mut env = self.0.env.lock().unwrap();
        if value.is_unit() {
            env.remove(name);
        } else {
            env.insert(name.to_string(), value.to_string());
        }
    }

    /// A path a recipe changes, resolved physically beneath the work dir: no link in the tree,
    /// absolute or a chain (`a -> .`, `b -> a/a/../../..`), carries the change outside it.
    fn changed(&self, path: &str) -> ScriptResult<Changed> {
        let full = self.0.builddir.join(path);
        let Ok(rel) = full.strip_prefix(&self.0.work_dir) else {
            return fail(format!(
                "refusing to change {}: recipes may only change files inside the work dir {}",
                normalize(&full).display(),
                self.0.work_dir.display()
            ));
        };
        let tree = Beneath::open(&self.0.work_dir, Scope::Contained).or_else(|error| {
            fail(format!(
                "cannot open the work dir {}: {error}",
                self.0.work_dir.display()
            ))
        })?;
        Ok(Changed {
            rel: rel.to_path_buf(),
            full,
            tree,
        })
    }

    fn write(&mut self, path: &str, text: &str) -> ScriptResult<()> {
        let target = self.changed(path)?;
        target.done("write", target.tree.overwrite(&target.rel, text.as_bytes()))
    }

    fn replace(&mut self, path: &str, from: &str, to: &str) -> ScriptResult<()> {
        let target = self.changed(path)?;
        let bytes = target.done("read", target.tree.read(&target.rel))?;
        let Ok(text) = String::from_utf8(bytes) else {
            return fail(format!(
                "replace: {} is not UTF-8 text",
                target.full.display()
            ));
        };
        if !text.contains(from) {
            return fail(format!(
                "replace: {} does not contain {from:?}; the file may have changed upstream",
                target.full.display()
            ));
        }
        let replaced = text.replace(from, to);
        target.done(
            "write",
            target.tree.overwrite(&target.rel, replaced.as_bytes()),
        )
    }

    fn copy(&mut self, from: &str, to: &str) -> ScriptResult<()> {
        let from = self.resolve(from);
        let target = self.changed(to)?;
        copy_tree(&from, &target.tree, &target.rel).or_else(|error| {
            fail(format!(
                "cannot copy {} to {}: {error}",
                from.display(),
                target.full.display()
            ))
        })
    }

    fn symlink(&mut self, target: &str, link: &str) -> ScriptResult<()> {
        let link = self.changed(link)?;
        link.done(
            "create symlink",
            link.tree.symlink(Path::new(target), &link.rel),
        )
    }

    fn remove(&mut self, path: &str) -> ScriptResult<()> {
        let target = self.changed(path)?;
        target.done("remove", target.tree.remove(&target.rel))
    }

    fn mkdir(&mut self, path: &str) -> ScriptResult<()> {
        let target = self.changed(path)?;
        target.done("create directory", target.tree.create_dir_all(&target.rel))
    }

    fn glob(&mut self, pattern: &str) -> ScriptResult<Array> {
        let pattern = self.resolve(pattern);
        let paths = match glob::glob(&pattern.to_string_lossy()) {
            Ok(paths) => paths,
            Err(error) => return fail(format!("bad glob pattern {}: {error}", pattern.display())),
        };
        let mut found: Vec<String> = paths
            .filter_map(Result::ok)
            .map(|path| path.to_string_lossy().into_owned())
            .collect();
        found.sort();
        Ok(found.into_iter().map(Dynamic::from).collect())
    }

    /// The full path of a program, looked up in the PATH that commands get: inside a chroot
    /// stage, in the chroot's view of the files, giving the path as commands there see it.
    fn which(&mut self, program: &str) -> ScriptResult<String> {
        if program.contains('/') {
            return Ok(program.to_string());
        }
        let path = self
            .0
            .env
            .lock()
            .unwrap()
            .get("PATH")
            .cloned()
            .unwrap_or_default();
        let sandbox = self.0.sandbox.clone();
        let seen_from_here = |candidate: &Path| match &sandbox {
            // An absolute symlink inside (sh -> /serpent/usr/bin/sh) means nothing on the host,
            // so any entry counts there.
            Some(sandbox) => sandbox
                .host_path(candidate)
                .is_some_and(|path| path.symlink_metadata().is_ok()),
            None => candidate.is_file(),
        };
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|candidate| seen_from_here(candidate))
            .map(|found| path_string(&found))
            .map_or_else(
                || fail(format!("{program} was not found in PATH={path}")),
                Ok,
            )
    }

    fn exists(&mut self, path: &str) -> bool {
        self.resolve(path).symlink_metadata().is_ok()
    }

    fn unpack(&mut self, archive: &str, dest: &str, options: Map) -> ScriptResult<()> {
        let archive = self.resolve(archive);
        let dest = self.writable(dest)?;
        let mut unpack_options = UnpackOptions::default();
        for (key, value) in options {
            match key.as_str() {
                "strip" => match value.as_int() {
                    Ok(strip) if strip >= 0 => unpack_options.strip = strip as usize,
                    _ => return fail("option strip must be a number of path components"),
                },
                "only" => match value.try_cast::<Array>() {
                    Some(paths) => {
                        unpack_options.only = paths.iter().map(|path| path.to_string()).collect()
                    }
                    None => return fail("option only must be an array of paths"),
                },
                other => {
                    return fail(format!(
                        "unknown option `{other}` for unpack; known options: strip, only"
                    ))
                }
            }
        }
        match unpack(&archive, &dest, &unpack_options) {
            Ok(_) => Ok(()),
            Err(error) => fail(error.to_string()),
        }
    }

    fn patch(&mut self, file: &str, options: Map) -> ScriptResult<()> {
        let file = self.resolve(file);
        let mut strip = 1;
        let mut dir = self.0.srcdir.clone();
        for (key, value) in options {
            match key.as_str() {
                "strip" => match value.as_int() {
                    Ok(level) if level >= 0 => strip = level as usize,
                    _ => return fail("option strip must be a number of path components"),
                },
                "dir" => dir = self.writable(&value.to_string())?,
                other => {
                    return fail(format!(
                        "unknown option `{other}` for patch; known options: strip, dir"
                    ))
                }
            }
        }
        let bytes = io("read", &file, std::fs::read(&file))?;
        let summary = match crate::patch::apply_patch(&bytes, &file.to_string_lossy(), &dir, strip)
        {
            Ok(summary) => summary,
            Err(error) => return fail(error.to_string()),
        };
        // What GNU patch would say, offsets included, goes to the phase's log.
        let mut report = String::new();
        for line in &summary.log {
            report.push_str(line);
            report.push('\n');
        }
        let log = self.log_path();
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .and_then(|mut file| std::io::Write::write_all(&mut file, report.as_bytes()));
        io("write", &log, appended)
    }

    fn field(map: &Map, key: &str) -> Dynamic {
        map.get(key).cloned().unwrap_or(Dynamic::UNIT)
    }
}

/// A path a recipe's file function changes: `rel` beneath the work dir `tree`, shown as `full`.
struct Changed {
    tree: Beneath,
    rel: PathBuf,
    full: PathBuf,
}

impl Changed {
    fn done<T>(&self, action: &str, result: Result<T, BeneathError>) -> ScriptResult<T> {
        result.or_else(|error| fail(format!("cannot {action} {}: {error}", self.full.display())))
    }
}

fn io<T>(action: &str, path: &Path, result: std::io::Result<T>) -> ScriptResult<T> {
    result.or_else(|error| fail(format!("cannot {action} {}: {error}", path.display())))
}

/// Lexically resolves `.` and `..` so that containment checks see the real destination.
pub fn normalize(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    normal
}

/// Copies a file, a symlink (as a symlink) or a folder with all it holds from `from` to `rel`
/// beneath `into`. Links inside the copied tree are copied as links, never followed, so the
/// copy reads nothing outside it; what is written is resolved beneath `into`, and a file
/// replaces a link of its name (busybox's applet links, say) rather than writing through it.
pub fn copy_tree(from: &Path, into: &Beneath, rel: &Path) -> std::io::Result<()> {
    let meta = from.symlink_metadata()?;
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(from)?;
        Ok(into.symlink(&target, rel)?)
    } else if meta.is_dir() {
        into.create_dir_all(rel)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), into, &rel.join(entry.file_name()))?;
        }
        Ok(())
    } else if meta.is_file() {
        let mut source = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(from)?;
        let mode = meta.permissions().mode() & 0o7777;
        let mut copy = into.create_file(rel, mode)?;
        std::io::copy(&mut source, &mut copy)?;
        copy.set_permissions(std::fs::Permissions::from_mode(mode))
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{} is neither a file, a folder nor a symlink",
                from.display()
            ),
        ))
    }
}

/// Registers a function with its documentation, so `serpent api` can describe it.
fn register<A: 'static, const N: usize, const X: bool, R, const F: bool, FUNC>(
    engine: &mut Engine,
    name: &str,
    params: &[&str],
    doc: &str,
    func: FUNC,
) where
    R: Clone + Send + Sync + 'static,
    FUNC: RhaiNativeFunc<A, N, X, R, F> + Send + Sync + 'static,
{
    let comments: Vec<String> = doc.lines().map(|line| format!("/// {line}")).collect();
    FuncRegistration::new(name)
        .with_params_info(params)
        .with_comments([comments.join("\n")])
        .register_into_engine(engine, func);
}

/// A read-only property of the context.
fn property<R, FUNC>(engine: &mut Engine, name: &str, kind: &str, doc: &str, func: FUNC)
where
    R: Clone + Send + Sync + 'static,
    FUNC: Fn(&mut Context) -> R + Send + Sync + 'static,
{
    let getter = format!("get${name}");
    register(engine, &getter, &["ctx: &mut Context", kind], doc, func);
}

fn path_string(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Makes the `Context` type and its API known to the engine.
pub fn register_api(engine: &mut Engine) {
    engine.register_type_with_name::<Context>("Context");
    register_recipe_properties(engine);
    register_place_properties(engine);
    register_toolchain_properties(engine);
    register_build_state_properties(engine);
    register_command_functions(engine);
    register_file_functions(engine);
    register_lookup_functions(engine);
    register_source_functions(engine);
}

/// What is built, in which stage and for which machines: the facts a recipe branches on.
fn register_recipe_properties(engine: &mut Engine) {
    property(engine, "name", "String", "The recipe's NAME.", |c| {
        c.0.name.clone()
    });
    property(engine, "version", "String", "The recipe's VERSION.", |c| {
        c.0.version.clone()
    });
    property(
        engine,
        "stage",
        "String",
        "The stage this recipe builds in, e.g. `stage1`.",
        |c| c.0.stage.clone(),
    );
    property(engine, "target", "Map", "The target script's data: arch, triple, llvm_arch, kernel_arch, musl_arch, cflags, cxxflags, ldflags, qemu.", |c| c.0.target.clone());
    property(
        engine,
        "triple",
        "String",
        "The target triple, e.g. `x86_64-serpent-linux-musl`.",
        |c| Context::field(&c.0.target, "triple"),
    );
    property(
        engine,
        "arch",
        "String",
        "The target's architecture name, e.g. `aarch64`.",
        |c| Context::field(&c.0.target, "arch"),
    );
    property(
        engine,
        "host",
        "String",
        "The triple of the machine running the build (for `--build=`): the target's inside a chroot.",
        |c| c.0.host.clone(),
    );
}

/// Where the sources, the build and the results are, so that recipes never spell out the
/// work dir's layout.
fn register_place_properties(engine: &mut Engine) {
    property(
        engine,
        "srcdir",
        "String",
        "The unpacked and patched source tree.",
        |c| path_string(&c.0.srcdir),
    );
    property(
        engine,
        "builddir",
        "String",
        "An empty directory for out-of-tree builds; commands run here by default.",
        |c| path_string(&c.0.builddir),
    );
    property(
        engine,
        "destdir",
        "String",
        "Where `install` puts files (the DESTDIR); it becomes the package.",
        |c| path_string(&c.0.destdir),
    );
    property(
        engine,
        "prefix",
        "String",
        "The installation prefix inside the target root, e.g. `/usr`.",
        |c| c.0.prefix.clone(),
    );
    property(
        engine,
        "sysroot",
        "String",
        "The root of this stage for this target, assembled from every finished package.",
        |c| path_string(&c.0.sysroot),
    );
    property(
        engine,
        "file_prefix_map",
        "String",
        "On the host, the flag that keeps the work dir's path out of what a compiler writes (`-ffile-prefix-map=<work dir>=/serpent-work`), for compilers called without stage1's wrappers, which add it themselves; empty inside a chroot.",
        |c| {
            c.0.env
                .lock()
                .unwrap()
                .get(crate::reproducible::PREFIX_MAP_VARIABLE)
                .map(|map| format!("-ffile-prefix-map={map}"))
                .unwrap_or_default()
        },
    );
    property(
        engine,
        "previous",
        "String",
        "The previous stage's root for this target; empty in the first stage.",
        |c| path_string(&c.0.previous),
    );
}

/// The jobs, tools and flags of this build, which come from the stage and target rather than
/// the recipe, so that one recipe builds in every stage.
fn register_toolchain_properties(engine: &mut Engine) {
    property(
        engine,
        "jobs",
        "i64",
        "How many jobs a build may run at once.",
        |c| c.0.jobs,
    );
    for tool in ["cc", "cxx", "ar", "ranlib", "nm", "strip", "ld"] {
        let doc = format!("The toolchain's `{tool}` command line, from the stage's toolchain.");
        property(engine, tool, "String", &doc, move |c| {
            Context::field(&c.0.tools, tool)
        });
    }
    for flag in ["cflags", "cxxflags", "ldflags"] {
        let doc = format!(
            "The target's and stage's {} as one string.",
            flag.to_uppercase()
        );
        property(engine, flag, "String", &doc, move |c| {
            Context::field(&c.0.flags, flag)
        });
    }
}

/// The recipe's declarations and what is running now, for build styles that serve many
/// recipes and phases.
fn register_build_state_properties(engine: &mut Engine) {
    property(engine, "recipe", "Map", "The recipe's declarations in lower case (`configure_args`, `make_args`, `options`, ...), for build styles.", |c| c.0.declarations.clone());
    property(engine, "env", "Map", "The environment commands get.", |c| {
        c.0.env
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.into(), Dynamic::from(v.clone())))
            .collect::<Map>()
    });
    property(
        engine,
        "phase",
        "String",
        "The phase running now: setup, build, check or install.",
        |c| c.phase(),
    );
}

/// Running programs: their output goes to the phase's log, and a failure stops the phase
/// naming the command.
fn register_command_functions(engine: &mut Engine) {
    register(engine, "run", &["ctx: &mut Context", "argv: Array", "()"],
        "Runs a program (argv[0] is looked up in PATH) in the build directory.\nOutput goes to the phase's log; a non-zero exit fails the phase.",
        |c: &mut Context, argv: Array| c.run(argv, Map::new()));
    register(engine, "run", &["ctx: &mut Context", "argv: Array", "options: Map", "()"],
        "Runs a program with options: `cwd` (directory) and `env` (a map; `()` removes a variable).",
        |c: &mut Context, argv: Array, options: Map| c.run(argv, options));
    register(
        engine,
        "shell",
        &["ctx: &mut Context", "script: &str", "()"],
        "Runs a shell script with `sh -c`, for when a pipeline or redirection is really needed.",
        |c: &mut Context, script: &str| c.shell(script, Map::new()),
    );
    register(
        engine,
        "shell",
        &["ctx: &mut Context", "script: &str", "options: Map", "()"],
        "Runs a shell script with `sh -c` and the options of `run`.",
        |c: &mut Context, script: &str, options: Map| c.shell(script, options),
    );
    register(
        engine,
        "output",
        &["ctx: &mut Context", "argv: Array", "String"],
        "Runs a program and returns its standard output without the trailing newline.",
        |c: &mut Context, argv: Array| c.output(argv, Map::new()),
    );
    register(
        engine,
        "output",
        &["ctx: &mut Context", "argv: Array", "options: Map", "String"],
        "Runs a program with the options of `run` and returns its standard output.",
        |c: &mut Context, argv: Array, options: Map| c.output(argv, options),
    );
    register(
        engine,
        "make",
        &["ctx: &mut Context", "args: Array", "()"],
        "Runs `make` with these arguments in the build directory, sharing serpent's job pool.",
        |c: &mut Context, args: Array| c.make(args),
    );
    register(
        engine,
        "ninja",
        &["ctx: &mut Context", "args: Array", "()"],
        "Runs `ninja` with these arguments and as many jobs as serpent's job pool has free.",
        |c: &mut Context, args: Array| c.ninja(args),
    );
    register(
        engine,
        "setenv",
        &["ctx: &mut Context", "name: &str", "value: ?", "()"],
        "Sets a variable for every later command of this recipe; `()` removes it.",
        |c: &mut Context, name: &str, value: Dynamic| c.setenv(name, value),
    );
}

/// Changing files, each resolved beneath the work dir so that no recipe changes the host.
fn register_file_functions(engine: &mut Engine) {
    register(
        engine,
        "write",
        &["ctx: &mut Context", "path: &str", "text: &str", "()"],
        "Writes a file, creating its directory. Relative paths start at the build directory.",
        |c: &mut Context, path: &str, text: &str| c.write(path, text),
    );
    register(
        engine,
        "replace",
        &[
            "ctx: &mut Context",
            "path: &str",
            "from: &str",
            "to: &str",
            "()",
        ],
        "Replaces every occurrence of `from` in a file; fails if there is none.",
        |c: &mut Context, path: &str, from: &str, to: &str| c.replace(path, from, to),
    );
    register(
        engine,
        "copy",
        &["ctx: &mut Context", "from: &str", "to: &str", "()"],
        "Copies a file, a symlink or a whole directory.",
        |c: &mut Context, from: &str, to: &str| c.copy(from, to),
    );
    register(
        engine,
        "symlink",
        &["ctx: &mut Context", "target: &str", "link: &str", "()"],
        "Creates (or replaces) the symlink `link` pointing at `target`.",
        |c: &mut Context, target: &str, link: &str| c.symlink(target, link),
    );
    register(
        engine,
        "remove",
        &["ctx: &mut Context", "path: &str", "()"],
        "Removes a file, symlink or directory tree; nothing to remove is fine.",
        |c: &mut Context, path: &str| c.remove(path),
    );
    register(
        engine,
        "mkdir",
        &["ctx: &mut Context", "path: &str", "()"],
        "Creates a directory and its parents.",
        |c: &mut Context, path: &str| c.mkdir(path),
    );
}

/// Questions about the files and programs there are, so that a recipe can adapt to what its
/// stage holds.
fn register_lookup_functions(engine: &mut Engine) {
    register(
        engine,
        "glob",
        &["ctx: &mut Context", "pattern: &str", "Array"],
        "The sorted paths matching a glob pattern.",
        |c: &mut Context, pattern: &str| c.glob(pattern),
    );
    register(
        engine,
        "exists",
        &["ctx: &mut Context", "path: &str", "bool"],
        "Whether a file, directory or symlink exists.",
        |c: &mut Context, path: &str| c.exists(path),
    );
    register(
        engine,
        "which",
        &["ctx: &mut Context", "program: &str", "String"],
        "The full path of a program in the PATH that commands get; fails if there is none.",
        |c: &mut Context, program: &str| c.which(program),
    );
}

/// Unpacking and patching the way serpent prepares sources, for the archives and patches a
/// recipe handles itself.
fn register_source_functions(engine: &mut Engine) {
    register(
        engine,
        "unpack",
        &["ctx: &mut Context", "archive: &str", "dest: &str", "()"],
        "Unpacks a tarball (gz, xz, bz2, zst or plain) into `dest`.",
        |c: &mut Context, archive: &str, dest: &str| c.unpack(archive, dest, Map::new()),
    );
    register(engine, "unpack", &["ctx: &mut Context", "archive: &str", "dest: &str", "options: Map", "()"],
        "Unpacks a tarball with options: `strip` (leading path components) and `only` (paths to extract).",
        |c: &mut Context, archive: &str, dest: &str, options: Map| c.unpack(archive, dest, options));
    register(
        engine,
        "patch",
        &["ctx: &mut Context", "file: &str", "()"],
        "Applies a unified diff to the source tree with strip level 1; all or nothing.",
        |c: &mut Context, file: &str| c.patch(file, Map::new()),
    );
    register(
        engine,
        "patch",
        &["ctx: &mut Context", "file: &str", "options: Map", "()"],
        "Applies a unified diff with options: `strip` and `dir` (the tree to patch).",
        |c: &mut Context, file: &str, options: Map| c.patch(file, options),
    );
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::copy_tree;
    use crate::beneath::{Beneath, Scope};

    #[test]
    fn copying_a_file_over_a_symlink_replaces_the_link_not_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let (package, root) = (dir.path().join("pkg"), dir.path().join("root"));
        std::fs::create_dir_all(package.join("usr/bin")).unwrap();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::write(package.join("usr/bin/ls"), "coreutils ls").unwrap();
        std::fs::write(root.join("usr/bin/busybox"), "busybox").unwrap();
        std::os::unix::fs::symlink("busybox", root.join("usr/bin/ls")).unwrap();
        // The root's bin is a link into usr, as in a usr-merged root: directories follow it.
        std::os::unix::fs::symlink("usr/bin", root.join("bin")).unwrap();
        std::fs::create_dir_all(package.join("bin")).unwrap();
        std::fs::write(package.join("bin/sh"), "a shell").unwrap();

        let into = Beneath::open(&root, Scope::Contained).unwrap();
        copy_tree(&package, &into, Path::new("")).unwrap();

        assert_eq!(
            std::fs::read_to_string(root.join("usr/bin/busybox")).unwrap(),
            "busybox"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("usr/bin/ls")).unwrap(),
            "coreutils ls"
        );
        assert!(!root
            .join("usr/bin/ls")
            .symlink_metadata()
            .unwrap()
            .is_symlink());
        assert_eq!(
            std::fs::read_to_string(root.join("usr/bin/sh")).unwrap(),
            "a shell"
        );
        assert!(root.join("bin").symlink_metadata().unwrap().is_symlink());
    }

    #[test]
    fn links_in_the_copied_tree_are_copied_and_links_in_the_destination_never_lead_out() {
        let dir = tempfile::tempdir().unwrap();
        let (tree, dest, outside) = (
            dir.path().join("tree"),
            dir.path().join("dest"),
            dir.path().join("outside"),
        );
        for folder in [&tree, &dest, &outside] {
            std::fs::create_dir_all(folder).unwrap();
        }
        std::fs::write(outside.join("secret"), "the host's").unwrap();
        std::os::unix::fs::symlink(&outside, tree.join("escape")).unwrap();
        let into = Beneath::open(&dest, Scope::Contained).unwrap();
        copy_tree(&tree, &into, Path::new("copy")).unwrap();
        assert_eq!(
            std::fs::read_link(dest.join("copy/escape")).unwrap(),
            outside
        );

        // Copying into the copy's link would write to the host: refused, naming the link.
        std::fs::write(tree.join("file"), "x").unwrap();
        let error =
            copy_tree(&tree.join("file"), &into, Path::new("copy/escape/file")).unwrap_err();
        assert!(error.to_string().contains("symlink copy/escape"), "{error}");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1);
    }
}
