use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cli::Cli;
use crate::error::{Error, Result};
pub use crate::project::find_root;

/// Settings from the user's config file; the command line overrides them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConfigFile {
    /// Mirrors tried in order before a source's own URL: `file://` folders or http(s) bases.
    #[serde(default)]
    pub mirrors: Vec<String>,
    pub jobs: Option<usize>,
    /// A shared build cache: `grpc://HOST:PORT[/INSTANCE]` of a Remote Execution API server.
    pub remote_cache: Option<String>,
    /// Whether builds made here are uploaded to it.
    #[serde(default)]
    pub remote_cache_write: bool,
    /// An execution service (`grpc://HOST:PORT[/INSTANCE]`) that builds instances instead.
    pub remote_executor: Option<String>,
}

/// Where serpent keeps things and how it behaves, resolved once per invocation.
#[derive(Debug, Clone)]
pub struct Config {
    pub root: PathBuf,
    pub work_dir: PathBuf,
    pub store_dir: PathBuf,
    pub mirrors: Vec<String>,
    pub offline: bool,
    pub jobs: usize,
    pub quiet: bool,
    pub verbose: bool,
    /// Start interrupted builds over instead of resuming them.
    pub fresh: bool,
    /// The shared build cache's address, and whether builds made here are uploaded to it.
    pub remote_cache: Option<String>,
    pub remote_cache_write: bool,
    /// The execution service that builds instances the cache lacks.
    pub remote_executor: Option<String>,
    /// Set when building as a remote action: the worker's name, written into the build's logs.
    pub worker: Option<String>,
}

impl Config {
    /// Settings for reading and planning only (`serpent check`): nothing is built or fetched.
    pub fn for_checking(root: &Path) -> Config {
        Config {
            root: root.to_path_buf(),
            work_dir: root.join("build"),
            store_dir: default_store_dir(),
            mirrors: Vec::new(),
            offline: true,
            jobs: 1,
            quiet: true,
            verbose: false,
            fresh: false,
            remote_cache: None,
            remote_cache_write: false,
            remote_executor: None,
            worker: None,
        }
    }

    /// The command line's settings over the config file's, with the project found from `hint`
    /// (the recipe or script the command names) or the current folder when `--root` is not given.
    pub fn resolve(cli: &Cli, hint: Option<&Path>) -> Result<Config> {
        let root = match &cli.root {
            Some(root) => std::path::absolute(root).map_err(|error| Error::io("cannot resolve", root, error))?,
            None => hint
                .and_then(find_root)
                .or_else(|| find_root(Path::new(".")))
                .ok_or_else(|| {
                    Error::Usage("cannot find the project: no folder holding recipes/ and stdlib/ here or above; pass --root DIR".into())
                })?,
        };
        let file = read_config_file(&config_file_path())?;
        let mut mirrors = file.mirrors;
        mirrors.extend(cli.mirrors.iter().cloned());
        let jobs = cli
            .jobs
            .or(file.jobs)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        Ok(Config {
            root,
            work_dir: std::path::absolute(&cli.work_dir)
                .unwrap_or_else(|_| PathBuf::from(&cli.work_dir)),
            store_dir: cli.store.clone().unwrap_or_else(default_store_dir),
            mirrors,
            offline: cli.offline,
            jobs,
            quiet: cli.quiet,
            verbose: cli.verbose,
            fresh: cli.fresh,
            remote_cache: cli.remote_cache.clone().or(file.remote_cache),
            remote_cache_write: cli.remote_cache_write || file.remote_cache_write,
            remote_executor: cli.remote_executor.clone().or(file.remote_executor),
            worker: None,
        })
    }
}

fn home_dir(variable: &str, fallback: &str) -> PathBuf {
    match std::env::var_os(variable) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/".into())).join(fallback),
    }
}

/// `$XDG_CACHE_HOME/serpent/sources`: the source store, shared between checkouts.
pub fn default_store_dir() -> PathBuf {
    home_dir("XDG_CACHE_HOME", ".cache").join("serpent/sources")
}

pub fn config_file_path() -> PathBuf {
    home_dir("XDG_CONFIG_HOME", ".config").join("serpent/config.toml")
}

pub fn read_config_file(path: &Path) -> Result<ConfigFile> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text)
            .map_err(|error| Error::Usage(format!("bad config file {}: {error}", path.display()))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
        Err(error) => Err(Error::io("cannot read", path, error)),
    }
}
