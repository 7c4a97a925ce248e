use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

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
    #[arg(long, short = 't', global = true)]
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
    #[arg(long, global = true, env = "SERPENT_SPIN")]
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
    /// grpc://HOST:PORT[/INSTANCE]. Instances it holds are pulled instead of built.
    #[arg(long, global = true, env = "SERPENT_REMOTE_CACHE", value_name = "URL")]
    pub remote_cache: Option<String>,
    /// Upload what is built here to the remote cache (off by default: let CI be the writer).
    #[arg(long, global = true)]
    pub remote_cache_write: bool,
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

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    Markdown,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build one recipe and the recipes it depends on.
    Run {
        /// The recipe file, e.g. recipes/stage1/musl.rhai.
        recipe: PathBuf,
    },
    /// Build the spin's stages (all of them when none are named) for its targets.
    Build {
        /// Stage names, e.g. stage1.
        stages: Vec<String>,
    },
    /// Show what a build would do, without building.
    Plan {
        stages: Vec<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Show the build graph.
    Graph {
        stages: Vec<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Tabulate what the work dir's records say each package cost: wall and CPU time, peak
    /// memory and size, as Markdown (for the docs) or JSON.
    Report {
        stages: Vec<String>,
        #[arg(long, value_enum, default_value = "markdown")]
        format: ReportFormat,
    },
    /// Say why a recipe would be rebuilt: which of its inputs changed since its recorded build.
    Explain { recipe: PathBuf },
    /// Print the latest log of a recipe's phase (by default the last phase that ran).
    Log {
        recipe: PathBuf,
        #[arg(long)]
        phase: Option<String>,
    },
    /// Open a shell (or run one command) in a stage's root, isolated exactly as its builds
    /// are: the root as /, the previous stage's root read-only at /serpent. The exit status
    /// passes through.
    Shell {
        /// The stage, e.g. stage3.
        stage: String,
        /// The command and its arguments (default: the root's /bin/sh, else /serpent/bin/sh).
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Build the spin's built stages (all when none are named) once more, from nothing, in a
    /// second work dir at another path, and compare the packages file by file.
    Verify {
        /// Stage names, e.g. stage2; their dependencies are verified too.
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
        paths: Vec<PathBuf>,
    },
    /// Fetch the sources of recipes into the store, or import local files into it.
    Fetch {
        /// Recipes whose sources to fetch; default: every recipe the spin builds, for its targets
        recipes: Vec<PathBuf>,
        /// Put these local files into the store under their sha256.
        #[arg(long, value_name = "FILE", num_args = 1..)]
        import: Vec<PathBuf>,
    },
    /// Write a new recipe that passes `serpent check`.
    New {
        /// The package name.
        name: String,
        /// The source tarball's URL; it is fetched to fill in its sha256 and version.
        #[arg(long)]
        url: Option<String>,
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
    /// Print the recipe API reference, generated from what the tool registers.
    Api {
        /// Also write .d.rhai definition files for editors into this folder.
        #[arg(long, value_name = "DIR")]
        definitions: Option<PathBuf>,
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
}
