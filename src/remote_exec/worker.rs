//! `serpent buildbox-run`: a runner for buildbox-casd's local execution service, so that any
//! machine with serpent and buildbox-casd is a remote execution worker:
//! `buildbox-casd --buildbox-run=$(command -v serpent) --runner-arg=buildbox-run ...`.
//! It reads the action casd hands it, stages the input root from casd's CAS (every blob
//! checked against its digest), runs the command on this host with the staged root as its
//! working folder, and writes the ActionResult where casd asks. The command is expected to be
//! serpent's own `remote-build`, which isolates the build in serpent's sandbox; the runner
//! itself isolates nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bazel_remote_apis::build::bazel::remote::execution::v2::{
    Action, ActionResult, Command, Digest, Directory, ExecutedActionMetadata, OutputDirectory, Tree,
};
use bazel_remote_apis::google::protobuf::Timestamp;
use prost::Message;

use crate::error::{Error, Result};
use crate::remote_cache::package_tree::{digest_of, PackageTree, PulledTree};
use crate::remote_cache::{Failure, RemoteCache};

use super::SERPENT;

/// The options of casd's that the runner uses; the others are accepted and ignored.
#[derive(Default)]
struct Options {
    action: Option<PathBuf>,
    action_result: Option<PathBuf>,
    remote: Option<String>,
    instance: String,
    stdout_file: Option<PathBuf>,
    stderr_file: Option<PathBuf>,
    workspace: Option<PathBuf>,
}

pub fn run(arguments: &[String]) -> Result<i32> {
    let options = parse(arguments)?;
    let (Some(action), Some(action_result), Some(remote)) =
        (&options.action, &options.action_result, &options.remote)
    else {
        return Err(Error::Usage(
            "buildbox-run needs --action=, --action-result= and --remote= (buildbox-casd gives them)"
                .into(),
        ));
    };
    let address = match remote.strip_prefix("http://") {
        Some(host) if options.instance.is_empty() => format!("grpc://{host}"),
        Some(host) => format!("grpc://{host}/{}", options.instance),
        None => {
            return Err(Error::Usage(format!(
                "buildbox-run reaches casd over TCP only; start buildbox-casd with --bind=HOST:PORT, not {remote}"
            )))
        }
    };
    let cas = RemoteCache::open(&address, false)?;
    let result = execute(&cas, &address, action, &options).map_err(Error::RemoteBuild)?;
    std::fs::write(action_result, result.encode_to_vec())
        .map_err(|error| Error::io("cannot write", action_result, error))?;
    Ok(0)
}

fn parse(arguments: &[String]) -> Result<Options> {
    let mut options = Options::default();
    for argument in arguments {
        let Some((name, value)) = argument.split_once('=') else {
            continue;
        };
        let path = || Some(PathBuf::from(value));
        match name {
            "--action" => options.action = path(),
            "--action-result" => options.action_result = path(),
            "--remote" => options.remote = Some(value.to_string()),
            "--instance" => options.instance = value.to_string(),
            "--stdout-file" if !value.is_empty() => options.stdout_file = path(),
            "--stderr-file" if !value.is_empty() => options.stderr_file = path(),
            "--workspace-path" if !value.is_empty() => options.workspace = path(),
            _ => {}
        }
    }
    Ok(options)
}

fn execute(
    cas: &RemoteCache,
    address: &str,
    action_path: &Path,
    options: &Options,
) -> Result<ActionResult, Failure> {
    let started = now();
    let bytes = std::fs::read(action_path)
        .map_err(|error| format!("cannot read {}: {error}", action_path.display()))?;
    let action = Action::decode(bytes.as_slice())
        .map_err(|error| format!("the action does not decode: {error}"))?;
    let scratch = tempfile::Builder::new()
        .prefix("serpent-action-")
        .tempdir_in(options.workspace.clone().unwrap_or_else(std::env::temp_dir))
        .map_err(|error| format!("cannot make a folder for the action: {error}"))?;
    let (command, root) = stage(cas, &action, scratch.path())?;
    let fetched = now();
    let stdout = options
        .stdout_file
        .clone()
        .unwrap_or_else(|| scratch.path().join("stdout"));
    let stderr = options
        .stderr_file
        .clone()
        .unwrap_or_else(|| scratch.path().join("stderr"));
    let exit_code = run_command(&command, &root, address, (&stdout, &stderr))?;
    let executed = now();
    let (output_directories, [stdout_digest, stderr_digest]) =
        upload_outputs(cas, &command, &root, [&stdout, &stderr])?;
    Ok(ActionResult {
        exit_code,
        output_directories,
        stdout_digest: Some(stdout_digest),
        stderr_digest: Some(stderr_digest),
        execution_metadata: Some(ExecutedActionMetadata {
            worker: worker_name(),
            worker_start_timestamp: Some(started),
            input_fetch_start_timestamp: Some(started),
            input_fetch_completed_timestamp: Some(fetched),
            execution_start_timestamp: Some(fetched),
            execution_completed_timestamp: Some(executed),
            worker_completed_timestamp: Some(now()),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// Downloads the action's command and input root; the command, and where the root is staged.
fn stage(
    cas: &RemoteCache,
    action: &Action,
    scratch: &Path,
) -> Result<(Command, PathBuf), Failure> {
    let blobs = scratch.join("blobs");
    std::fs::create_dir(&blobs)
        .map_err(|error| format!("cannot create {}: {error}", blobs.display()))?;
    let command_digest = action
        .command_digest
        .clone()
        .ok_or("the action names no command")?;
    cas.download_checked(std::slice::from_ref(&command_digest), &blobs)?;
    let command = Command::decode(read(&blobs.join(&command_digest.hash))?.as_slice())
        .map_err(|error| format!("the command does not decode: {error}"))?;
    let root_digest = action
        .input_root_digest
        .clone()
        .ok_or("the action names no input root")?;
    let tree = PulledTree::new(input_tree(cas, &root_digest, &blobs)?)?;
    cas.download_checked(&tree.file_digests(), &blobs)?;
    let root = scratch.join("input");
    tree.write(&root, &blobs)?;
    Ok((command, root))
}

/// Uploads the command's stdout and stderr and its output folders that exist; the folders
/// as the result names them, and the two streams' digests.
fn upload_outputs(
    cas: &RemoteCache,
    command: &Command,
    root: &Path,
    streams: [&Path; 2],
) -> Result<(Vec<OutputDirectory>, [Digest; 2]), Failure> {
    let mut outputs = BTreeMap::new();
    let mut keep = |path: &Path| -> Result<Digest, Failure> {
        let digest = digest_of(&read(path)?);
        outputs.insert(digest.hash.clone(), (digest.clone(), path.to_path_buf()));
        Ok(digest)
    };
    let stream_digests = [keep(streams[0])?, keep(streams[1])?];
    let mut messages = BTreeMap::new();
    let mut output_directories = Vec::new();
    for path in &command.output_paths {
        let local = root.join(&command.working_directory).join(path);
        if !local.is_dir() || path.split('/').any(|name| name == "..") {
            continue;
        }
        let read = PackageTree::read(&local)
            .map_err(|error| format!("cannot read {}: {error}", local.display()))?;
        let tree = read.tree.encode_to_vec();
        let tree_digest = digest_of(&tree);
        messages.insert(tree_digest.hash.clone(), tree);
        for directory in &read.tree.children {
            let bytes = directory.encode_to_vec();
            messages.insert(digest_of(&bytes).hash, bytes);
        }
        outputs.extend(read.files);
        output_directories.push(OutputDirectory {
            path: path.clone(),
            tree_digest: Some(tree_digest),
            ..Default::default()
        });
    }
    let mut wanted: Vec<Digest> = outputs.values().map(|(digest, _)| digest.clone()).collect();
    wanted.extend(messages.values().map(|bytes| digest_of(bytes)));
    let missing = cas.server().find_missing(&wanted)?;
    cas.server()
        .upload(&missing, &|digest| match messages.get(&digest.hash) {
            Some(bytes) => Ok(bytes.clone()),
            None => read(&outputs[&digest.hash].1),
        })?;
    Ok((output_directories, stream_digests))
}

/// The input root's folders, level by level, as one `Tree`.
fn input_tree(cas: &RemoteCache, root: &Digest, blobs: &Path) -> Result<Tree, Failure> {
    let decode = |digest: &Digest| -> Result<Directory, Failure> {
        Directory::decode(read(&blobs.join(&digest.hash))?.as_slice())
            .map_err(|error| format!("folder {} does not decode: {error}", digest.hash))
    };
    cas.download_checked(std::slice::from_ref(root), blobs)?;
    let top = decode(root)?;
    let mut children = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut level: Vec<Digest> = top
        .directories
        .iter()
        .filter_map(|d| d.digest.clone())
        .collect();
    while !level.is_empty() {
        level.retain(|digest| seen.insert(digest.hash.clone()));
        cas.download_checked(&level, blobs)?;
        let mut next = Vec::new();
        for digest in &level {
            let directory = decode(digest)?;
            next.extend(
                directory
                    .directories
                    .iter()
                    .filter_map(|d| d.digest.clone()),
            );
            children.push(directory);
        }
        level = next;
    }
    Ok(Tree {
        root: Some(top),
        children,
    })
}

/// Runs the command in the staged root; its exit status (128 + the signal that killed it).
fn run_command(
    command: &Command,
    root: &Path,
    address: &str,
    (stdout, stderr): (&Path, &Path),
) -> Result<i32, Failure> {
    let (program, arguments) = command
        .arguments
        .split_first()
        .ok_or("the command is empty")?;
    let program = if program == SERPENT {
        std::env::current_exe().map_err(|error| format!("cannot find serpent itself: {error}"))?
    } else {
        PathBuf::from(program)
    };
    let create = |path: &Path| {
        std::fs::File::create(path)
            .map_err(|error| format!("cannot create {}: {error}", path.display()))
    };
    let mut process = std::process::Command::new(&program);
    // The worker's own serpent settings must not leak into the build it runs for another.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SERPENT_") {
            process.env_remove(name);
        }
    }
    process
        .args(arguments)
        .current_dir(root.join(&command.working_directory))
        .envs(
            command
                .environment_variables
                .iter()
                .map(|v| (&v.name, &v.value)),
        )
        .env("SERPENT_REMOTE_CACHE", address)
        .stdin(std::process::Stdio::null())
        .stdout(create(stdout)?)
        .stderr(create(stderr)?);
    let status = process
        .status()
        .map_err(|error| format!("cannot run {}: {error}", program.display()))?;
    use std::os::unix::process::ExitStatusExt;
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

/// This machine's name, as the worker's log and the client's messages show it.
pub fn worker_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .unwrap_or_else(|| "unknown".into())
}

fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))
}

fn now() -> Timestamp {
    let since = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp {
        seconds: since.as_secs() as i64,
        nanos: since.subsec_nanos() as i32,
    }
}
