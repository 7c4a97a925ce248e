//! `serpent env RECIPE`: what a recipe's phases will get for a target (its toolchain, flags,
//! folders and environment, and the commands its phases and build style would run), as
//! `bitbake -e` shows a recipe's variables, without building anything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::build::Builder;
use crate::cli::EnvFormat;
use crate::context::{Context, Inner};
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::progress::Progress;
use crate::scripts::PHASES;
use crate::session::Session;

/// Told for `SOURCE_DATE_EPOCH`, which only the unpacked sources can say.
const FROM_THE_SOURCES: &str = "(the time of the newest file of the unpacked sources)";

/// A phase's name and one command it runs.
type PhaseCommand = (String, String);

/// What one instance's phases see, as `ctx` gives it to them.
#[derive(Serialize)]
struct Effective {
    id: String,
    recipe: String,
    version: String,
    target: String,
    triple: String,
    host: String,
    stage: String,
    isolation: String,
    stage_root: String,
    sysroot: String,
    previous: String,
    prefix: String,
    srcdir: String,
    builddir: String,
    destdir: String,
    jobs: i64,
    tools: BTreeMap<String, String>,
    flags: BTreeMap<String, String>,
    env: BTreeMap<String, String>,
    depends: Vec<String>,
    /// Each phase's commands, as the recipe and its build style would run them.
    commands: Vec<PhaseCommand>,
    /// Why the phases could not be followed to the end without building, if they could not.
    stopped: Option<String>,
}

/// `serpent env RECIPE [--target T] [--format json]`.
pub fn show(session: &Session, recipe: &Path, format: EnvFormat) -> Result<i32> {
    let project = session.project(&session.spin()?);
    let recipe = session.recipe_path(recipe)?;
    let (recipe, replaced) = crate::overlay::effective(&project, &recipe);
    if let (Some(replaced), false) = (replaced, session.config.quiet) {
        eprintln!("{replaced}");
    }
    let plan = session.plan(Some(&recipe))?;
    let progress = Arc::new(Progress::new(true, false));
    let builder = Builder::new(session, &session.config, &plan, progress)?;
    let mut shown = Vec::new();
    for index in plan.instances_of(&recipe) {
        shown.push(effective(&builder, index)?);
    }
    match format {
        EnvFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&shown).expect("the environment serializes")
        ),
        EnvFormat::Text => shown
            .iter()
            .for_each(|effective| print!("{}", text(effective))),
    }
    Ok(0)
}

/// The context the builder would give the instance's phases, and the commands they run.
fn effective(builder: &Builder, index: usize) -> Result<Effective> {
    let plan = builder.plan;
    let instance = &plan.instances[index];
    let recipe = plan.recipe_of(instance);
    let context = builder.context(recipe, instance, 0)?;
    let inner = context.inner();
    let mut env: BTreeMap<String, String> = context
        .env()
        .into_iter()
        .map(|(name, value)| (name, as_commands_see(inner, &value)))
        .collect();
    env.insert("SOURCE_DATE_EPOCH".into(), FROM_THE_SOURCES.into());
    let (commands, stopped) = follow_phases(builder, index, &context)?;
    let stage = &plan.stages[instance.stage];
    Ok(Effective {
        id: instance.id.clone(),
        recipe: recipe.script.name.clone(),
        version: recipe.version.clone(),
        target: plan.targets[instance.target].name.clone(),
        triple: inner.target["triple"].to_string(),
        host: inner.host.clone(),
        stage: stage.name.clone(),
        isolation: if inner.sandbox.is_some() {
            "in a chroot"
        } else {
            "on the host"
        }
        .into(),
        // The stage's whole root, which builds see only through their view (the sysroot).
        stage_root: instance.layout.root().to_string_lossy().into_owned(),
        sysroot: place(inner, &inner.sysroot),
        previous: place(inner, &inner.previous),
        prefix: inner.prefix.clone(),
        srcdir: place(inner, &inner.srcdir),
        builddir: place(inner, &inner.builddir),
        destdir: place(inner, &inner.destdir),
        jobs: inner.jobs,
        tools: texts(&inner.tools),
        flags: texts(&inner.flags),
        env,
        depends: dependencies(plan, index),
        commands,
        stopped,
    })
}

/// A folder as `ctx` gives it, and in a chroot stage where commands find it inside.
fn place(inner: &Inner, path: &Path) -> String {
    let host = path.to_string_lossy().into_owned();
    match &inner.sandbox {
        Some(sandbox) if !host.is_empty() => {
            format!("{host} (in the chroot: {})", sandbox.map_path(&host))
        }
        _ => host,
    }
}

/// Text as commands see it: in a chroot stage, with host paths mapped to their place inside.
fn as_commands_see(inner: &Inner, text: &str) -> String {
    match &inner.sandbox {
        Some(sandbox) => sandbox.map_path(text),
        None => text.to_string(),
    }
}

fn texts(map: &rhai::Map) -> BTreeMap<String, String> {
    map.iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

fn dependencies(plan: &Plan, index: usize) -> Vec<String> {
    plan.instances[index]
        .deps
        .iter()
        .map(|dep| plan.instances[*dep].id.clone())
        .collect()
}

/// Runs the phases with a context that writes its commands down instead of running them,
/// and whose files go to a scratch folder of the work dir that is removed afterwards, so
/// nothing of the build is touched. The commands are shown with the build's own folders.
/// A phase that needs what only a build makes (a generated file, a tool's output) stops
/// the walk; the reason is returned beside the commands so far.
fn follow_phases(
    builder: &Builder,
    index: usize,
    context: &Context,
) -> Result<(Vec<PhaseCommand>, Option<String>)> {
    let work_dir = &builder.config.work_dir;
    std::fs::create_dir_all(work_dir)
        .map_err(|error| Error::io("cannot create", work_dir, error))?;
    let scratch = tempfile::Builder::new()
        .prefix(".env-")
        .tempdir_in(work_dir)
        .map_err(|error| Error::io("cannot create a scratch folder in", work_dir, error))?;
    let recording = recording_context(context.inner(), work_dir, scratch.path())?;
    let plan = builder.plan;
    let instance = &plan.instances[index];
    let recipe = plan.recipe_of(instance);
    let mut stopped = None;
    for phase in PHASES {
        if let Err(error) = builder.run_phase(recipe, &recording, instance, phase) {
            stopped = Some(format!("{phase}: {error}"));
            break;
        }
    }
    let scratch_text = scratch.path().to_string_lossy().into_owned();
    let work_text = work_dir.to_string_lossy().into_owned();
    let commands = recording
        .inner()
        .recorded
        .as_ref()
        .map(|recorded| recorded.lock().unwrap().clone())
        .unwrap_or_default()
        .into_iter()
        .map(|(phase, line)| {
            let line = line.replace(&scratch_text, &work_text);
            (phase, as_commands_see(context.inner(), &line))
        })
        .collect();
    // A script error's place is on a line of its own; the reason is shown on one line.
    let stopped =
        stopped.map(|reason| reason.replace(&scratch_text, &work_text).replace('\n', " "));
    Ok((commands, stopped))
}

/// The build's context with its work dir's folders moved into `scratch`, recording commands.
fn recording_context(inner: &Inner, work_dir: &Path, scratch: &Path) -> Result<Context> {
    let moved = |path: &Path| -> PathBuf {
        path.strip_prefix(work_dir)
            .map(|rest| scratch.join(rest))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    for dir in [&inner.srcdir, &inner.builddir, &inner.destdir, &inner.logs] {
        let dir = moved(dir);
        std::fs::create_dir_all(&dir).map_err(|error| Error::io("cannot create", &dir, error))?;
    }
    Ok(Context::new(Inner {
        name: inner.name.clone(),
        version: inner.version.clone(),
        stage: inner.stage.clone(),
        target: inner.target.clone(),
        host: inner.host.clone(),
        work_dir: scratch.to_path_buf(),
        srcdir: moved(&inner.srcdir),
        builddir: moved(&inner.builddir),
        destdir: moved(&inner.destdir),
        prefix: inner.prefix.clone(),
        sysroot: inner.sysroot.clone(),
        previous: inner.previous.clone(),
        jobs: inner.jobs,
        jobserver: inner.jobserver.clone(),
        sandbox: inner.sandbox.clone(),
        tools: inner.tools.clone(),
        flags: inner.flags.clone(),
        declarations: inner.declarations.clone(),
        logs: moved(&inner.logs),
        env: Mutex::new(inner.env.lock().unwrap().clone()),
        phase: Mutex::new(String::new()),
        on_phase: None,
        verbose: false,
        failure: Mutex::new(None),
        recorded: Some(Mutex::new(Vec::new())),
    }))
}

/// The facts as `name: value` lines, grouped as a person looks for them.
fn text(effective: &Effective) -> String {
    let mut out = format!(
        "{} ({} {})\n",
        effective.id, effective.recipe, effective.version
    );
    let mut line = |name: &str, value: &str| out.push_str(&format!("  {name:<11} {value}\n"));
    line(
        "target",
        &format!("{} ({})", effective.target, effective.triple),
    );
    line("host", &effective.host);
    line(
        "stage",
        &format!("{} (commands run {})", effective.stage, effective.isolation),
    );
    line("stage root", &effective.stage_root);
    line("sysroot", &effective.sysroot);
    let previous = if effective.previous.is_empty() {
        "(none: the first stage)"
    } else {
        &effective.previous
    };
    line("previous", previous);
    line("prefix", &effective.prefix);
    line("srcdir", &effective.srcdir);
    line("builddir", &effective.builddir);
    line("destdir", &effective.destdir);
    line("jobs", &effective.jobs.to_string());
    for (name, value) in effective.tools.iter().chain(&effective.flags) {
        line(name, value);
    }
    line("depends", &effective.depends.join(", "));
    out.push_str("  environment:\n");
    for (name, value) in &effective.env {
        out.push_str(&format!("    {name}={value}\n"));
    }
    out.push_str("  commands:\n");
    for (phase, command) in &effective.commands {
        out.push_str(&format!("    {phase}: {command}\n"));
    }
    if let Some(stopped) = &effective.stopped {
        out.push_str(&format!(
            "    (not followed further without building: {stopped})\n"
        ));
    }
    out
}
