//! Commands that run on the host (stage1's isolation) leave nothing running behind them: not
//! when they finish, and not when serpent is killed.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::test::Test;

const RECIPE: &str = "recipes/stage1/daemon.rhai";

/// A project whose one recipe's install phase runs `commands` (Rhai statements), then
/// installs a file.
fn with_install(commands: &str) -> Test {
    Test::new().file(
        RECIPE,
        format!(
            "const NAME = \"daemon\";\nconst VERSION = \"1\";\n\
             fn install(ctx) {{\n{commands}\n    \
             ctx.write(`${{ctx.destdir}}/share/daemon.txt`, \"built\");\n}}\n"
        ),
    )
}

/// A recipe that starts a process that leaves its parent (a daemon, the way a test suite's
/// server or a compiler cache does), notes its pid and its own in `pids`, then runs `rest`.
fn project(pids: &Path, rest: &str) -> Test {
    with_install(&format!(
        "    ctx.shell(\"(sleep 600 & echo $! >> {pids}); echo $$ >> {pids}; {rest}\");",
        pids = pids.display()
    ))
}

/// Whether `pid` is a process that has not ended (a zombie has).
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat[stat.rfind(')').unwrap() + 1..]
            .split_whitespace()
            .next();
        state != Some("Z")
    })
}

fn pids(path: &Path) -> Vec<i32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect()
}

/// Waits up to ten seconds for every one of `pids` to end; returns those still running.
fn still_running_after_a_while(pids: &[i32]) -> Vec<i32> {
    let start = Instant::now();
    loop {
        let left: Vec<i32> = pids.iter().copied().filter(|&pid| running(pid)).collect();
        if left.is_empty() || start.elapsed() > Duration::from_secs(10) {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_process_a_finished_command_left_behind_is_ended_with_it() {
    let scratch = tempfile::tempdir().unwrap();
    let noted = scratch.path().join("pids");
    let mut test = project(&noted, "true")
        .args(["run", RECIPE, "--target", "x86_64"])
        .stderr_contains("x86_64/stage1/daemon: built");
    test.run();
    let pids = pids(&noted);
    assert_eq!(pids.len(), 2, "the build noted its daemon and itself");
    assert_eq!(still_running_after_a_while(&pids), Vec::<i32>::new());
    assert!(test
        .work()
        .join("x86_64/stage1/sysroot/share/daemon.txt")
        .is_file());
}

#[test]
fn a_command_starts_with_no_signal_blocked_and_only_the_ignored_ones_serpent_inherited() {
    let scratch = tempfile::tempdir().unwrap();
    let status = scratch.path().join("status");
    with_install(&format!(
        "    ctx.run([\"cp\", \"/proc/self/status\", \"{}\"]);",
        status.display()
    ))
    .args(["run", RECIPE, "--target", "x86_64"])
    .run();
    let status = std::fs::read_to_string(status).unwrap();
    assert_eq!(mask(&status, "SigBlk:"), 0, "{status}");
    // Ignored signals are inherited from serpent's own start (`nohup` ignores SIGHUP), as
    // from this test; SIGPIPE, which every Rust program ignores, goes back to its default.
    let sigpipe = 1 << (nix::libc::SIGPIPE - 1);
    let ours = mask(
        &std::fs::read_to_string("/proc/self/status").unwrap(),
        "SigIgn:",
    );
    assert_eq!(mask(&status, "SigIgn:"), ours & !sigpipe, "{status}");
}

/// A signal mask from /proc/PID/status.
fn mask(status: &str, field: &str) -> u64 {
    let line = status.lines().find(|line| line.starts_with(field)).unwrap();
    u64::from_str_radix(line[field.len()..].trim(), 16).unwrap()
}

#[test]
fn a_killed_serpent_leaves_no_command_or_daemon_of_its_build_running() {
    let scratch = tempfile::tempdir().unwrap();
    let noted = scratch.path().join("pids");
    let test = project(&noted, "sleep 600");
    let mut serpent = test
        .command(env!("CARGO_BIN_EXE_serpent"))
        .args(["run", RECIPE, "--target", "x86_64"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while pids(&noted).len() < 2 {
        assert!(
            serpent.try_wait().unwrap().is_none(),
            "the build ended before it was killed"
        );
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the build never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Only serpent is killed, as the kernel's OOM killer or a lost session would.
    serpent.kill().unwrap();
    serpent.wait().unwrap();
    let pids = pids(&noted);
    let left = still_running_after_a_while(&pids);
    for &pid in &left {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert_eq!(left, Vec::<i32>::new(), "still running of {pids:?}");
}

#[test]
fn a_script_whose_interpreter_is_missing_names_the_interpreter() {
    with_install(
        "    ctx.write(\"tool\", \"#!/no/such/interpreter -e\\nexit 0\\n\");\n    \
         ctx.run([\"chmod\", \"755\", \"tool\"]);\n    ctx.run([\"./tool\"]);",
    )
    .args(["run", RECIPE, "--target", "x86_64"])
    .status(1)
    .stderr_contains("could not start: ./tool is there, but the")
    .stderr_contains("interpreter its #! line names, /no/such/interpreter, does not exist")
    .run();
}

#[test]
fn a_program_that_is_not_there_is_named_with_the_path_searched() {
    with_install("    ctx.run([\"no-such-tool-here\", \"--version\"]);")
        .args(["run", RECIPE, "--target", "x86_64"])
        .status(1)
        .stderr_contains("`no-such-tool-here --version` could not start:")
        .stderr_contains("no-such-tool-here was not found")
        .stderr_contains("(PATH=")
        .run();
}
