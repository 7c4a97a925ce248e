//! Rootless isolation for build commands.
//!
//! A [`Sandbox`] runs one command with a stage root as `/`, a few bind mounts, private
//! /proc, /dev, /tmp, no network but a working loopback, the invoking user mapped to root,
//! and the build's own pid 1. It needs no privileges: only user namespaces (and, for foreign
//! architectures, a per-user-namespace binfmt_misc from Linux 6.7, or a host registration).
//!
//! How it works. Namespaces cannot be entered safely from a multi-threaded process, so
//! [`Sandbox::run`] re-executes the current binary as `/proc/self/exe __sandbox CONFIG_FD
//! REPORT_FD`. `main()` must call [`child_main`] first thing when it sees `__sandbox`. That
//! helper (single-threaded) reads the request as JSON from CONFIG_FD, unshares the user, mount,
//! pid, ipc, uts and network namespaces, maps its uid/gid to 0 and forks pid 1 of the new pid
//! namespace. Pid 1 builds the mount tree, pivots into the root, forks and execs the command
//! and reaps every process until the command ends, then exits with its status. The kernel
//! kills whatever is left when pid 1 exits, and all mounts disappear with the namespace.
//! Both the helper and pid 1 die with their parent (PR_SET_PDEATHSIG = SIGKILL, with checks
//! for the race where the parent died first), so a `kill -9` of serpent leaves nothing.
//!
//! The status protocol. Problems during setup are written as JSON lines to REPORT_FD
//! (close-on-exec, so the command never sees it) and the helper exits with
//! [`SETUP_FAILED`]; `run` turns them into [`SandboxError`]. Otherwise the helper exits with
//! the command's exit code. When the command dies by a signal, pid 1 reports the signal on
//! REPORT_FD and exits with 128 + signal; `run` rebuilds a real signal [`ExitStatus`]
//! (`status.signal() == Some(n)`), so callers can tell "killed by SIGSEGV" from "exit 139".

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::ffi::{CStr, CString, OsStr};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{signal, sigprocmask, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{
    chdir, execve, fork, getegid, geteuid, getppid, pipe2, pivot_root, sethostname, ForkResult, Pid,
};
use serde::{Deserialize, Serialize};

/// The first argument that makes `main()` hand over to [`child_main`].
pub const CHILD_ARG: &str = "__sandbox";

/// The helper's exit code when the sandbox could not be set up (the reason is on the report
/// pipe; the code alone is never trusted, since a command may exit with 125 too).
pub const SETUP_FAILED: i32 = 125;

/// The hostname inside.
pub const HOSTNAME: &str = "serpent";

/// Set (to anything) in serpent's environment to behave as if the kernel had no private
/// binfmt_misc per user namespace (before Linux 6.7): only a host registration is used.
/// For testing the fallback and error paths.
pub const NO_PRIVATE_BINFMT_ENV: &str = "SERPENT_SANDBOX_NO_PRIVATE_BINFMT";

/// What a command sees inside.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sandbox {
    /// The stage root on the host; becomes `/`. It should be owned by the invoking user, so
    /// that missing mount points can be created in it.
    pub root: PathBuf,
    /// Whether `/` itself is read-only (the mounts on it keep their own modes): a build's view
    /// of its stage shares its files with the packages, which nothing may change.
    #[serde(default)]
    pub read_only_root: bool,
    /// Host paths mounted inside, for example the previous stage root at /serpent
    /// (read-only), the source, build and destination folders under /build.
    pub binds: Vec<Bind>,
    /// How to run binaries of a foreign architecture.
    pub emulator: Option<Emulator>,
}

impl Sandbox {
    /// Where a path inside the sandbox lives on the host: under the bind that covers it, else
    /// under the root. None for a path that is not absolute.
    pub fn host_path(&self, inside: &Path) -> Option<PathBuf> {
        let relative = inside.strip_prefix("/").ok()?;
        let deepest = self
            .binds
            .iter()
            .filter_map(|bind| Some((bind, inside.strip_prefix(&bind.target).ok()?)))
            .max_by_key(|(bind, _)| bind.target.components().count());
        Some(match deepest {
            Some((bind, rest)) => bind.source.join(rest),
            None => self.root.join(relative),
        })
    }
}

/// A host path that appears at `target` inside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bind {
    pub source: PathBuf,
    /// An absolute path inside.
    pub target: PathBuf,
    pub read_only: bool,
}

/// A binfmt_misc registration: binaries whose first bytes match `magic` under `mask` run
/// through `interpreter`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Emulator {
    /// The registration's name, for example "qemu-aarch64".
    pub name: String,
    /// The interpreter on the host, for example /usr/bin/qemu-aarch64-static. It is opened
    /// when registering (flag F), so it need not exist inside.
    pub interpreter: PathBuf,
    /// In the `\xNN` form the binfmt_misc register file takes.
    pub magic: String,
    pub mask: String,
}

/// One command to run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Invocation {
    /// The program (searched in the PATH of `env` when it has no `/`) and its arguments.
    pub argv: Vec<String>,
    /// The whole environment of the command; nothing else is passed.
    pub env: BTreeMap<String, String>,
    /// The working folder, inside.
    pub cwd: PathBuf,
}

/// Why a command could not be run in a sandbox.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SandboxError {
    #[error("cannot start the sandbox helper (/proc/self/exe {CHILD_ARG}): {0}")]
    #[diagnostic(code(serpent::sandbox))]
    Spawn(#[source] std::io::Error),

    #[error("cannot set up the sandbox: {step}: {message}")]
    #[diagnostic(code(serpent::sandbox))]
    Setup { step: String, message: String },

    #[error("cannot run {program} in the sandbox: {message}")]
    #[diagnostic(code(serpent::sandbox))]
    Exec { program: String, message: String },

    #[error("cannot run {name} binaries: {message}")]
    #[diagnostic(code(serpent::sandbox))]
    Emulator { name: String, message: String },

    #[error("the sandbox helper ended without a report ({0}); was it killed?")]
    #[diagnostic(code(serpent::sandbox))]
    Lost(String),
}

impl Emulator {
    /// The line written to binfmt_misc's register file.
    fn registration(&self) -> String {
        format!(
            ":{}:M::{}:{}:{}:F",
            self.name,
            self.magic,
            self.mask,
            self.interpreter.display()
        )
    }
}

/// The message when neither a private binfmt_misc nor a host registration is available.
pub fn emulator_unavailable_message(emulator: &Emulator, private_error: Option<&str>) -> String {
    let why = match private_error {
        Some(error) => format!(
            "this kernel gave no private binfmt_misc in the sandbox's user namespace \
             (mount binfmt_misc: {error}; that needs Linux 6.7+)"
        ),
        None => "a private binfmt_misc was not tried".to_string(),
    };
    format!(
        "{name} is not registered with binfmt_misc on the host and {why}: \
         install qemu-user-static and binfmt-support, or run `update-binfmts --enable {name}` \
         as root (with binfmt_misc mounted at /proc/sys/fs/binfmt_misc), or use Linux 6.7+",
        name = emulator.name
    )
}

/// What the helper and pid 1 tell `run`, one JSON object a line.
#[derive(Debug, Serialize, Deserialize)]
enum Report {
    Setup { step: String, message: String },
    Exec { program: String, message: String },
    Emulator { name: String, message: String },
    Signal { signal: i32, core: bool },
}

/// What `run` hands the helper.
#[derive(Debug, Serialize, Deserialize)]
struct Request {
    sandbox: Sandbox,
    invocation: Invocation,
    /// The host has an enabled binfmt_misc entry of the emulator's name.
    host_binfmt: bool,
    /// Whether to try a private binfmt_misc mount.
    private_binfmt: bool,
}

impl Sandbox {
    /// Runs one command inside, with the given stdio, and returns its exit status. A command
    /// killed by a signal gives a status whose `signal()` is that signal.
    pub fn run(
        &self,
        invocation: &Invocation,
        stdout: Stdio,
        stderr: Stdio,
        stdin: Stdio,
    ) -> Result<ExitStatus, SandboxError> {
        self.run_shared(invocation, [stdout, stderr, stdin], Shared::default())
    }

    /// [`Sandbox::run`], with what the command shares with serpent; `stdio` is stdout,
    /// stderr and stdin.
    pub fn run_shared(
        &self,
        invocation: &Invocation,
        stdio: [Stdio; 3],
        shared: Shared,
    ) -> Result<ExitStatus, SandboxError> {
        let [stdout, stderr, stdin] = stdio;
        let host_binfmt = self.host_binfmt()?;
        let pipe = || -> Result<(OwnedFd, OwnedFd), SandboxError> {
            let (read, write) = pipe2(OFlag::O_CLOEXEC)
                .map_err(|errno| SandboxError::Spawn(std::io::Error::from(errno)))?;
            Ok((above_stdio(read)?, above_stdio(write)?))
        };
        let (config_read, config_write) = pipe()?;
        let (report_read, report_write) = pipe()?;
        let inherited = [config_read.as_raw_fd(), report_write.as_raw_fd()];

        let mut command = Command::new("/proc/self/exe");
        command
            .arg0("serpent-sandbox")
            .arg(CHILD_ARG)
            .arg(inherited[0].to_string())
            .arg(inherited[1].to_string())
            .env_clear()
            .stdin(stdin)
            .stdout(stdout)
            .stderr(stderr);
        let mut invocation = invocation.clone();
        if let Some(client) = shared.jobserver {
            share_jobserver(client, &mut command, &mut invocation);
        }
        let request = Request {
            sandbox: self.clone(),
            invocation,
            host_binfmt,
            private_binfmt: std::env::var_os(NO_PRIVATE_BINFMT_ENV).is_none(),
        };
        let json = serde_json::to_vec(&request).expect("a sandbox request serializes");
        let interrupt = crate::interrupt_relay::interrupt_set();
        // SAFETY: fcntl and sigprocmask are async-signal-safe; only these two descriptors (and
        // the pool's pipe, when shared) lose close-on-exec, and only in the child, so other
        // threads' children never inherit them.
        unsafe {
            command.pre_exec(move || {
                for fd in inherited {
                    if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                crate::interrupt_relay::block_interrupt(&interrupt)
            });
        }
        let mut child = command.spawn().map_err(SandboxError::Spawn)?;
        if let Some(running) = shared.running {
            running.store(child.id(), Ordering::SeqCst);
        }
        drop(config_read);
        drop(report_write);
        {
            // A helper that died early closes the pipe; its report says why.
            let mut writer = File::from(config_write);
            let _ = writer.write_all(&json);
        }
        let status = crate::usage::wait(&mut child);
        if let Some(running) = shared.running {
            running.store(0, Ordering::SeqCst);
        }
        let status = status.map_err(SandboxError::Spawn)?;
        let reports = read_reports(report_read);
        outcome(status, reports)
    }

    /// Whether the host has the emulator registered (false for a native sandbox); an error
    /// if the emulator is not there at all.
    fn host_binfmt(&self) -> Result<bool, SandboxError> {
        let Some(emulator) = &self.emulator else {
            return Ok(false);
        };
        if !emulator.interpreter.is_file() {
            return Err(SandboxError::Emulator {
                name: emulator.name.clone(),
                message: format!(
                    "the interpreter {} does not exist: install qemu-user-static",
                    emulator.interpreter.display()
                ),
            });
        }
        Ok(host_registration_enabled(&emulator.name))
    }

    /// Maps host paths in `text` to their place inside: the longest matching bind source
    /// first, and `root` to `/`. Only whole path components match, and only at the start of
    /// a path (`-I/root/usr/include` maps, `/elsewhere/root/usr` does not).
    pub fn map_path(&self, text: &str) -> String {
        let trim = |path: &Path| {
            let text = path.to_string_lossy().into_owned();
            match text.trim_end_matches('/') {
                "" => "/".to_string(),
                trimmed => trimmed.to_string(),
            }
        };
        let mut pairs: Vec<(String, String)> = self
            .binds
            .iter()
            .map(|bind| (trim(&bind.source), trim(&bind.target)))
            .chain(std::iter::once((trim(&self.root), "/".to_string())))
            .filter(|(source, _)| source != "/")
            .collect();
        pairs.sort_by_key(|(source, _)| Reverse(source.len()));

        let is_path_char =
            |c: char| c.is_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '+' | '~' | '@');
        let mut out = String::with_capacity(text.len());
        let mut in_path = false;
        let mut index = 0;
        'scan: while let Some(c) = text[index..].chars().next() {
            if c == '/' && !in_path {
                for (source, target) in &pairs {
                    let Some(rest) = text[index..].strip_prefix(source.as_str()) else {
                        continue;
                    };
                    let next = rest.chars().next();
                    if next.is_some_and(|next| next != '/' && is_path_char(next)) {
                        continue;
                    }
                    if target == "/" {
                        if next != Some('/') {
                            out.push('/');
                        }
                    } else {
                        out.push_str(target);
                    }
                    index += source.len();
                    in_path = true;
                    continue 'scan;
                }
            }
            if c == '/' {
                in_path = true;
            } else if !is_path_char(c) {
                in_path = false;
            }
            out.push(c);
            index += c.len_utf8();
        }
        out
    }
}

/// What a build's command shares with serpent through the sandbox's walls.
#[derive(Default, Clone, Copy)]
pub struct Shared<'a> {
    /// serpent's job pool: the command inherits its pipe and MAKEFLAGS names it, so a make
    /// inside takes its jobs from the same tokens as every other build.
    pub jobserver: Option<&'a jobserver::Client>,
    /// Holds the helper's pid while the command runs (0 otherwise): INTERRUPT sent there
    /// reaches the command as SIGINT (see [`crate::interrupt_relay`]).
    pub running: Option<&'a AtomicU32>,
}

/// Has the helper `command` inherit the pool's pipe, which stays open through pid 1 into the
/// command at the same descriptor numbers, and gives the command the MAKEFLAGS naming them.
fn share_jobserver(client: &jobserver::Client, command: &mut Command, invocation: &mut Invocation) {
    client.configure_make(command);
    for (name, value) in command.get_envs() {
        if let (Some(name @ ("MAKEFLAGS" | "MFLAGS")), Some(Some(value))) =
            (name.to_str(), value.map(OsStr::to_str))
        {
            invocation.env.insert(name.to_string(), value.to_string());
        }
    }
}

/// Whether /proc/sys/fs/binfmt_misc/NAME exists on the host and is enabled.
pub fn host_registration_enabled(name: &str) -> bool {
    std::fs::read_to_string(Path::new("/proc/sys/fs/binfmt_misc").join(name))
        .map(|text| text.lines().next() == Some("enabled"))
        .unwrap_or(false)
}

/// Moves a descriptor off 0, 1 and 2 (which the child's stdio replaces), keeping close-on-exec.
fn above_stdio(fd: OwnedFd) -> Result<OwnedFd, SandboxError> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: fcntl on a descriptor we own; the result is a new descriptor we then own.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if new == -1 {
        return Err(SandboxError::Spawn(std::io::Error::last_os_error()));
    }
    // SAFETY: `new` was just returned by fcntl and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

fn read_reports(fd: OwnedFd) -> Vec<Report> {
    // Every writer has exited, except in odd cases (a helper killed while pid 1 lives for a
    // moment more); never block on them.
    // SAFETY: setting O_NONBLOCK on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    let mut text = Vec::new();
    let _ = File::from(fd).read_to_end(&mut text);
    String::from_utf8_lossy(&text)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

fn outcome(status: ExitStatus, reports: Vec<Report>) -> Result<ExitStatus, SandboxError> {
    let mut signal = None;
    for report in reports {
        match report {
            Report::Setup { step, message } => return Err(SandboxError::Setup { step, message }),
            Report::Exec { program, message } => {
                return Err(SandboxError::Exec { program, message })
            }
            Report::Emulator { name, message } => {
                return Err(SandboxError::Emulator { name, message })
            }
            Report::Signal {
                signal: number,
                core,
            } => signal = Some(number | if core { 0x80 } else { 0 }),
        }
    }
    if let Some(raw) = signal {
        return Ok(ExitStatus::from_raw(raw));
    }
    if status.code() == Some(SETUP_FAILED) && status.signal().is_none() {
        // Either the command exited with 125 or the helper failed before it could report;
        // the latter only when its argv or pipes were broken, which `run` never does.
        return Ok(status);
    }
    if let Some(number) = status.signal() {
        if number != libc::SIGKILL {
            return Err(SandboxError::Lost(format!(
                "helper killed by signal {number}"
            )));
        }
    }
    Ok(status)
}

// ---------------------------------------------------------------------------------------------
// The helper side. Everything below runs in the re-executed, single-threaded process.

/// Writes reports to the parent and exits on failure.
struct Reporter {
    fd: RawFd,
}

impl Reporter {
    fn send(&self, report: &Report) {
        let mut line = serde_json::to_string(report).expect("a report serializes");
        line.push('\n');
        // One write: lines from pid 1 and the helper never interleave (and are short).
        // SAFETY: writing a buffer we own to a descriptor we were given.
        unsafe {
            libc::write(self.fd, line.as_ptr().cast(), line.len());
        }
    }

    fn fail(&self, step: impl Into<String>, message: impl Into<String>) -> ! {
        self.send(&Report::Setup {
            step: step.into(),
            message: message.into(),
        });
        exit(SETUP_FAILED)
    }

    /// The value of a step that worked, or the end of the sandbox.
    fn check<T, E: std::fmt::Display>(
        &self,
        step: impl FnOnce() -> String,
        result: Result<T, E>,
    ) -> T {
        match result {
            Ok(value) => value,
            Err(error) => self.fail(step(), error.to_string()),
        }
    }
}

/// Leaves the process without running destructors or flushing anything shared with the
/// parent (after fork, stdio buffers belong to someone else).
fn exit(code: i32) -> ! {
    // SAFETY: _exit is always safe to call.
    unsafe { libc::_exit(code) }
}

/// The re-executed helper's entry point: call it from `main()` first thing when the first
/// argument is [`CHILD_ARG`]. Never returns.
pub fn child_main() -> ! {
    let args: Vec<String> = std::env::args().collect();
    let fds: Option<(RawFd, RawFd)> = match args.as_slice() {
        [_, _, config, report] => config.parse().ok().zip(report.parse().ok()),
        _ => None,
    };
    let Some((config_fd, report_fd)) = fds else {
        eprintln!("serpent: `{CHILD_ARG}` is internal to serpent's sandbox");
        exit(SETUP_FAILED)
    };
    // SAFETY: setting close-on-exec on the descriptor `run` passed us.
    unsafe { libc::fcntl(report_fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    let reporter = Reporter { fd: report_fd };
    let mut json = Vec::new();
    // SAFETY: `run` passed us the read end of the config pipe; we own it from here.
    let config = unsafe { File::from_raw_fd(config_fd) };
    reporter.check(
        || "read the sandbox request".to_string(),
        (&config).read_to_end(&mut json),
    );
    drop(config);
    let request: Request = reporter.check(
        || "parse the sandbox request".to_string(),
        serde_json::from_slice(&json),
    );
    helper(&request, &reporter)
}

/// The helper: enters the new namespaces and forks pid 1, then waits to pass on its status.
fn helper(request: &Request, reporter: &Reporter) -> ! {
    let parent = getppid();
    enter_namespaces(reporter);
    die_with(parent, reporter);
    ignore_signals_meant_for_the_command();
    // Pid 1 polls this pipe once: if the helper died before pid 1 set its parent-death
    // signal, the pipe has no writer left.
    let (alive_read, alive_write) =
        reporter.check(|| "create a pipe".to_string(), pipe2(OFlag::O_CLOEXEC));
    // SAFETY: this process is single-threaded.
    match reporter.check(|| "fork pid 1".to_string(), unsafe { fork() }) {
        ForkResult::Parent { child } => {
            drop(alive_read);
            reporter.check(
                || "relay interrupts to pid 1".to_string(),
                crate::interrupt_relay::relay_interrupt(child, crate::keeper::INTERRUPT),
            );
            exit(wait_for_pid1(child, reporter))
        }
        ForkResult::Child => {
            drop(alive_write);
            pid1_unless_orphaned(alive_read, request, reporter)
        }
    }
}

/// Unshares the user, mount, pid, ipc, uts and network namespaces and maps the invoking user
/// and group to root inside, so that the command runs as root there with no privilege on
/// the host.
fn enter_namespaces(reporter: &Reporter) {
    let uid = geteuid();
    let gid = getegid();
    let flags = CloneFlags::CLONE_NEWUSER
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWNET;
    if let Err(errno) = unshare(flags) {
        reporter.fail(
            "create the user, mount, pid, ipc, uts and network namespaces",
            format!(
                "{errno}; user namespaces may be disabled for this user: check that \
                 `sysctl user.max_user_namespaces` is above 0, and set \
                 kernel.unprivileged_userns_clone=1 (older Debian kernels) or \
                 kernel.apparmor_restrict_unprivileged_userns=0 (Ubuntu)"
            ),
        );
    }
    for (file, text) in [
        ("/proc/self/setgroups", "deny".to_string()),
        ("/proc/self/uid_map", format!("0 {uid} 1")),
        ("/proc/self/gid_map", format!("0 {gid} 1")),
    ] {
        reporter.check(
            || format!("write {text:?} to {file}"),
            std::fs::write(file, &text),
        );
    }
}

/// Ties the helper's life to serpent's (`parent`), so that a killed serpent leaves no
/// sandbox behind, and exits at once if serpent is already gone.
fn die_with(parent: Pid, reporter: &Reporter) {
    reporter.check(
        || "set the parent-death signal".to_string(),
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL),
    );
    if getppid() != parent {
        // serpent died before we could tie our life to it.
        exit(SETUP_FAILED);
    }
}

/// Ctrl-C and friends reach the command through the process group; the helper must
/// outlive it to pass its status on.
fn ignore_signals_meant_for_the_command() {
    for sig in [
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGTERM,
        Signal::SIGHUP,
    ] {
        // SAFETY: setting SIG_IGN installs no handler code.
        let _ = unsafe { signal(sig, SigHandler::SigIgn) };
    }
}

/// Waits for pid 1 and gives the code the helper exits with: pid 1's, or 128 + the signal
/// that killed it, reported too so that `run` can rebuild a signal status.
fn wait_for_pid1(child: Pid, reporter: &Reporter) -> i32 {
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => break code,
            Ok(WaitStatus::Signaled(_, sig, core)) => {
                reporter.send(&Report::Signal {
                    signal: sig as i32,
                    core,
                });
                break 128 + sig as i32;
            }
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(errno) => reporter.fail("wait for pid 1", errno.to_string()),
        }
    }
}

/// In the forked pid 1: ties its life to the helper's and, when the helper died before that
/// (`alive_read` then has no writer left), exits, so that a killed serpent leaves no pid 1
/// behind.
fn pid1_unless_orphaned(alive_read: OwnedFd, request: &Request, reporter: &Reporter) -> ! {
    reporter.check(
        || "set the parent-death signal of pid 1".to_string(),
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL),
    );
    let mut poll = libc::pollfd {
        fd: alive_read.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: polling one descriptor we own.
    if unsafe { libc::poll(&mut poll, 1, 0) } != 0 {
        exit(SETUP_FAILED);
    }
    drop(alive_read);
    init(request, reporter)
}

/// Pid 1: builds the tree, runs the command, reaps, and exits with the command's status.
fn init(request: &Request, reporter: &Reporter) -> ! {
    let sandbox = &request.sandbox;
    let invocation = &request.invocation;
    if invocation.argv.is_empty() {
        reporter.fail("read the command", "the command is empty");
    }
    setup_mounts(request, reporter);
    reporter.check(
        || format!("set the hostname to {HOSTNAME}"),
        sethostname(HOSTNAME),
    );
    reporter.check(
        || "bring up the loopback interface lo".to_string(),
        loopback_up(),
    );
    if let Some(emulator) = &sandbox.emulator {
        register_emulator(request, emulator, reporter);
    }
    let root = &sandbox.root;
    reporter.check(|| format!("chdir to {}", root.display()), chdir(root));
    reporter.check(
        || format!("pivot_root into {}", root.display()),
        pivot_root(".", "."),
    );
    reporter.check(
        || "detach the host's root".to_string(),
        umount2(".", MntFlags::MNT_DETACH),
    );
    reporter.check(|| "chdir to /".to_string(), chdir("/"));
    let cwd = Path::new("/").join(&invocation.cwd);
    reporter.check(
        || format!("chdir to {} (inside)", cwd.display()),
        chdir(&cwd),
    );

    let cstring = |text: &str| {
        reporter.check(
            || format!("pass {text:?} to the command"),
            CString::new(text.as_bytes()),
        )
    };
    let argv: Vec<CString> = invocation.argv.iter().map(|arg| cstring(arg)).collect();
    let env: Vec<CString> = invocation
        .env
        .iter()
        .map(|(key, value)| cstring(&format!("{key}={value}")))
        .collect();
    let program = &invocation.argv[0];
    let path = invocation
        .env
        .get("PATH")
        .map(String::as_str)
        .unwrap_or("/usr/local/bin:/usr/bin:/bin");
    let candidates: Vec<CString> = if program.contains('/') {
        vec![argv[0].clone()]
    } else {
        path.split(':')
            .map(|dir| if dir.is_empty() { "." } else { dir })
            .map(|dir| cstring(&format!("{dir}/{program}")))
            .collect()
    };

    // SAFETY: pid 1 is single-threaded.
    let command = match reporter.check(|| "fork the command".to_string(), unsafe { fork() }) {
        ForkResult::Child => exec(program, path, &candidates, &argv, &env, reporter),
        ForkResult::Parent { child } => child,
    };
    reporter.check(
        || "relay interrupts to the command".to_string(),
        crate::interrupt_relay::relay_interrupt(command, Signal::SIGINT),
    );
    reap(command, reporter)
}

fn exec(
    program: &str,
    path: &str,
    candidates: &[CString],
    argv: &[CString],
    env: &[CString],
    reporter: &Reporter,
) -> ! {
    // The command starts with default signal dispositions and an empty mask (serpent ignores
    // SIGPIPE, the helper SIGINT and others, and ignored signals survive exec).
    for sig in Signal::iterator() {
        if sig != Signal::SIGKILL && sig != Signal::SIGSTOP {
            // SAFETY: restoring the default disposition installs no handler code.
            let _ = unsafe { signal(sig, SigHandler::SigDfl) };
        }
    }
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    let mut error = None;
    for candidate in candidates {
        let Err(errno) = execve::<CString, CString>(candidate, argv, env);
        // Like execvp: a file that exists but cannot run explains more than a missing one.
        if error.is_none() || (errno != Errno::ENOENT && errno != Errno::ENOTDIR) {
            error = Some((candidate, errno));
        }
    }
    let (candidate, error) = error.expect("at least one candidate");
    let interpreter_missing = (error == Errno::ENOENT)
        .then(|| {
            candidates.iter().find_map(|candidate| {
                crate::interpreter::missing_interpreter(Path::new(OsStr::from_bytes(
                    candidate.to_bytes(),
                )))
            })
        })
        .flatten();
    let message = if let Some(missing) = interpreter_missing {
        missing
    } else if !program.contains('/') && error == Errno::ENOENT {
        format!("not found in the command's PATH ({path})")
    } else {
        format!("exec {}: {error}", program_name(candidate))
    };
    reporter.send(&Report::Exec {
        program: program.to_string(),
        message: if error == Errno::ENOEXEC {
            format!("{message} (a binary of another architecture needs an emulator)")
        } else {
            message
        },
    });
    exit(127)
}

fn program_name(text: &CStr) -> String {
    text.to_string_lossy().into_owned()
}

/// Reaps every process until the command ends, then exits with its status.
fn reap(command: Pid, reporter: &Reporter) -> ! {
    loop {
        match waitpid(None::<Pid>, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == command => exit(code),
            Ok(WaitStatus::Signaled(pid, sig, core)) if pid == command => {
                reporter.send(&Report::Signal {
                    signal: sig as i32,
                    core,
                });
                exit(128 + sig as i32)
            }
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(errno) => reporter.fail("wait for the command", errno.to_string()),
        }
    }
}

/// The place of an absolute inside path under the root on the host, refusing symbolic links
/// on the way (a mount point must not lead out of the root).
fn inside(root: &Path, path: &Path, reporter: &Reporter) -> PathBuf {
    let mut host = root.to_path_buf();
    for component in path.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(name) => {
                host.push(name);
                if host.is_symlink() {
                    reporter.fail(
                        format!("mount on {} (inside)", path.display()),
                        format!("{} is a symbolic link", host.display()),
                    );
                }
            }
            Component::ParentDir | Component::Prefix(_) => reporter.fail(
                format!("mount on {}", path.display()),
                "the path inside must be absolute, without `..`",
            ),
        }
    }
    host
}

fn ensure_dir(path: &Path, reporter: &Reporter) {
    if !path.is_dir() {
        reporter.check(
            || format!("create the mount point {}", path.display()),
            std::fs::create_dir_all(path),
        );
    }
}

fn ensure_file(path: &Path, reporter: &Reporter) {
    if !path.exists() {
        if let Some(parent) = path.parent() {
            ensure_dir(parent, reporter);
        }
        reporter.check(
            || format!("create the mount point {}", path.display()),
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .open(path),
        );
    }
}

fn do_mount(
    reporter: &Reporter,
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) {
    reporter.check(
        || {
            let what = match (fstype, source) {
                (Some(fstype), _) => fstype.to_string(),
                (None, Some(source)) if flags.contains(MsFlags::MS_BIND) => {
                    format!("bind {}", source.display())
                }
                _ => format!("{flags:?}"),
            };
            format!("mount {what} on {}", target.display())
        },
        mount(source, target, fstype, flags, data),
    );
}

/// Builds the tree pid 1 pivots into, while the host paths of the root and the binds can
/// still be reached.
fn setup_mounts(request: &Request, reporter: &Reporter) {
    let root = &request.sandbox.root;
    bind_root_privately(root, reporter);
    mount_proc(root, reporter);
    mount_dev(root, reporter);
    mount_tmp(root, reporter);
    mount_binds(root, &request.sandbox.binds, reporter);
    if request.sandbox.read_only_root {
        reporter.check(
            || format!("make {} read-only", root.display()),
            make_read_only(root, false),
        );
    }
}

/// Makes every mount private, so that nothing mounted here reaches the host, and binds the
/// root onto itself, since pivot_root needs the new root to be a mount point.
fn bind_root_privately(root: &Path, reporter: &Reporter) {
    let none: Option<&Path> = None;
    do_mount(
        reporter,
        none,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
    );
    if !root.is_dir() {
        reporter.fail(
            format!("use {} as the root", root.display()),
            "it is not a folder",
        );
    }
    do_mount(
        reporter,
        Some(root),
        root,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    );
}

/// A /proc of the new pid namespace, which shows only the build's own processes.
fn mount_proc(root: &Path, reporter: &Reporter) {
    let proc = inside(root, Path::new("/proc"), reporter);
    ensure_dir(&proc, reporter);
    do_mount(
        reporter,
        Some(Path::new("proc")),
        &proc,
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None,
    );
}

/// A small /dev of its own, with only the devices builds use, a private pty instance, a
/// /dev/shm and the usual links, instead of the host's devices.
fn mount_dev(root: &Path, reporter: &Reporter) {
    let dev = inside(root, Path::new("/dev"), reporter);
    ensure_dir(&dev, reporter);
    do_mount(
        reporter,
        Some(Path::new("tmpfs")),
        &dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("mode=755,size=64k"),
    );
    bind_device_nodes(&dev, reporter);
    let pts = dev.join("pts");
    ensure_dir(&pts, reporter);
    do_mount(
        reporter,
        Some(Path::new("devpts")),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    );
    let shm = dev.join("shm");
    ensure_dir(&shm, reporter);
    do_mount(
        reporter,
        Some(Path::new("tmpfs")),
        &shm,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    );
    for (link, target) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let link = dev.join(link);
        reporter.check(
            || format!("create the symbolic link {}", link.display()),
            std::os::unix::fs::symlink(target, &link),
        );
    }
}

/// The host's null, zero, full, random, urandom and (when it has one) tty in `dev`: mknod is
/// not allowed in a user namespace, so they are bound onto empty files.
fn bind_device_nodes(dev: &Path, reporter: &Reporter) {
    for name in ["null", "zero", "full", "random", "urandom", "tty"] {
        let host = Path::new("/dev").join(name);
        if name == "tty" && !host.exists() {
            continue;
        }
        let node = dev.join(name);
        ensure_file(&node, reporter);
        do_mount(reporter, Some(&host), &node, None, MsFlags::MS_BIND, None);
    }
}

/// A /tmp of its own, so that builds neither see nor leave anything in the host's.
fn mount_tmp(root: &Path, reporter: &Reporter) {
    let tmp = inside(root, Path::new("/tmp"), reporter);
    ensure_dir(&tmp, reporter);
    do_mount(
        reporter,
        Some(Path::new("tmpfs")),
        &tmp,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    );
}

/// Mounts each bind at its place under the root, read-only when it says so.
fn mount_binds(root: &Path, binds: &[Bind], reporter: &Reporter) {
    // Outer targets first, so that nested binds land on top of their parents.
    let mut binds: Vec<&Bind> = binds.iter().collect();
    binds.sort_by_key(|bind| bind.target.components().count());
    for bind in binds {
        if !bind.target.is_absolute() {
            reporter.fail(
                format!("bind {}", bind.source.display()),
                format!("the target {} is not absolute", bind.target.display()),
            );
        }
        let metadata = reporter.check(
            || format!("bind {}", bind.source.display()),
            std::fs::metadata(&bind.source),
        );
        let target = inside(root, &bind.target, reporter);
        if metadata.is_dir() {
            ensure_dir(&target, reporter);
        } else {
            ensure_file(&target, reporter);
        }
        do_mount(
            reporter,
            Some(&bind.source),
            &target,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        );
        if bind.read_only {
            reporter.check(
                || format!("make {} read-only", target.display()),
                make_read_only(&target, true),
            );
        }
    }
}

/// Makes a mount read-only, and with `recursive` every mount below it too.
fn make_read_only(target: &Path, recursive: bool) -> Result<(), Errno> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    const MOUNT_ATTR_RDONLY: u64 = 0x1;
    let path = CString::new(target.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: mount_setattr reads `attr` (of the size given) and the path string.
    let result = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            if recursive { libc::AT_RECURSIVE } else { 0 },
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if result == 0 {
        return Ok(());
    }
    match Errno::last() {
        // Before Linux 5.12: remount the top mount, keeping the flags the kernel locks
        // (nosuid, nodev, ...) in a user namespace.
        Errno::ENOSYS => {
            let stat = nix::sys::statvfs::statvfs(target)?;
            let kept = [
                (nix::sys::statvfs::FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
                (nix::sys::statvfs::FsFlags::ST_NODEV, MsFlags::MS_NODEV),
                (nix::sys::statvfs::FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
                (nix::sys::statvfs::FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
                (
                    nix::sys::statvfs::FsFlags::ST_NODIRATIME,
                    MsFlags::MS_NODIRATIME,
                ),
                (
                    nix::sys::statvfs::FsFlags::ST_RELATIME,
                    MsFlags::MS_RELATIME,
                ),
            ]
            .into_iter()
            .filter(|(flag, _)| stat.flags().contains(*flag))
            .fold(MsFlags::empty(), |all, (_, flag)| all | flag);
            mount(
                None::<&Path>,
                target,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | kept,
                None::<&str>,
            )
        }
        errno => Err(errno),
    }
}

/// Sets IFF_UP on `lo`, the only interface of the new network namespace.
fn loopback_up() -> Result<(), Errno> {
    // SAFETY: plain socket and ioctl calls on a zeroed ifreq naming "lo"; the socket is
    // closed by OwnedFd.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(Errno::last());
        }
        let socket = OwnedFd::from_raw_fd(fd);
        let mut request: libc::ifreq = std::mem::zeroed();
        for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
            *slot = *byte as libc::c_char;
        }
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) < 0 {
            return Err(Errno::last());
        }
        request.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) < 0 {
            return Err(Errno::last());
        }
    }
    Ok(())
}

/// Registers the emulator in a private binfmt_misc, or falls back to the host's registration.
fn register_emulator(request: &Request, emulator: &Emulator, reporter: &Reporter) {
    // Mounted in the new /proc, so that it stays mounted (and visible) inside: the private
    // instance and its entries go away with its last mount.
    let binfmt = request.sandbox.root.join("proc/sys/fs/binfmt_misc");
    let binfmt = binfmt.as_path();
    let mut private_error = None;
    if request.private_binfmt {
        match mount(
            Some("binfmt_misc"),
            binfmt,
            Some("binfmt_misc"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None::<&str>,
        ) {
            Ok(()) => {
                let line = emulator.registration();
                let register = binfmt.join("register");
                let result = OpenOptions::new()
                    .write(true)
                    .open(&register)
                    .and_then(|mut file| file.write_all(line.as_bytes()));
                reporter.check(
                    || format!("write {line:?} to {}", register.display()),
                    result,
                );
                return;
            }
            Err(errno) => private_error = Some(errno.to_string()),
        }
    }
    if request.host_binfmt {
        return;
    }
    reporter.send(&Report::Emulator {
        name: emulator.name.clone(),
        message: emulator_unavailable_message(emulator, private_error.as_deref()),
    });
    exit(SETUP_FAILED)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox() -> Sandbox {
        Sandbox {
            root: PathBuf::from("/w/stage3/root/"),
            read_only_root: false,
            binds: vec![
                Bind {
                    source: PathBuf::from("/w/stage2/root"),
                    target: PathBuf::from("/serpent"),
                    read_only: true,
                },
                Bind {
                    source: PathBuf::from("/w/src/pkg"),
                    target: PathBuf::from("/build/src"),
                    read_only: false,
                },
                Bind {
                    source: PathBuf::from("/w/src/pkg/sub"),
                    target: PathBuf::from("/build/sub"),
                    read_only: false,
                },
            ],
            emulator: None,
        }
    }

    #[test]
    fn finds_inside_paths_on_the_host() {
        let s = sandbox();
        let host = |inside: &str| s.host_path(Path::new(inside));
        assert_eq!(
            host("/usr/bin/sh"),
            Some("/w/stage3/root/usr/bin/sh".into())
        );
        assert_eq!(
            host("/serpent/bin/cat"),
            Some("/w/stage2/root/bin/cat".into())
        );
        assert_eq!(host("/build/sub/x"), Some("/w/src/pkg/sub/x".into()));
        assert_eq!(host("/build/src"), Some("/w/src/pkg".into()));
        assert_eq!(host("relative"), None);
    }

    #[test]
    fn maps_paths() {
        let s = sandbox();
        assert_eq!(s.map_path("/w/stage3/root"), "/");
        assert_eq!(s.map_path("/w/stage3/root/"), "/");
        assert_eq!(s.map_path("/w/stage3/root/usr/bin"), "/usr/bin");
        assert_eq!(
            s.map_path("/w/stage2/root/bin/sh -c x"),
            "/serpent/bin/sh -c x"
        );
        assert_eq!(
            s.map_path("-I/w/stage3/root/include --prefix=/w/src/pkg/sub/x"),
            "-I/include --prefix=/build/sub/x"
        );
        assert_eq!(
            s.map_path("PATH=/w/stage2/root/bin:/w/stage3/root/usr/bin"),
            "PATH=/serpent/bin:/usr/bin"
        );
        // Not a whole component, or not the start of a path.
        assert_eq!(s.map_path("/w/src/pkgs/a"), "/w/src/pkgs/a");
        assert_eq!(s.map_path("/x/w/src/pkg"), "/x/w/src/pkg");
        assert_eq!(s.map_path("no paths here"), "no paths here");
        assert_eq!(s.map_path("'/w/src/pkg'"), "'/build/src'");
    }

    /// The registration of Debian's qemu-user-static for aarch64 (targets give theirs in
    /// their scripts).
    fn aarch64() -> Emulator {
        Emulator {
            name: "qemu-aarch64".to_string(),
            interpreter: PathBuf::from("/usr/bin/qemu-aarch64-static"),
            magic: "\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00".to_string(),
            mask: "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff".to_string(),
        }
    }

    #[test]
    fn registration_line() {
        let emulator = aarch64();
        let line = emulator.registration();
        assert!(
            line.starts_with(":qemu-aarch64:M::\\x7f\\x45\\x4c\\x46\\x02"),
            "{line}"
        );
        assert!(line.ends_with(":/usr/bin/qemu-aarch64-static:F"), "{line}");
        assert_eq!(line.matches(':').count(), 7, "{line}");
    }

    #[test]
    fn emulator_error_says_what_to_do() {
        let emulator = aarch64();
        let message =
            emulator_unavailable_message(&emulator, Some("EPERM: Operation not permitted"));
        for needle in [
            "qemu-aarch64 is not registered with binfmt_misc",
            "EPERM",
            "Linux 6.7",
            "install qemu-user-static and binfmt-support",
            "update-binfmts --enable qemu-aarch64",
        ] {
            assert!(
                message.contains(needle),
                "{needle:?} missing from {message}"
            );
        }
    }

    #[test]
    fn signal_reports_become_signal_statuses() {
        let status = outcome(
            ExitStatus::from_raw(137 << 8),
            vec![Report::Signal {
                signal: 9,
                core: false,
            }],
        )
        .unwrap();
        assert_eq!(status.signal(), Some(9));
        let status = outcome(ExitStatus::from_raw(3 << 8), vec![]).unwrap();
        assert_eq!(status.code(), Some(3));
        let error = outcome(
            ExitStatus::from_raw(125 << 8),
            vec![Report::Setup {
                step: "mount proc on /r/proc".into(),
                message: "EPERM: Operation not permitted".into(),
            }],
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot set up the sandbox: mount proc on /r/proc: EPERM: Operation not permitted"
        );
    }
}
