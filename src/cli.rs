use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use clap_complete::engine::ArgValueCompleter;

use crate::completers;

/// serpent: bootstrap a musl + LLVM Linux system from source, with recipes written in Rhai.
#[derive(Debug, Parser)]
#[command(name = "serpent", version, about, max_term_width = 100)]
pub struct Cli {
    /// Where builds, logs and records go.
    #[arg(long, global = true, env = "SERPENT_WORK_DIR", default_value = "build")]
    pub work_dir: PathBuf,
    /// The project folder holding recipes/ and stdlib/ (default: found from the recipe or cwd).
    #[arg(long, global = true, env = "SERPENT_ROOT")]
    pub root: Option<PathBuf>,
    /// The source store (default: $XDG_CACHE_HOME/serpent/sources).
    #[arg(long, global = true, env = "SERPENT_STORE")]
    pub store: Option<PathBuf>,
    /// A target name from recipes/targets/ or a path to a target script (default: the host's arch).
    #[arg(long, short = 't', global = true, add = ArgValueCompleter::new(completers::targets))]
    pub target: Option<String>,
    /// How many jobs may run at once (default: the number of cores).
    #[arg(long, short = 'j', global = true)]
    pub jobs: Option<usize>,
    /// Never use the network; sources must be in the store or a file:// mirror.
    #[arg(long, global = true)]
    pub offline: bool,
    /// A mirror to try before a source's own URL: a file:// folder or an http(s) base URL.
    /// Repeat for more; tried in order, after those in the config file.
    #[arg(long = "mirror", global = true, value_name = "URL")]
    pub mirrors: Vec<String>,
    /// The spin: a name in recipes/spins/ or a path (default: recipes/spins/default.rhai).
    #[arg(long, global = true, env = "SERPENT_SPIN", add = ArgValueCompleter::new(completers::spins))]
    pub spin: Option<String>,
    /// A folder laid out like recipes/ whose scripts replace or add to ours. Repeatable;
    /// searched in order, before the spin's overlays and recipes/.
    #[arg(long = "overlay", global = true, value_name = "DIR")]
    pub overlays: Vec<PathBuf>,
    /// Keep building whatever does not depend on a failed recipe.
    #[arg(long, short = 'k', global = true)]
    pub keep_going: bool,
    /// Start interrupted builds over from their sources instead of resuming them.
    #[arg(long, global = true)]
    pub fresh: bool,
    /// A shared build cache: a Remote Execution API server (BuildGrid, Buildbarn...) at
    /// grpc://HOST:PORT[/INSTANCE]. Instances it holds are pulled instead of built, and
    /// sources missing from the store are fetched from it before mirrors and upstream.
    #[arg(long, global = true, env = "SERPENT_REMOTE_CACHE", value_name = "URL")]
    pub remote_cache: Option<String>,
    /// Upload what is built here to the remote cache, and the sources used (off by default:
    /// let CI be the writer).
    #[arg(long, global = true)]
    pub remote_cache_write: bool,
    /// A Remote Execution API execution service at grpc://HOST:PORT[/INSTANCE]: instances the
    /// cache lacks are built there, as many at once as --jobs, and pulled from its cache.
    #[arg(
        long,
        global = true,
        env = "SERPENT_REMOTE_EXECUTOR",
        value_name = "URL"
    )]
    pub remote_executor: Option<String>,
    /// Fail at once if another serpent holds the work dir, instead of waiting.
    #[arg(long, global = true)]
    pub no_wait: bool,
    /// Print only errors.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    /// Print more about what happens.
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
    /// When to color output.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    pub color: Color,
    /// How `build` and `run` tell what they do: progress for people, or one JSON object a
    /// line on stdout per event (progress is not shown).
    #[arg(long, global = true, value_enum, default_value = "human")]
    pub message_format: MessageFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Dot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MessageFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum EnvFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    Markdown,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build one recipe and the recipes it depends on, into the spin's stage roots, whether
    /// or not the spin's PACKAGES names it.
    Run {
        /// The recipe: a file (recipes/stage1/musl.rhai), STAGE/NAME (stage1/musl) or a NAME
        /// that only one stage has.
        #[arg(add = ArgValueCompleter::new(completers::script_paths()))]
        recipe: PathBuf,
    },
    /// Build the spin's stages (all of them when none are named) for its targets.
    Build {
        /// Stage names, e.g. stage1.
        #[arg(add = ArgValueCompleter::new(completers::stages))]
        stages: Vec<String>,
    },
    /// Show what a build would do, without building.
    Plan {
        #[arg(add = ArgValueCompleter::new(completers::stages))]
        stages: Vec<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Show the build graph.
    Graph {
        #[arg(add = ArgValueCompleter::new(completers::stages))]
        stages: Vec<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Tabulate what the work dir's records say each package cost: wall and CPU time, peak
    /// memory and size, as Markdown (for the docs) or JSON.
    Report {
        #[arg(add = ArgValueCompleter::new(completers::stages))]
        stages: Vec<String>,
        #[arg(long, value_enum, default_value = "markdown")]
        format: ReportFormat,
        /// Instead, write the builds' timeline to FILE as Chrome trace-event JSON (for
        /// Perfetto) and print each run's critical path and how busy its job slots were.
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
        /// Project the time of packages not built from another target's records (aarch64's
        /// stage3 under qemu from x86_64's native one), scaled by how much longer the packages
        /// built on both took here.
        #[arg(long, value_name = "TARGET", add = ArgValueCompleter::new(completers::targets))]
        project_from: Option<String>,
        /// The work dir that built --project-from's target, when it is not this one.
        #[arg(long, value_name = "DIR", requires = "project_from")]
        project_from_work_dir: Option<PathBuf>,
        /// Read --project-from's records from FILE, an earlier `serpent report --format json`,
        /// when the work dir that built that target is gone.
        #[arg(
            long,
            value_name = "FILE",
            requires = "project_from",
            conflicts_with = "project_from_work_dir"
        )]
        project_from_report: Option<PathBuf>,
    },
    /// Write an SPDX 2.3 JSON SBOM of the built stages (all when none are named) for the
    /// spin's targets: every package with its version, license, sources and their sha256s,
    /// patches and dependencies. Refused while a package they need is not built.
    Sbom {
        /// Stage names, e.g. stage2; what they were built from is described too.
        stages: Vec<String>,
        /// Write the document here instead of to standard output.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Say why a recipe would be rebuilt: which of its inputs changed since its recorded build.
    Explain {
        /// The recipe: a file, STAGE/NAME or NAME.
        #[arg(add = ArgValueCompleter::new(completers::script_paths()))]
        recipe: PathBuf,
    },
    /// Print what a recipe's phases will get for each target, without building: the triple,
    /// sysroot, toolchain, flags, folders, environment, dependencies and the commands its
    /// phases and build style would run (configure, cmake or meson arguments).
    Env {
        /// The recipe: a file, STAGE/NAME or NAME.
        #[arg(add = ArgValueCompleter::new(completers::script_paths()))]
        recipe: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: EnvFormat,
    },
    /// Print the latest log of a recipe's phase (by default the last phase that ran).
    Log {
        /// The recipe: a file, STAGE/NAME or NAME.
        #[arg(add = ArgValueCompleter::new(completers::script_paths()))]
        recipe: PathBuf,
        #[arg(long)]
        phase: Option<String>,
    },
    /// Open a shell (or run one command) in a stage's root, isolated exactly as its builds
    /// are: the root as /, the previous stage's root read-only at /serpent. The exit status
    /// passes through.
    Shell {
        /// The stage, e.g. stage3.
        #[arg(add = ArgValueCompleter::new(completers::stages))]
        stage: String,
        /// The command and its arguments (default: the root's /bin/sh, else /serpent/bin/sh).
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Build the spin's built stages (all when none are named) once more, from nothing, in a
    /// second work dir at another path, and compare the packages file by file.
    Verify {
        /// Stage names, e.g. stage2; their dependencies are verified too.
        #[arg(add = ArgValueCompleter::new(completers::stages))]
        stages: Vec<String>,
        /// The second work dir, wiped first (default: the work dir's path with -verify added).
        #[arg(long, value_name = "DIR")]
        into: Option<PathBuf>,
    },
    /// Remove the work dir.
    Clean,
    /// Check every recipe, stage and target (or just the files given) without building.
    Check {
        /// Recipe, stage or target files; default: everything under recipes/.
        #[arg(add = ArgValueCompleter::new(completers::script_paths()))]
        paths: Vec<PathBuf>,
        /// Also unpack, in a scratch folder, the sources of every recipe the spin patches (for
        /// its targets, as its overrides leave them) and apply the patches, without building.
        #[arg(long)]
        patches: bool,
    },
    /// Fetch the sources of recipes into the store, or import local files into it.
    Fetch {
        /// Recipes whose sources to fetch (files, STAGE/NAME or NAME); default: every recipe
        /// the spin builds, for its targets
        #[arg(add = ArgValueCompleter::new(completers::script_paths()))]
        recipes: Vec<PathBuf>,
        /// Put these local files into the store under their sha256.
        #[arg(long, value_name = "FILE", num_args = 1..)]
        import: Vec<PathBuf>,
    },
    /// Write a new recipe that passes `serpent check`.
    New {
        /// The package name.
        name: String,
        /// The source tarball's upstream URL, written into the recipe. Its file is taken from
        /// the store (by --sha256, or by its file name with --offline), from --file, or
        /// downloaded, to fill in its sha256 and version.
        #[arg(long)]
        url: Option<String>,
        /// The tarball's sha256: fetched and verified as builds fetch (store, mirrors, URL).
        #[arg(long, value_name = "HASH")]
        sha256: Option<String>,
        /// A local copy of the tarball (a Debian .orig.tar.gz, say), imported into the store.
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
        /// The build style.
        #[arg(long, default_value = "autotools")]
        style: String,
        /// The stage folder to put it in.
        #[arg(long, default_value = "stage2")]
        stage: String,
        /// Write here instead of recipes/<stage>/<name>.rhai.
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
    },
    /// Write Rhai definition files (.d.rhai) into DIR, so an editor with the Rhai language
    /// server completes `ctx.`, the stdlib modules and recipe declarations, with their docs.
    Definitions {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Print the recipe API reference, generated from what the tool registers.
    Api {
        /// Also write the .d.rhai definition files into this folder (as `serpent definitions`).
        #[arg(long, value_name = "DIR")]
        definitions: Option<PathBuf>,
    },
    /// Print the script that makes SHELL complete serpent's subcommands, options, spin, target
    /// and stage names and recipe paths: `source <(serpent completions bash)`.
    Completions {
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    /// Check this host for what the spin needs to build: user namespaces, qemu-user and
    /// binfmt_misc for foreign targets, the host's clang and lld for the quick stage1, free
    /// space. One line per check, each miss with how to fix it; exit status 0 when all pass.
    Doctor {
        /// Free space wanted in the work dir and in the store, e.g. 500M, 20G.
        #[arg(long, value_name = "SIZE", default_value = "10G", value_parser = crate::size::parse_size)]
        min_free: u64,
    },
    /// Write man pages into DIR: serpent.1 and serpent-COMMAND.1 for each subcommand.
    Man {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Unpack an archive the way recipes do (for benchmarks and debugging).
    #[command(hide = true)]
    Unpack {
        archive: PathBuf,
        dest: PathBuf,
        #[arg(long, default_value_t = 0)]
        strip: usize,
        #[arg(long)]
        only: Vec<String>,
    },
    /// Apply a series of patches to DIR the way recipes do: all of them, or none.
    #[command(hide = true)]
    Patch {
        dir: PathBuf,
        #[arg(required = true)]
        patches: Vec<PathBuf>,
        #[arg(long, short = 'p', default_value_t = 1)]
        strip: usize,
    },
    /// Run a command in a sandbox the way builds do (for tests and benchmarks). Exits with
    /// the command's exit code, or 128 + the signal that killed it.
    #[command(hide = true)]
    SandboxRun {
        /// The folder that becomes `/` inside.
        #[arg(long, value_name = "DIR")]
        stage_root: PathBuf,
        /// A host path to show inside; `:ro` makes it read-only. Repeatable.
        #[arg(long = "bind", value_name = "SRC:DST[:ro]")]
        binds: Vec<String>,
        /// Run foreign binaries through the qemu-user emulator this target's script names.
        #[arg(long, value_name = "TARGET")]
        emulator: Option<String>,
        /// The working folder inside.
        #[arg(long, default_value = "/")]
        cwd: PathBuf,
        /// The command's whole environment (PATH defaults to /usr/bin:/bin). Repeatable.
        #[arg(long = "env", value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// Run the command on the host without any isolation (a baseline for benchmarks).
        #[arg(long)]
        no_isolation: bool,
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Build one instance inside a remote action's input root and put it in the executing
    /// server's cache (the command remote execution sends; see docs/remote.md).
    #[command(hide = true)]
    RemoteBuild {
        /// The key the client computed; the worker refuses to build under any other.
        #[arg(long)]
        expect_key: String,
        /// The instance, as STAGE/NAME.
        instance: String,
    },
    /// A runner for buildbox-casd's local execution service (`--buildbox-run`): stages the
    /// action's input root, runs its command on this host and writes its ActionResult.
    #[command(hide = true)]
    BuildboxRun {
        /// buildbox-casd's options (--action=, --action-result=, --remote=, ...).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        options: Vec<String>,
    },
}
