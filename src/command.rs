use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use nix::fcntl::OFlag;
use nix::unistd::pipe2;

use crate::sandbox::{Invocation, Sandbox};

/// One process to start: argv, a complete environment and a working directory.
#[derive(Debug, Clone)]
pub struct Command {
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: PathBuf,
    /// Handed to the child as MAKEFLAGS, so nested makes share serpent's job slots.
    pub jobserver: Option<jobserver::Client>,
    /// Where the command runs when its stage is isolated; host paths in argv, env and cwd
    /// are mapped to their place inside.
    pub sandbox: Option<Arc<Sandbox>>,
    /// Holds the pid of the command's keeper, or in a sandbox its helper, while it runs (0
    /// otherwise), for whoever may interrupt it (see [`crate::keeper::INTERRUPT`]).
    pub running: Option<Arc<AtomicU32>>,
}

/// Why a command did not succeed, before it is tied to a recipe and phase.
#[derive(Debug)]
pub struct Failed {
    pub status: String,
    pub tail: Vec<String>,
}

const TAIL_LINES: usize = 25;

impl Command {
    pub fn display(&self) -> String {
        self.argv
            .iter()
            .map(|arg| quote(arg))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Starts the command on the host under a keeper (see [`crate::keeper`]).
    fn spawn_on_host(&self, stdout: Stdio, stderr: Stdio) -> Result<Started, Failed> {
        let (report, report_write) = pipe2(OFlag::O_CLOEXEC).map_err(|errno| Failed {
            status: format!("could not start: no pipe for its keeper: {errno}"),
            tail: Vec::new(),
        })?;
        let inherited = report_write.as_raw_fd();
        let mut process = crate::keeper::wrap(&self.argv, inherited);
        process
            .env_clear()
            .envs(&self.env)
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        if let Some(client) = &self.jobserver {
            client.configure_make(&mut process);
        }
        // SAFETY: prctl and fcntl are async-signal-safe. The keeper replaces this
        // parent-death signal with one it handles once it is ready to clean up; until then,
        // a dying serpent kills it before it has started anything.
        unsafe {
            process.pre_exec(move || {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                    .map_err(std::io::Error::from)?;
                if nix::libc::fcntl(inherited, nix::libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = process.spawn().map_err(|error| Failed {
            status: format!("could not start its keeper (/proc/self/exe): {error}"),
            tail: Vec::new(),
        })?;
        if let Some(running) = &self.running {
            running.store(child.id(), Ordering::SeqCst);
        }
        Ok(Started {
            child,
            report: File::from(report),
            running: self.running.clone(),
        })
    }

    /// Runs the command with stdout and stderr appended to `log`.
    pub fn run(&self, log: &Path) -> Result<(), Failed> {
        let mut file = open_log(log)?;
        let _ = writeln!(file, "$ {}\n  (in {})", self.display(), self.cwd.display());
        let start = end_of(&file);
        let stdout = file.try_clone().map_err(spawn_error)?;
        let stderr = file.try_clone().map_err(spawn_error)?;
        let status = match &self.sandbox {
            Some(sandbox) => self.run_inside(sandbox, stdout.into(), stderr.into()),
            None => self
                .spawn_on_host(stdout.into(), stderr.into())
                .and_then(Started::wait),
        };
        match status {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => Err(Failed {
                status: describe(status),
                tail: tail(&mut file, start),
            }),
            Err(failed) => {
                let _ = writeln!(file, "serpent: {}", failed.status);
                Err(failed)
            }
        }
    }

    /// Runs the command and returns its standard output; stderr goes to `log`.
    pub fn capture(&self, log: &Path) -> Result<String, Failed> {
        let mut file = open_log(log)?;
        let _ = writeln!(file, "$ {}  (output captured)", self.display());
        let start = end_of(&file);
        let stderr = file.try_clone().map_err(spawn_error)?;
        let (status, stdout) = match &self.sandbox {
            Some(sandbox) => {
                let mut captured = tempfile::tempfile().map_err(spawn_error)?;
                let writer = captured.try_clone().map_err(spawn_error)?;
                let status = self.run_inside(sandbox, writer.into(), stderr.into())?;
                let mut bytes = Vec::new();
                captured.seek(SeekFrom::Start(0)).map_err(spawn_error)?;
                captured.read_to_end(&mut bytes).map_err(spawn_error)?;
                (status, bytes)
            }
            None => {
                let mut started = self.spawn_on_host(Stdio::piped(), stderr.into())?;
                let mut bytes = Vec::new();
                if let Some(mut stdout) = started.child.stdout.take() {
                    stdout.read_to_end(&mut bytes).map_err(spawn_error)?;
                }
                (started.wait()?, bytes)
            }
        };
        if status.success() {
            Ok(String::from_utf8_lossy(&stdout).into_owned())
        } else {
            Err(Failed {
                status: describe(status),
                tail: tail(&mut file, start),
            })
        }
    }

    /// The invocation as the sandbox sees it: every host path mapped to its place inside.
    pub fn invocation(&self, sandbox: &Sandbox) -> Invocation {
        Invocation {
            argv: self.argv.iter().map(|arg| sandbox.map_path(arg)).collect(),
            env: self
                .env
                .iter()
                .map(|(name, value)| (name.clone(), sandbox.map_path(value)))
                .collect(),
            cwd: PathBuf::from(sandbox.map_path(&self.cwd.to_string_lossy())),
        }
    }

    fn run_inside(
        &self,
        sandbox: &Sandbox,
        stdout: Stdio,
        stderr: Stdio,
    ) -> Result<ExitStatus, Failed> {
        let shared = crate::sandbox::Shared {
            jobserver: self.jobserver.as_ref(),
            running: self.running.as_deref(),
        };
        sandbox
            .run_shared(
                &self.invocation(sandbox),
                [stdout, stderr, Stdio::null()],
                shared,
            )
            .map_err(|error| Failed {
                status: format!("could not run in the stage's sandbox: {error}"),
                tail: Vec::new(),
            })
    }
}

/// A command started under its keeper.
struct Started {
    child: Child,
    /// Empty unless the keeper could not start the command; then it says why.
    report: File,
    running: Option<Arc<AtomicU32>>,
}

impl Started {
    fn wait(mut self) -> Result<ExitStatus, Failed> {
        let status = crate::usage::wait(&mut self.child);
        if let Some(running) = &self.running {
            running.store(0, Ordering::SeqCst);
        }
        let status = status.map_err(spawn_error)?;
        if status.code() == Some(crate::keeper::NOT_STARTED) {
            let mut why = String::new();
            let _ = self.report.read_to_string(&mut why);
            if !why.is_empty() {
                return Err(Failed {
                    status: why,
                    tail: Vec::new(),
                });
            }
        }
        Ok(status)
    }
}

fn spawn_error(error: std::io::Error) -> Failed {
    Failed {
        status: format!("could not be run: {error}"),
        tail: Vec::new(),
    }
}

fn end_of(file: &File) -> u64 {
    file.metadata().map(|meta| meta.len()).unwrap_or(0)
}

fn open_log(log: &Path) -> Result<File, Failed> {
    if let Some(parent) = log.parent() {
        std::fs::create_dir_all(parent).map_err(spawn_error)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(log)
        .map_err(|error| Failed {
            status: format!("could not open its log {}: {error}", log.display()),
            tail: Vec::new(),
        })?;
    Ok(file)
}

/// The last lines this command wrote to its log.
fn tail(file: &mut File, start: u64) -> Vec<String> {
    let mut text = String::new();
    let _ = file.seek(SeekFrom::Start(start));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    text.push_str(&String::from_utf8_lossy(&bytes));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..]
        .iter()
        .map(|line| line.to_string())
        .collect()
}

pub fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => {
            let name = nix::sys::signal::Signal::try_from(signal)
                .map(|signal| signal.as_str().to_string())
                .unwrap_or_else(|_| signal.to_string());
            format!("was killed by signal {name}")
        }
        _ => "ended abnormally".to_string(),
    }
}

/// Quotes one argument the way a POSIX shell would need it, for messages and logs.
pub fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%^".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}
