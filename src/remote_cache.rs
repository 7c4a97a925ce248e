//! A shared build cache over the Remote Execution API v2 (BuildGrid, Buildbarn, BuildBuddy,
//! bazel-remote...). An instance's key names an `Action` (a `Command` that says only the key,
//! so its digest is a pure function of it); its package is the result's output folder `package`
//! in the CAS, its logs are output files `logs/<phase>.log` and its record `record.json`. A cache
//! that cannot be reached is given up for the rest of the run, never failing a build.
//! Sources are shared through it too (`source_entry.rs`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bazel_remote_apis::build::bazel::remote::execution::v2::{
    Action, ActionResult, Command, Digest, OutputDirectory, OutputFile, Tree,
};
use prost::Message;

use crate::error::{Error, Result};
use crate::record::Record;

pub(crate) mod package_tree;
pub(crate) mod server;
mod source_entry;

use package_tree::{digest_of, properties, set_time, PackageTree, PulledTree};
pub use server::Failure;
use server::Server;

/// The output folder holding the package, and the output file holding its record.
const PACKAGE: &str = "package";
const RECORD: &str = "record.json";
const LOGS: &str = "logs/";
/// Changed when what serpent puts in the cache changes, so older entries are not read.
const FORMAT: &str = "serpent-package-v1";

/// How long connecting may take, a lookup, and any other call (which may move a large blob).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// A remote cache, as `--remote-cache grpc://HOST:PORT[/INSTANCE]` names it.
pub struct RemoteCache {
    pub address: String,
    /// Whether local builds are uploaded (`--remote-cache-write`).
    pub write: bool,
    server: Server,
    /// Set at the first failure: the cache is not asked again in this run.
    given_up: AtomicBool,
}

/// A package pulled from the cache into a build's install folder, with the record it was
/// uploaded with.
pub struct Pulled {
    pub record: Record,
}

/// The cache the configuration names, if any; none with `--offline`, which keeps serpent off
/// the network altogether.
pub fn open(config: &crate::config::Config) -> Result<Option<RemoteCache>> {
    match &config.remote_cache {
        Some(_) if config.offline => Ok(None),
        Some(address) => RemoteCache::open(address, config.remote_cache_write).map(Some),
        None if config.remote_cache_write => Err(Error::Usage(
            "--remote-cache-write needs a cache to write to: give --remote-cache grpc://HOST:PORT too".into(),
        )),
        None => Ok(None),
    }
}

impl RemoteCache {
    pub fn open(address: &str, write: bool) -> Result<RemoteCache> {
        let bad = |why: &str| {
            Error::Usage(format!(
                "bad remote cache address {address}: {why}; give grpc://HOST:PORT, optionally followed by /INSTANCE, to --remote-cache or as remote-cache in {}",
                crate::config::config_file_path().display()
            ))
        };
        let rest = if let Some(rest) = address.strip_prefix("grpc://") {
            rest
        } else if address.starts_with("grpcs://") {
            return Err(bad("TLS (grpcs://) is not supported, reach the server over a trusted network or a local TLS proxy"));
        } else {
            return Err(bad("it does not start with grpc://"));
        };
        let (host, instance) = rest.split_once('/').unwrap_or((rest, ""));
        if host.is_empty() || !host.contains(':') {
            return Err(bad("it names no HOST:PORT"));
        }
        let server = Server::new(
            &format!("http://{host}"),
            instance.trim_end_matches('/'),
            CONNECT_TIMEOUT,
            (LOOKUP_TIMEOUT, CALL_TIMEOUT),
        )
        .map_err(|why| bad(&why))?;
        Ok(RemoteCache {
            address: address.to_string(),
            write,
            server,
            given_up: AtomicBool::new(false),
        })
    }

    /// The server behind the cache, for the other services it offers.
    pub(crate) fn server(&self) -> &Server {
        &self.server
    }

    /// Whether the cache is still used in this run.
    pub fn usable(&self) -> bool {
        !self.given_up.load(Ordering::Relaxed)
    }

    /// Stops using the cache; returns the message to show, only the first time.
    pub fn give_up(&self, failure: &str) -> Option<String> {
        self.give_up_for(failure, "building locally without it")
    }

    /// The same, saying what serpent does `instead`.
    fn give_up_for(&self, failure: &str, instead: &str) -> Option<String> {
        if self.given_up.swap(true, Ordering::Relaxed) {
            return None;
        }
        Some(format!(
            "warning: remote cache {} is not usable ({failure}); {instead}",
            self.address
        ))
    }

    /// Looks `key` up and, on a hit, writes its package into `<into>/package` and its logs
    /// into `<into>/logs`, every blob checked against its digest (in `<into>/blobs` meanwhile).
    pub fn pull(&self, key: &str, into: &Path) -> Result<Option<Pulled>, Failure> {
        let (action, _) = action_for(key);
        let Some(result) = self
            .server
            .action_result(&digest_of(&action.encode_to_vec()))?
        else {
            return Ok(None);
        };
        let tree_digest = result
            .output_directories
            .iter()
            .find(|output| output.path == PACKAGE)
            .and_then(|output| output.tree_digest.clone())
            .ok_or("the cached result has no package folder")?;
        let blobs = into.join("blobs");
        std::fs::create_dir_all(&blobs)
            .map_err(|error| format!("cannot create {}: {error}", blobs.display()))?;
        let blob = |digest: &Digest| blobs.join(&digest.hash);
        let read = |path: &Path| {
            std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))
        };
        self.download_checked(std::slice::from_ref(&tree_digest), &blobs)?;
        let tree = Tree::decode(read(&blob(&tree_digest))?.as_slice())
            .map_err(|error| format!("the cached package's tree does not decode: {error}"))?;
        let tree = PulledTree::new(tree)?;
        let mut wanted = tree.file_digests();
        wanted.extend(
            result
                .output_files
                .iter()
                .filter_map(|file| file.digest.clone()),
        );
        self.download_checked(&wanted, &blobs)?;
        tree.write(&into.join(PACKAGE), &blobs)?;
        let logs = into.join("logs");
        std::fs::create_dir_all(&logs)
            .map_err(|error| format!("cannot create {}: {error}", logs.display()))?;
        let mut record = None;
        for file in &result.output_files {
            let Some(source) = file.digest.as_ref().map(blob) else {
                continue;
            };
            if file.path == RECORD {
                record = serde_json::from_slice::<Record>(&read(&source)?).ok();
            } else if let Some(name) = file
                .path
                .strip_prefix(LOGS)
                .filter(|name| is_plain_name(name))
            {
                // Its time too, since `serpent log` shows the newest log.
                let path = logs.join(name);
                std::fs::copy(&source, &path)
                    .and_then(|_| set_time(&path, file.node_properties.as_ref()))
                    .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
            }
        }
        let record = record.ok_or("the cached result has no record")?;
        Ok(Some(Pulled { record }))
    }

    /// Downloads blobs into `dir`, each named by its hash once it matched its digest.
    pub(crate) fn download_checked(&self, digests: &[Digest], dir: &Path) -> Result<(), Failure> {
        // Hashes name files here: only a sha256 in hex may.
        if let Some(bad) = digests
            .iter()
            .find(|digest| !crate::digest::is_sha256(&digest.hash))
        {
            return Err(format!(
                "the cache names a blob {:?}, which is no sha256",
                bad.hash
            ));
        }
        let wanted: std::collections::HashSet<&Digest> = digests.iter().collect();
        let mut arrived = 0;
        self.server.download(digests, &mut |digest, bytes| {
            if !wanted.contains(digest) || digest_of(&bytes) != *digest {
                return Err(format!(
                    "blob {} from the CAS does not match its digest",
                    digest.hash
                ));
            }
            let path = dir.join(&digest.hash);
            arrived += 1;
            std::fs::write(&path, bytes)
                .map_err(|error| format!("cannot write {}: {error}", path.display()))
        })?;
        let missing = wanted
            .iter()
            .find(|digest| !dir.join(&digest.hash).is_file());
        match missing {
            Some(digest) => Err(format!("the CAS did not send blob {}", digest.hash)),
            None if arrived == 0 && !wanted.is_empty() => Err("the CAS sent no blob".into()),
            None => Ok(()),
        }
    }

    /// Uploads a package built here with its logs and record under `key`: every blob first,
    /// then the result, so the cache never answers with something it cannot serve.
    pub fn push(
        &self,
        key: &str,
        package: &Path,
        logs: &Path,
        record: &Record,
    ) -> Result<(), Failure> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))
        };
        let package_tree = PackageTree::read(package)
            .map_err(|error| format!("cannot read {}: {error}", package.display()))?;
        let mut small: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut keep = |bytes: Vec<u8>| {
            let digest = digest_of(&bytes);
            small.insert(digest.hash.clone(), bytes);
            digest
        };
        let (action, command) = action_for(key);
        let action_digest = keep(action.encode_to_vec());
        keep(command.encode_to_vec());
        let tree_digest = keep(package_tree.tree.encode_to_vec());
        for directory in &package_tree.tree.children {
            keep(directory.encode_to_vec());
        }
        let record_json = serde_json::to_vec_pretty(record).expect("a record serializes");
        let mut output_files = vec![output_file(RECORD, keep(record_json), None)];
        let mut log_names: Vec<String> = std::fs::read_dir(logs)
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|entry| entry.file_name().to_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        log_names.sort();
        for name in log_names {
            let path = logs.join(&name);
            let meta = std::fs::metadata(&path)
                .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
            let digest = keep(read(&path)?);
            output_files.push(output_file(&format!("{LOGS}{name}"), digest, Some(&meta)));
        }
        let mut all: Vec<Digest> = small.keys().map(|hash| digest_of(&small[hash])).collect();
        all.extend(
            package_tree
                .files
                .values()
                .map(|(digest, _)| digest.clone()),
        );
        let missing = self.server.find_missing(&all)?;
        self.server
            .upload(&missing, &|digest| match small.get(&digest.hash) {
                Some(bytes) => Ok(bytes.clone()),
                None => read(&package_tree.files[&digest.hash].1),
            })?;
        let result = ActionResult {
            output_files,
            output_directories: vec![OutputDirectory {
                path: PACKAGE.to_string(),
                tree_digest: Some(tree_digest),
                ..Default::default()
            }],
            exit_code: 0,
            ..Default::default()
        };
        self.server.update_action_result(&action_digest, result)
    }
}

/// The Action standing for an instance's key, and its Command. Nothing in them but the key
/// and the format: the same key gives the same digest on every machine.
fn action_for(key: &str) -> (Action, Command) {
    entry_action(FORMAT, key, PACKAGE)
}

/// The Action of an entry of serpent's: a Command saying only the entry's format and what it
/// is for, with one output path; an empty input root.
fn entry_action(format: &str, what: &str, output: &str) -> (Action, Command) {
    let command = Command {
        arguments: vec![format.to_string(), what.to_string()],
        output_paths: vec![output.to_string()],
        ..Default::default()
    };
    let empty_root = digest_of(&[]);
    let action = Action {
        command_digest: Some(digest_of(&command.encode_to_vec())),
        input_root_digest: Some(empty_root),
        ..Default::default()
    };
    (action, command)
}

fn output_file(path: &str, digest: Digest, meta: Option<&std::fs::Metadata>) -> OutputFile {
    OutputFile {
        path: path.to_string(),
        digest: Some(digest),
        node_properties: meta.map(properties),
        ..Default::default()
    }
}

/// A file name that stays in its folder.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}
