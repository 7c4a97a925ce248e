use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cli::{Cli, Command};
use crate::config::{self, Config};
use crate::error::{Error, Result};
use crate::lock::WorkLock;
use crate::plan::Plan;
use crate::recipe::Source;
use crate::session::Session;
use crate::store::Store;

/// A command's outcome: the process's exit code, or an error that maps to one.
type Exit = Result<i32>;

/// Runs the command line's subcommand.
pub fn dispatch(cli: &Cli) -> Exit {
    match &cli.command {
        Command::Unpack {
            archive,
            dest,
            strip,
            only,
        } => unpack(cli, archive, dest, *strip, only),
        Command::SandboxRun { .. } => sandbox_run(cli),
        Command::Patch {
            dir,
            patches,
            strip,
        } => patch_series(dir, patches, *strip),
        Command::Fetch { recipes, import } if !import.is_empty() => {
            import_files(cli, recipes, import)
        }
        Command::Clean => clean(cli),
        Command::Run { recipe } => build(&Session::open(cli)?, Some(recipe), &[]),
        Command::Build { stages } => build(&Session::open(cli)?, None, stages),
        Command::Verify { stages, into } => verify(&Session::open(cli)?, stages, into.as_deref()),
        Command::Shell { stage, command } => shell(&Session::open(cli)?, stage, command),
        Command::Plan { stages, format } | Command::Graph { stages, format } => {
            plan(&Session::open(cli)?, stages, *format)
        }
        Command::Report {
            stages,
            format,
            trace,
            project_from,
            project_from_work_dir,
            project_from_report,
        } => {
            let reference = match project_from_report {
                Some(file) => crate::report::Reference::Report(file),
                None => crate::report::Reference::WorkDir(project_from_work_dir.as_deref()),
            };
            report(
                &Session::open(cli)?,
                stages,
                *format,
                trace.as_deref(),
                project_from.as_deref().map(|target| (target, reference)),
            )
        }
        Command::Sbom { stages, output } => {
            crate::sbom::command(&Session::open(cli)?, stages, output.as_deref())
        }
        Command::Explain { recipe } => explain(&Session::open(cli)?, recipe),
        Command::Env { recipe, format } => {
            crate::recipe_env::show(&Session::open(cli)?, recipe, *format)
        }
        Command::Log { recipe, phase } => log(&Session::open(cli)?, recipe, phase.as_deref()),
        Command::Check { paths, patches } => check(&Session::open(cli)?, paths, *patches),
        Command::Fetch { recipes, .. } => fetch(&Session::open(cli)?, recipes),
        Command::New { .. } => crate::new_recipe::new_recipe(&Session::open(cli)?),
        Command::Completions { shell } => crate::completions::print_registration(*shell),
        Command::Doctor { min_free } => crate::doctor::doctor(&Session::open(cli)?, *min_free),
        Command::Man { dir } => crate::man::write_pages(dir),
        Command::Definitions { dir } => {
            crate::definitions::print_definitions(&Session::open(cli)?.scripts, dir)
        }
        Command::Api { definitions } => api(&Session::open(cli)?, definitions.as_deref()),
        Command::RemoteBuild {
            expect_key,
            instance,
        } => crate::remote_build::build(&Session::open(cli)?, instance, expect_key),
        Command::BuildboxRun { options } => crate::remote_exec::worker::run(options),
    }
}

/// `serpent unpack`: an archive unpacked the way recipes' sources are.
fn unpack(cli: &Cli, archive: &Path, dest: &Path, strip: usize, only: &[String]) -> Exit {
    let options = crate::unpack::UnpackOptions {
        strip,
        only: only.to_vec(),
    };
    let summary =
        crate::unpack::unpack(archive, dest, &options).map_err(|error| Error::Unpack {
            context: format!("cannot unpack {}", archive.display()),
            source: Box::new(error),
        })?;
    if !cli.quiet {
        eprintln!("unpacked {} files, {} bytes", summary.files, summary.bytes);
    }
    Ok(0)
}

/// `serpent fetch --import FILE...`: files put into the store under their sha256.
fn import_files(cli: &Cli, recipes: &[PathBuf], files: &[PathBuf]) -> Exit {
    if !recipes.is_empty() {
        return Err(Error::Usage(
            "give either recipes to fetch or --import FILE..., not both".into(),
        ));
    }
    let store = Store::new(cli.store.clone().unwrap_or_else(config::default_store_dir));
    for file in files {
        let sha256 = store.import(file)?;
        println!("{sha256}  {}", file.display());
    }
    Ok(0)
}

/// `serpent clean`: the work dir removed, without reading any script.
fn clean(cli: &Cli) -> Exit {
    let config = Config::resolve(cli, None)?;
    let _lock = WorkLock::acquire(&config.work_dir, cli.no_wait, config.quiet)?;
    crate::remove::remove_all(&config.work_dir)?;
    Ok(0)
}

/// `serpent run RECIPE` (with `recipe`) and `serpent build [STAGE...]`.
fn build(session: &Session, recipe: Option<&Path>, stages: &[String]) -> Exit {
    let recipe = recipe
        .map(|recipe| session.recipe_path(recipe))
        .transpose()?;
    let _lock = session.lock(&session.config.work_dir)?;
    let plan = session.plan(recipe.as_deref())?;
    let selection = match &recipe {
        Some(recipe) => instances_of_recipe(&plan, recipe)?,
        None => plan.instances_of_stages(stages)?,
    };
    crate::build::build_selection(session, &session.config, &plan, &selection)?;
    Ok(0)
}

/// `serpent verify [STAGE...]`: what is recorded built again from nothing in a second work
/// dir, and the packages compared.
fn verify(session: &Session, stages: &[String], into: Option<&Path>) -> Exit {
    let config = &session.config;
    let _lock = session.lock(&config.work_dir)?;
    let recorded = session.plan(None)?;
    let selection = recorded.closure(&recorded.instances_of_stages(stages)?);
    let unbuilt = crate::verify::unbuilt(&recorded, &selection);
    if !unbuilt.is_empty() {
        return Err(Error::Usage(format!(
            "not built with the current inputs: {}; run `serpent build` first, then verify",
            unbuilt.join(", ")
        )));
    }
    let second = Config {
        work_dir: into.map_or_else(
            || crate::verify::default_dir(&config.work_dir),
            Path::to_path_buf,
        ),
        // Built here, every one: a package pulled from a cache would prove nothing.
        remote_cache: None,
        remote_cache_write: false,
        remote_executor: None,
        ..config.clone()
    };
    // The second work dir starts empty, so that its plan finds nothing built.
    crate::remove::remove_all(&second.work_dir)?;
    let _second_lock = session.lock(&second.work_dir)?;
    let rebuilt = session.plan_in(&second, None)?;
    rebuild_and_compare(session, (&recorded, &selection), (&second, &rebuilt))?;
    Ok(0)
}

/// `serpent plan` and `serpent graph`.
fn plan(session: &Session, stages: &[String], format: crate::cli::Format) -> Exit {
    let plan = session.plan(None)?;
    let selection = plan.closure(&plan.instances_of_stages(stages)?);
    print!("{}", crate::describe::render(&plan, &selection, format));
    Ok(0)
}

/// `serpent explain RECIPE`: which inputs changed since each instance was built.
fn explain(session: &Session, recipe: &Path) -> Exit {
    let recipe = session.recipe_path(recipe)?;
    let project = session.project(&session.spin()?);
    let (recipe, replaced) = crate::overlay::effective(&project, &recipe);
    if let Some(replaced) = replaced {
        println!("{replaced}");
    }
    let plan = session.plan(Some(&recipe))?;
    for index in instances_of_recipe(&plan, &recipe)? {
        println!("{}", crate::describe::explain(&plan, index));
    }
    Ok(0)
}

/// `serpent log RECIPE [--phase P]`: the latest log of each instance, or the phase's.
fn log(session: &Session, recipe: &Path, phase: Option<&str>) -> Exit {
    let recipe = session.recipe_path(recipe)?;
    let plan = session.plan(Some(&recipe))?;
    for index in instances_of_recipe(&plan, &recipe)? {
        let logs = plan.instances[index].layout.logs();
        let path = match phase {
            Some(phase) => logs.join(format!("{phase}.log")),
            None => latest_log(&logs).unwrap_or_else(|| logs.join("setup.log")),
        };
        let text =
            std::fs::read_to_string(&path).map_err(|error| Error::io("no log at", &path, error))?;
        // On stdout with the logs, so that a pipe gets each header before its log.
        if !session.config.quiet {
            println!("==> {}", path.display());
        }
        print!("{text}");
    }
    Ok(0)
}

/// The instances of the recipe file the command line gave; none is an error, never a
/// command that quietly does nothing.
fn instances_of_recipe(plan: &Plan, recipe: &Path) -> Result<Vec<usize>> {
    let instances = plan.instances_of(recipe);
    if instances.is_empty() {
        return Err(Error::Usage(format!(
            "{} is not part of the plan for the spin `{}`: its folder is no stage the spin \
             builds, or an overlay's recipe of the same name replaces it",
            recipe.display(),
            plan.spin.name
        )));
    }
    Ok(instances)
}

/// `serpent check [PATH...]`.
fn check(session: &Session, paths: &[PathBuf], patches: bool) -> Exit {
    let project = session.project(&session.spin()?);
    let mut warnings = Vec::new();
    let summary = crate::check::check(&session.scripts, &project, paths, &mut warnings);
    if !session.config.quiet {
        for warning in warnings {
            eprintln!("{:?}", miette::Report::new(warning));
        }
    }
    let summary = summary?;
    if !session.config.quiet {
        println!("{summary}");
    }
    if patches {
        let plan = session.plan(None)?;
        let trees =
            match crate::source_tree::check_patches(&plan, &session.fetcher, &session.scripts) {
                Ok(trees) => trees,
                // A patch that does not fit is a bad recipe found by the check, like the lints above:
                // status 2, where the same patch failing in a build is a failed build (1).
                Err(error) if error.has_patch_failure() => {
                    eprintln!("{:?}", miette::Report::new(error));
                    return Ok(2);
                }
                Err(error) => return Err(error),
            };
        if !session.config.quiet {
            println!(
                "patches apply: {trees} patched source tree(s) of spin {}",
                plan.spin.name
            );
        }
    }
    Ok(0)
}

/// `serpent fetch [RECIPE...]`: the sources of the recipes named, or of every recipe the spin
/// builds for its targets, as the spin's overrides leave them. Every source is tried, and
/// those that cannot be fetched are reported together, so one run lists all that is missing.
fn fetch(session: &Session, recipes: &[PathBuf]) -> Exit {
    let mut sources: Vec<Source> = Vec::new();
    let mut add = |plan: &Plan, indices: Vec<usize>| {
        for index in indices {
            for source in &plan.recipe_of(&plan.instances[index]).sources {
                if !sources.iter().any(|known| known.sha256 == source.sha256) {
                    sources.push(source.clone());
                }
            }
        }
    };
    if recipes.is_empty() {
        let plan = session.plan(None)?;
        add(&plan, (0..plan.instances.len()).collect());
    }
    for recipe in recipes {
        let recipe = session.recipe_path(recipe)?;
        let plan = session.plan(Some(&recipe))?;
        add(&plan, instances_of_recipe(&plan, &recipe)?);
    }
    session
        .fetcher
        .know_sources(sources.iter().map(Source::declared));
    let quiet = session.config.quiet;
    session.remote_cache(Arc::new(move |warning: &str| {
        if !quiet {
            eprintln!("{warning}");
        }
    }))?;
    let mut errors = Vec::new();
    for source in &sources {
        match session.fetcher.fetch(&source.url, &source.sha256) {
            Ok(fetched) if !session.config.quiet => {
                let origin = fetched.origin.describe();
                println!("{}  {}  ({origin})", source.sha256, source.url);
            }
            Ok(_) => {}
            Err(error) => errors.push(Error::from(error)),
        }
    }
    match errors.len() {
        0 => Ok(0),
        1 => Err(errors.remove(0)),
        _ => Err(Error::Many(errors)),
    }
}

/// `serpent api [--definitions DIR]`.
fn api(session: &Session, definitions: Option<&Path>) -> Exit {
    print!("{}", crate::api::reference(&session.scripts)?);
    if let Some(dir) = definitions {
        crate::definitions::write_definitions(&session.scripts, dir)?;
    }
    Ok(0)
}

/// Builds the recorded selection again in the second plan's work dir and compares.
fn rebuild_and_compare(
    session: &Session,
    (recorded, selection): (&Plan, &[usize]),
    (second, rebuilt): (&Config, &Plan),
) -> Result<()> {
    crate::build::build_selection(session, second, rebuilt, selection)?;
    let outcomes = crate::verify::compare(recorded, rebuilt, selection)
        .map_err(|error| Error::io("cannot compare the packages in", &second.work_dir, error))?;
    let report = crate::verify::report(&outcomes, recorded, rebuilt, selection);
    print!("{report}");
    if outcomes
        .iter()
        .any(|outcome| !outcome.differences.is_empty())
    {
        let last = report.lines().last().unwrap_or_default().to_string();
        return Err(Error::NotReproducible(last));
    }
    Ok(())
}

/// Builds `selection` of `plan` in `config`'s work dir and says what was done.
/// `serpent shell`: one command (or a shell) in a stage's root; returns its exit code, or 128
/// plus the signal that killed it.
fn shell(session: &Session, stage_name: &str, command: &[String]) -> Exit {
    let plan = session.plan(None)?;
    let work_dir = &session.config.work_dir;
    let command = command.to_vec();

    use crate::sandbox::{Bind, Invocation, Sandbox};

    let stage_index = plan.stage_index(stage_name)?;
    let stage = &plan.stages[stage_index];
    let target = plan
        .targets
        .first()
        .ok_or_else(|| Error::Usage("the spin has no target".into()))?;
    let layout = crate::layout::Layout::new(work_dir, &target.name, &stage.name, &stage.root, "");
    let root = layout.root();
    std::fs::create_dir_all(&root).map_err(|error| Error::io("cannot create", &root, error))?;
    let mut binds = Vec::new();
    if let Some(previous) = stage
        .previous
        .as_ref()
        .and_then(|name| plan.stages.iter().find(|s| s.name == *name))
    {
        let previous_root =
            crate::layout::Layout::new(work_dir, &target.name, &previous.name, &previous.root, "")
                .root();
        if !previous_root.is_dir() {
            return Err(Error::Usage(format!(
                "{} for {} has no root yet: build it first (serpent build {} --target {})",
                previous.name, target.name, previous.name, target.name
            )));
        }
        binds.push(Bind {
            source: previous_root,
            target: "/serpent".into(),
            read_only: true,
        });
    }
    let sandbox = Sandbox {
        root: root.clone(),
        read_only_root: false,
        binds,
        emulator: crate::build::emulator_for(target)?,
    };
    let argv = if command.is_empty() {
        let shell = if root.join("bin/sh").exists() {
            "/bin/sh"
        } else {
            "/serpent/bin/sh"
        };
        vec![shell.to_string()]
    } else {
        command
    };
    let mut env = stage.chroot_env();
    env.insert("LC_ALL".to_string(), "C".to_string());
    // An interactive shell keeps the terminal's type.
    let term = std::env::var("TERM").unwrap_or_else(|_| "xterm".to_string());
    env.entry("TERM".to_string()).or_insert(term);
    let invocation = Invocation {
        argv,
        env,
        cwd: "/".into(),
    };
    let status = run_inheriting_stdio(&sandbox, &invocation)?;
    Ok(exit_code(status))
}

fn latest_log(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|entry| Some((entry.metadata().ok()?.modified().ok()?, entry.path())))
        .max()
        .map(|(_, path)| path)
}

/// `serpent sandbox-run`: runs one command in a sandbox and returns its exit code (128 + the
/// signal when a signal killed it).
fn sandbox_run(cli: &Cli) -> Exit {
    let Command::SandboxRun {
        stage_root: root,
        binds,
        emulator,
        cwd,
        env,
        no_isolation,
        command,
    } = &cli.command
    else {
        unreachable!("dispatched for sandbox-run")
    };
    let emulator = emulator_of_target(cli, emulator.as_deref())?;
    let binds = parse_binds(binds)?;
    let environment = parse_environment(env)?;
    let status = if *no_isolation {
        run_unisolated(command, &environment, cwd)?
    } else {
        let sandbox = crate::sandbox::Sandbox {
            root: absolute(root)?,
            read_only_root: false,
            binds,
            emulator,
        };
        let invocation = crate::sandbox::Invocation {
            argv: command.to_vec(),
            env: environment,
            cwd: cwd.to_path_buf(),
        };
        run_inheriting_stdio(&sandbox, &invocation)?
    };
    Ok(exit_code(status))
}

/// The emulator named by `--emulator TARGET`, read from the target's script as builds read
/// it, so that sandbox-run runs foreign binaries exactly as a build would.
fn emulator_of_target(cli: &Cli, target: Option<&str>) -> Result<Option<crate::sandbox::Emulator>> {
    let Some(name) = target else {
        return Ok(None);
    };
    let session = Session::open(cli)?;
    let target = crate::target::Target::load(&session.scripts, &session.base, name)?;
    crate::build::emulator_for(&target)
}

/// `--bind SRC:DST[:ro]` specs as binds. A relative source names a path in the folder serpent
/// was started in, so it is resolved here, before the sandbox is set up.
fn parse_binds(specs: &[String]) -> Result<Vec<crate::sandbox::Bind>> {
    specs
        .iter()
        .map(|spec| {
            let (spec, read_only) = match spec.strip_suffix(":ro") {
                Some(rest) => (rest, true),
                None => (spec.as_str(), false),
            };
            let (source, target) = spec.split_once(':').ok_or_else(|| {
                Error::Usage(format!("--bind {spec}: expected SRC:DST or SRC:DST:ro"))
            })?;
            Ok(crate::sandbox::Bind {
                source: absolute(Path::new(source))?,
                target: PathBuf::from(target),
                read_only,
            })
        })
        .collect()
}

/// `--env KEY=VALUE` entries as the command's whole environment, with the PATH default the
/// option promises, so that a bare program name is still found.
fn parse_environment(entries: &[String]) -> Result<std::collections::BTreeMap<String, String>> {
    let mut environment = std::collections::BTreeMap::new();
    for entry in entries {
        let (key, value) = entry
            .split_once('=')
            .ok_or_else(|| Error::Usage(format!("--env {entry}: expected KEY=VALUE")))?;
        environment.insert(key.to_string(), value.to_string());
    }
    environment
        .entry("PATH".to_string())
        .or_insert_with(|| "/usr/bin:/bin".to_string());
    Ok(environment)
}

/// The command on the host with the same environment and folder but no isolation: the
/// baseline that measures what the sandbox costs.
fn run_unisolated(
    command: &[String],
    environment: &std::collections::BTreeMap<String, String>,
    cwd: &Path,
) -> Result<std::process::ExitStatus> {
    std::process::Command::new(&command[0])
        .args(&command[1..])
        .env_clear()
        .envs(environment)
        .current_dir(cwd)
        .status()
        .map_err(|error| Error::io("cannot run", &command[0], error))
}

/// Runs `invocation` in `sandbox` on serpent's own terminal, so that a person can use it.
fn run_inheriting_stdio(
    sandbox: &crate::sandbox::Sandbox,
    invocation: &crate::sandbox::Invocation,
) -> Result<std::process::ExitStatus> {
    use std::process::Stdio;
    sandbox
        .run(
            invocation,
            Stdio::inherit(),
            Stdio::inherit(),
            Stdio::inherit(),
        )
        .map_err(|error| Error::Sandbox(Box::new(error)))
}

/// A command's exit code as a shell reports it: 128 plus the signal when one killed it.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// A path from the command line, taken from the folder serpent was started in, as the person
/// who typed it meant.
fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|error| Error::io("cannot resolve", path, error))
}

/// `serpent patch DIR PATCH...`: applies a series the way recipes do and prints what GNU patch
/// would say.
fn patch_series(dir: &Path, patches: &[PathBuf], strip: usize) -> Exit {
    let mut read = Vec::with_capacity(patches.len());
    for patch in patches {
        let bytes = std::fs::read(patch).map_err(|error| Error::io("cannot read", patch, error))?;
        read.push((patch.display().to_string(), bytes));
    }
    let series: Vec<crate::patch::SeriesPatch> = read
        .iter()
        .map(|(name, bytes)| crate::patch::SeriesPatch { name, bytes, strip })
        .collect();
    let summaries = crate::patch::apply_series(&series, dir).map_err(|failure| {
        let (name, text) = match failure.index {
            Some(index) => (
                series[index].name,
                String::from_utf8_lossy(series[index].bytes).into_owned(),
            ),
            None => ("", String::new()),
        };
        Error::patch(
            format!("patch {name} does not apply"),
            "nothing was changed: none of the patches was applied".to_string(),
            name,
            &text,
            failure.error,
        )
    })?;
    for line in summaries.iter().flat_map(|summary| &summary.log) {
        println!("{line}");
    }
    Ok(0)
}

/// `serpent report`: the records of the spin's packages (in the stages named, or all).
/// With `--trace FILE`, the timeline as trace events instead, and its summary.
fn report(
    session: &Session,
    stages: &[String],
    format: crate::cli::ReportFormat,
    trace: Option<&Path>,
    project_from: Option<(&str, crate::report::Reference)>,
) -> Exit {
    if let Some(file) = trace {
        print!("{}", crate::trace::export(&session.config.work_dir, file)?);
        return Ok(0);
    }
    // The stages named, not what they are built on: `report stage2` tabulates stage2.
    let plan = session.plan(None)?;
    let selection = plan.instances_of_stages(stages)?;
    let mut rows = crate::report::rows(&plan, &selection);
    let projection = match project_from {
        Some((from, reference)) => Some(projection(session, stages, &mut rows, from, reference)?),
        None => None,
    };
    let projection = projection.as_ref();
    match format {
        crate::cli::ReportFormat::Markdown => {
            print!("{}", crate::report::markdown(&rows, projection))
        }
        crate::cli::ReportFormat::Json => {
            print!("{}", crate::report::json(&plan, &rows, projection))
        }
    }
    Ok(0)
}

/// Projects the packages of `rows` not built from target `from`'s records, in another work
/// dir, this one or a saved report, refusing a reference with nothing built to project from.
fn projection(
    session: &Session,
    stages: &[String],
    rows: &mut [crate::report::Row],
    from: &str,
    reference: crate::report::Reference,
) -> Result<crate::report::Projection> {
    let (reference_rows, looked_in) = match reference {
        crate::report::Reference::Report(file) => (
            crate::report::read_rows(file, stages)?,
            format!("the report {}", file.display()),
        ),
        crate::report::Reference::WorkDir(work_dir) => {
            let config = Config {
                work_dir: work_dir.map_or_else(
                    || session.config.work_dir.clone(),
                    |dir| std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()),
                ),
                ..session.config.clone()
            };
            let plan = session.plan_for_target(&config, from)?;
            let selection = plan.instances_of_stages(stages)?;
            let looked_in = format!("the work dir {}", config.work_dir.display());
            (crate::report::rows(&plan, &selection), looked_in)
        }
    };
    if !reference_rows
        .iter()
        .any(|row| row.built && row.target == from)
    {
        let stages = match stages {
            [] => String::new(),
            _ => format!("'s {}", stages.join(", ")),
        };
        return Err(Error::Usage(format!(
            "--project-from {from}: {looked_in} has no record of {from}{stages} built; \
             name the work dir that built it with --project-from-work-dir DIR, or a saved \
             `serpent report --format json` of it with --project-from-report FILE",
        )));
    }
    Ok(crate::report::project(rows, &reference_rows, from))
}
