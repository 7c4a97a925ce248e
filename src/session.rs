//! What every command that reads the project needs, made once from the command line: the
//! configuration, the scripts engine with the stdlib, the fetcher and the project's folders.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::error::Result;
use crate::fetch::{Fetcher, Warn};
use crate::lock::WorkLock;
use crate::plan::Plan;
use crate::project::Project;
use crate::remote_cache::RemoteCache;
use crate::scripts::Scripts;
use crate::spin::Spin;
use crate::store::Store;

pub struct Session<'a> {
    pub cli: &'a Cli,
    pub config: Config,
    pub scripts: Scripts,
    pub fetcher: Fetcher,
    /// The project without the spin's overlays, from which the spin is read.
    pub base: Project,
    /// The remote cache, opened when a command first needs it.
    remote: OnceLock<Option<Arc<RemoteCache>>>,
}

impl<'a> Session<'a> {
    pub fn open(cli: &'a Cli) -> Result<Session<'a>> {
        let config = Config::resolve(cli, project_hint(&cli.command).as_deref())?;
        let scripts = Scripts::load(&config.root)?;
        let fetcher = Fetcher::new(
            Store::new(config.store_dir.clone()),
            config.mirrors.clone(),
            config.offline,
        );
        let base = Project::new(&config.root, &cli.overlays);
        Ok(Session {
            cli,
            config,
            scripts,
            fetcher,
            base,
            remote: OnceLock::new(),
        })
    }

    /// The remote cache the configuration names, opened once: the builder pulls packages from
    /// it and the fetcher sources, telling the user through `warn` when it fails.
    pub fn remote_cache(&self, warn: Warn) -> Result<Option<Arc<RemoteCache>>> {
        let cache = match self.remote.get() {
            Some(cache) => cache.clone(),
            None => {
                let opened = crate::remote_cache::open(&self.config)?.map(Arc::new);
                self.remote.get_or_init(|| opened).clone()
            }
        };
        if let Some(cache) = &cache {
            self.fetcher.use_remote(cache.clone(), warn);
        }
        Ok(cache)
    }

    /// The spin the command line names (or the default one), with its bases merged in.
    pub fn spin(&self) -> Result<Spin> {
        crate::spin_base::load(&self.scripts, &self.base, self.cli.spin.as_deref())
    }

    /// The project with the command line's overlays, then the spin's.
    pub fn project(&self, spin: &Spin) -> Project {
        let mut overlays = self.cli.overlays.clone();
        overlays.extend(spin.overlays.iter().cloned());
        Project::new(&self.config.root, &overlays)
    }

    /// The plan of the spin for the command line's target, with `extra` (a recipe file given
    /// on the command line) in place of the recipe of the same name.
    pub fn plan(&self, extra: Option<&Path>) -> Result<Plan> {
        self.plan_in(&self.config, extra)
    }

    /// The plan for one target of the spin in a configuration's work dir, whatever
    /// `--target` says.
    pub fn plan_for_target(&self, config: &Config, target: &str) -> Result<Plan> {
        let spin = self.spin()?;
        let project = self.project(&spin);
        Plan::new(&self.scripts, config, spin, project, Some(target), None)
    }

    /// The same plan for another configuration (another work dir).
    pub fn plan_in(&self, config: &Config, extra: Option<&Path>) -> Result<Plan> {
        let spin = self.spin()?;
        let project = self.project(&spin);
        Plan::new(
            &self.scripts,
            config,
            spin,
            project,
            self.cli.target.as_deref(),
            extra,
        )
    }

    /// The recipe file a command line argument names: a file, `STAGE/NAME` or `NAME`,
    /// looked up in the spin's recipe folders.
    pub fn recipe_path(&self, argument: &Path) -> Result<PathBuf> {
        crate::recipe_lookup::recipe_path(&self.project(&self.spin()?), argument)
    }

    /// Holds `work_dir` for this process, waiting for another serpent unless `--no-wait`.
    pub fn lock(&self, work_dir: &Path) -> Result<WorkLock> {
        WorkLock::acquire(work_dir, self.cli.no_wait, self.config.quiet)
    }
}

/// A path the project root may be found from: the recipe or script the command names.
fn project_hint(command: &Command) -> Option<PathBuf> {
    match command {
        Command::Run { recipe }
        | Command::Explain { recipe }
        | Command::Env { recipe, .. }
        | Command::Log { recipe, .. } => recipe.parent().map(Path::to_path_buf),
        Command::Check { paths, .. } => paths
            .first()
            .and_then(|path| path.parent().map(Path::to_path_buf)),
        _ => None,
    }
}
