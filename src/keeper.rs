//! The keeper: a small process between serpent and every command it runs on the host, so that
//! nothing a command starts outlives the command or serpent.
//!
//! A command in an isolated stage dies with its pid namespace. On the host there is none, and a
//! killed serpent (or a finished `make` that left a server behind) would leave compilers running
//! into a build directory that the next run has already started again, holding the machine's
//! cores. The keeper is serpent re-executed: it becomes a child subreaper, so that every orphan
//! of the command is re-parented to it rather than to init, starts the command, and when the
//! command ends, serpent dies or the keeper is told to stop, kills every process below it and
//! reaps them before it exits with the command's status.
//!
//! SIGUSR2 to the keeper interrupts the command (SIGINT to it alone) and the keeper goes on
//! waiting: how serpent stops a ninja to start it again with more jobs.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command as Process, ExitStatus};
use std::time::Duration;

use nix::errno::Errno;
use nix::libc;
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{getpid, getppid, Pid};

use crate::interpreter::missing_interpreter;

/// The first argument that makes `serpent` the keeper; see [`keeper_main`].
pub const KEEPER_ARG: &str = "__keeper";

/// The exit code of a keeper that could not start its command; it says why on its report pipe.
pub const NOT_STARTED: i32 = 127;

/// The signals that end the keeper's wait: the command's own end, serpent's death (the
/// parent-death signal), and a request to stop, unless serpent was started to ignore it (by
/// `nohup`, or in the background of a shell), which the keeper and the command then do too.
fn watched() -> SigSet {
    let mut watched = SigSet::empty();
    watched.add(Signal::SIGCHLD);
    watched.add(Signal::SIGTERM);
    watched.add(INTERRUPT);
    for signal in [Signal::SIGINT, Signal::SIGHUP, Signal::SIGQUIT] {
        if !ignored(signal) {
            watched.add(signal);
        }
    }
    watched
}

fn ignored(signal: Signal) -> bool {
    // SAFETY: reading a disposition into plain data the kernel fills in; nothing is changed.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal as libc::c_int, std::ptr::null(), &mut current) == 0
            && current.sa_sigaction == libc::SIG_IGN
    }
}

/// The signal that makes the keeper interrupt its command.
pub const INTERRUPT: Signal = Signal::SIGUSR2;

/// The keeper's command line for `argv`: serpent's own binary, its pid to watch, and the
/// descriptor to report a command that cannot start on.
pub fn wrap(argv: &[String], report_fd: RawFd) -> Process {
    let mut process = Process::new("/proc/self/exe");
    process
        .arg0("serpent-keeper")
        .arg(KEEPER_ARG)
        .arg(std::process::id().to_string())
        .arg(report_fd.to_string())
        .arg("--")
        .args(argv);
    process
}

/// The re-executed keeper's entry point: call it from `main()` first thing when the first
/// argument is [`KEEPER_ARG`]. Never returns.
pub fn keeper_main() -> ! {
    let args: Vec<OsString> = std::env::args_os().collect();
    let parsed = match args.as_slice() {
        [_, _, parent, report, dashes, program, rest @ ..] if dashes == "--" => parent
            .to_str()
            .and_then(|text| text.parse::<i32>().ok())
            .zip(report.to_str().and_then(|text| text.parse::<RawFd>().ok()))
            .map(|(parent, report)| (Pid::from_raw(parent), report, program, rest)),
        _ => None,
    };
    let Some((parent, report_fd, program, rest)) = parsed else {
        eprintln!("serpent: `{KEEPER_ARG}` is internal to serpent");
        exit(NOT_STARTED)
    };
    // SAFETY: `wrap`'s caller passed us the write end of its report pipe; we own it from here.
    let mut report = unsafe { File::from_raw_fd(report_fd) };
    // SAFETY: marking our own descriptor close-on-exec, so the command does not inherit it.
    unsafe { libc::fcntl(report_fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    let watched = watched();
    let setup = become_subreaper()
        .and_then(|()| sigprocmask(SigmaskHow::SIG_BLOCK, Some(&watched), None))
        .and_then(|()| nix::sys::prctl::set_pdeathsig(Signal::SIGTERM));
    if let Err(errno) = setup {
        let _ = write!(report, "the keeper could not be set up: {errno}");
        exit(NOT_STARTED)
    }
    if getppid() != parent {
        // serpent died before the parent-death signal was set.
        exit(NOT_STARTED)
    }
    let mut process = Process::new(program);
    process.args(rest);
    // SAFETY: sigprocmask is async-signal-safe. The keeper's mask would otherwise be the
    // command's: with SIGCHLD blocked, a libuv program (cmake) never reaps its children.
    // Dispositions stay as serpent inherited them; std's spawn resets SIGPIPE, the only one
    // serpent changes.
    unsafe {
        process.pre_exec(|| {
            sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
                .map_err(std::io::Error::from)
        });
    }
    let command = match process.spawn() {
        Ok(child) => Pid::from_raw(child.id() as i32),
        Err(error) => {
            let _ = report.write_all(&not_started(program, &error).into_bytes());
            exit(NOT_STARTED)
        }
    };
    drop(report);
    let status = keep(command, &watched);
    end_everything_below();
    pass_on(status)
}

/// Why `program` did not start, as serpent says it.
fn not_started(program: &OsString, error: &std::io::Error) -> String {
    let program = String::from_utf8_lossy(&program.clone().into_vec()).into_owned();
    if error.kind() == std::io::ErrorKind::NotFound {
        let path = std::env::var("PATH").unwrap_or_default();
        let candidates: Vec<PathBuf> = if program.contains('/') {
            vec![PathBuf::from(&program)]
        } else {
            std::env::split_paths(&path)
                .map(|dir| dir.join(&program))
                .collect()
        };
        if let Some(missing) = candidates.iter().find_map(|c| missing_interpreter(c)) {
            return format!("could not start: {missing}");
        }
        format!("could not start: {program} was not found (PATH={path})")
    } else {
        format!("could not start {program}: {error}")
    }
}

fn become_subreaper() -> Result<(), Errno> {
    // SAFETY: a prctl with plain integer arguments.
    Errno::result(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }).map(drop)
}

/// Reaps orphans until the command ends, and gives its status; or, when serpent dies or the
/// keeper is told to stop, the status of a command killed by that signal.
fn keep(command: Pid, watched: &SigSet) -> ExitStatus {
    loop {
        let signal = match watched.wait() {
            Ok(signal) => signal,
            Err(_) => continue,
        };
        if signal == INTERRUPT {
            let _ = kill(command, Signal::SIGINT);
            continue;
        }
        if signal != Signal::SIGCHLD {
            return ExitStatus::from_raw(signal as i32);
        }
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == command => {
                    return ExitStatus::from_raw(code << 8);
                }
                Ok(WaitStatus::Signaled(pid, signal, _)) if pid == command => {
                    return ExitStatus::from_raw(signal as i32);
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
}

/// Kills every process below the keeper and reaps them all. A process forked while the
/// tree was being read is re-parented to the keeper when its parent dies, so the next round
/// finds it; the keeper is done when it has no child left.
fn end_everything_below() {
    let me = getpid();
    loop {
        for pid in descendants(me) {
            let _ = kill(pid, Signal::SIGKILL);
        }
        let mut reaped_any = false;
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Err(Errno::ECHILD) => return,
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => reaped_any = true,
            }
        }
        if !reaped_any {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Every process whose chain of parents leads to `root`, read from /proc.
pub fn descendants(root: Pid) -> Vec<Pid> {
    let mut children: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse().ok())
        else {
            continue;
        };
        if let Some(parent) = parent_of(pid) {
            children.entry(parent).or_default().push(pid);
        }
    }
    let mut found = Vec::new();
    let mut pending = vec![root.as_raw()];
    while let Some(pid) = pending.pop() {
        for &child in children.get(&pid).into_iter().flatten() {
            found.push(Pid::from_raw(child));
            pending.push(child);
        }
    }
    found
}

/// The parent pid from /proc/PID/stat, whose second field (the name) may hold spaces and
/// parentheses, so the fields are counted from its last `)`.
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// Exits the way the command ended: with its code, or killed by its signal.
fn pass_on(status: ExitStatus) -> ! {
    if let Some(code) = status.code() {
        exit(code)
    }
    let signal = status.signal().unwrap_or(libc::SIGKILL);
    // SAFETY: no core file for the keeper; default disposition and an unblocked signal, so
    // raising it ends the keeper with the command's signal.
    unsafe {
        let no_core = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &no_core);
        libc::signal(signal, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(signal);
    }
    exit(128 + signal)
}

fn exit(code: i32) -> ! {
    // SAFETY: _exit is always safe to call.
    unsafe { libc::_exit(code) }
}
