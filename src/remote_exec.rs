//! Remote execution over the Remote Execution API v2: an instance the cache lacks is sent to
//! the server's execution service as an `Action` whose input root holds what its build reads
//! (the scripts, its sources, the earlier stages and its dependencies' packages) and whose
//! command is serpent's own `remote-build`. On the worker that builds the one instance with
//! serpent's phase runner and sandbox and uploads it to the server's Action Cache under its
//! key; here it is then pulled like any cache hit. `serpent buildbox-run` is the worker side
//! for buildbox-casd's local execution service.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use std::path::Path;

use bazel_remote_apis::build::bazel::remote::execution::v2::{
    command::EnvironmentVariable, platform::Property, Action, ActionResult, Command, Digest,
    Platform, Tree,
};
use prost::Message;

use crate::error::{Error, Result};
use crate::remote_cache::package_tree::PulledTree;
use crate::remote_cache::{Failure, RemoteCache};

pub mod input_root;
pub mod worker;

use input_root::InputRoot;

/// The argument that names serpent itself in a remote command; the worker runs its own copy.
pub const SERPENT: &str = "serpent";

/// An execution service, as `--remote-executor grpc://HOST:PORT[/INSTANCE]` names it, with
/// the same server's CAS and Action Cache, from which the results are pulled.
pub struct RemoteExecutor {
    pub cache: RemoteCache,
    given_up: AtomicBool,
    /// The instruction sets it has no worker for, learnt in this run: their builds run here.
    no_worker: Mutex<BTreeSet<String>>,
}

/// What one remote action did.
pub enum Executed {
    /// It built the instance and put it in the Action Cache.
    Built { worker: String },
    /// The server has no worker for the action's platform (its answer).
    NoWorker(String),
    /// Its command failed: what it printed on stderr, its exit status, and the tree of the
    /// build's logs when it left any.
    Failed {
        worker: String,
        exit_code: i32,
        stderr: String,
        logs: Option<Digest>,
    },
}

/// What an action needs besides its input root.
pub struct Request {
    pub arguments: Vec<String>,
    pub environment: Vec<(String, String)>,
    pub isa: String,
    /// The build's log folder, relative to the input root: it comes back when the build fails.
    pub logs: String,
}

/// The executor the configuration names, if any.
pub fn open(config: &crate::config::Config) -> Result<Option<RemoteExecutor>> {
    match &config.remote_executor {
        Some(_) if config.offline => Ok(None),
        Some(address) => RemoteCache::open(address, false)
            .map_err(|error| match error {
                Error::Usage(text) => Error::Usage(text.replace("remote cache", "remote executor")),
                other => other,
            })
            .map(|cache| {
                Some(RemoteExecutor {
                    cache,
                    given_up: AtomicBool::new(false),
                    no_worker: Mutex::default(),
                })
            }),
        None => Ok(None),
    }
}

impl RemoteExecutor {
    pub fn address(&self) -> &str {
        &self.cache.address
    }

    /// Whether instances built for `isa` are still sent to it in this run.
    pub fn usable(&self, isa: &str) -> bool {
        !self.given_up.load(Ordering::Relaxed) && !self.no_worker.lock().unwrap().contains(isa)
    }

    /// Builds for `isa` run here from now on; the message to show, once per instruction set.
    pub fn no_worker_for(&self, isa: &str, answer: &str) -> Option<String> {
        self.no_worker.lock().unwrap().insert(isa.to_string()).then(|| {
            format!(
                "remote executor {} has no worker for ISA {isa} ({answer}); building those here, under qemu where the target is foreign",
                self.address()
            )
        })
    }

    /// Stops sending work to it; the message to show, only the first time.
    pub fn give_up(&self, failure: &str) -> Option<String> {
        if self.given_up.swap(true, Ordering::Relaxed) {
            return None;
        }
        Some(format!(
            "warning: remote executor {} is not usable ({failure}); building locally",
            self.address()
        ))
    }

    /// Uploads what the action needs that the server lacks, runs it and waits for it.
    pub fn execute(&self, request: &Request, mut root: InputRoot) -> Result<Executed, Failure> {
        let action_digest = action_of(request, &mut root);
        let server = self.cache.server();
        let all: Vec<Digest> = root
            .blobs
            .values()
            .map(|(digest, _)| digest.clone())
            .collect();
        let missing = server.find_missing(&all)?;
        server.upload(&missing, &|digest| root.blobs[&digest.hash].1.read())?;
        let response = server.execute(&action_digest)?;
        match response.status.as_ref() {
            Some(status) if status.code == tonic::Code::FailedPrecondition as i32 => {
                return Ok(Executed::NoWorker(status.message.clone()))
            }
            Some(status) if status.code != 0 => {
                return Err(format!("the action was not run: {}", status.message))
            }
            _ => {}
        }
        self.outcome(
            request,
            response.result.ok_or("the execution has no result")?,
        )
    }

    /// What a finished action did, with its stderr when it failed.
    fn outcome(&self, request: &Request, result: ActionResult) -> Result<Executed, Failure> {
        let worker = result
            .execution_metadata
            .as_ref()
            .map(|metadata| metadata.worker.clone())
            .filter(|worker| !worker.is_empty())
            .unwrap_or_else(|| "an unnamed worker".into());
        if result.exit_code == 0 {
            return Ok(Executed::Built { worker });
        }
        let stderr = match &result.stderr_digest {
            Some(digest) if digest.size_bytes > 0 => {
                let mut text = String::new();
                self.cache
                    .server()
                    .download(std::slice::from_ref(digest), &mut |_, bytes| {
                        text = String::from_utf8_lossy(&bytes).into_owned();
                        Ok(())
                    })?;
                text
            }
            _ => String::from_utf8_lossy(&result.stderr_raw).into_owned(),
        };
        let logs = result
            .output_directories
            .iter()
            .find(|output| output.path == request.logs)
            .and_then(|output| output.tree_digest.clone());
        Ok(Executed::Failed {
            worker,
            exit_code: result.exit_code,
            stderr,
            logs,
        })
    }

    /// Writes the tree `digest` names into `into`, which must not exist, every blob checked.
    pub fn fetch_tree(&self, digest: &Digest, into: &Path) -> Result<(), Failure> {
        let parent = into.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)
            .map_err(|error| format!("cannot create {}: {error}", parent.display()))?;
        let scratch = tempfile::Builder::new()
            .prefix(".serpent-tree-")
            .tempdir_in(parent)
            .map_err(|error| format!("cannot make a folder next to {}: {error}", into.display()))?;
        let blobs = scratch.path();
        self.cache
            .download_checked(std::slice::from_ref(digest), blobs)?;
        let bytes = std::fs::read(blobs.join(&digest.hash))
            .map_err(|error| format!("cannot read the tree: {error}"))?;
        let tree = PulledTree::new(
            Tree::decode(bytes.as_slice())
                .map_err(|error| format!("the tree does not decode: {error}"))?,
        )?;
        self.cache.download_checked(&tree.file_digests(), blobs)?;
        tree.write(into, blobs)
    }
}

/// The action running `request` on `root`, its command and itself kept in `root`'s blobs.
fn action_of(request: &Request, root: &mut InputRoot) -> Digest {
    let root_digest = root.finish();
    let mut environment: Vec<EnvironmentVariable> = request
        .environment
        .iter()
        .map(|(name, value)| EnvironmentVariable {
            name: name.clone(),
            value: value.clone(),
        })
        .collect();
    environment.sort_by(|a, b| a.name.cmp(&b.name));
    let platform = Platform {
        properties: vec![
            Property {
                name: "ISA".into(),
                value: request.isa.clone(),
            },
            Property {
                name: "OSFamily".into(),
                value: "linux".into(),
            },
        ],
    };
    // REAPI 2.2 moved the platform into the Action; servers from before read it from the
    // Command, so it goes in both.
    #[allow(deprecated)]
    let command = Command {
        arguments: request.arguments.clone(),
        environment_variables: environment,
        platform: Some(platform.clone()),
        output_paths: vec![request.logs.clone()],
        ..Default::default()
    };
    let command_digest = root.keep(command.encode_to_vec());
    // The result travels through the Action Cache under the instance's key; the action's
    // own result, a failure above all, must not be served to a later request.
    let action = Action {
        command_digest: Some(command_digest),
        input_root_digest: Some(root_digest),
        do_not_cache: true,
        platform: Some(platform),
        ..Default::default()
    };
    root.keep(action.encode_to_vec())
}
