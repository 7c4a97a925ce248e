//! The sandbox, through the hidden `serpent sandbox-run`: what a command can see and do
//! inside, as root and (when the tests run as root and the user `sandboxtest` exists) as an
//! unprivileged user via `runuser`. Needs a static busybox at /bin/busybox (Debian's
//! busybox-static); the aarch64 test also needs clang, lld and qemu-user-static.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const USER: &str = "sandboxtest";

/// A stage root (empty, owned by the user who runs the sandbox) and a read-only "previous
/// stage" holding busybox and its applets, mounted at /serpent.
struct Fixture {
    dir: tempfile::TempDir,
    user: Option<&'static str>,
}

impl Fixture {
    fn new(user: Option<&'static str>) -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix("serpent-sandbox-test.")
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let bin = dir.path().join("prev/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(dir.path().join("root")).unwrap();
        assert!(
            Path::new("/bin/busybox").is_file(),
            "these tests need a static /bin/busybox: apt-get install busybox-static"
        );
        std::fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
        let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
        for applet in String::from_utf8(list.stdout).unwrap().lines() {
            if applet != "busybox" {
                std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
            }
        }
        std::fs::write(dir.path().join("marker-outside"), "secret").unwrap();
        if let Some(user) = user {
            let status = Command::new("chown")
                .args(["-R", user])
                .arg(dir.path().join("root"))
                .status()
                .unwrap();
            assert!(status.success());
        }
        Fixture { dir, user }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn command(&self, extra: &[&str], script: &str) -> Command {
        let mut command = match self.user {
            Some(user) => {
                let mut command = Command::new("runuser");
                command
                    .args(["-u", user, "--"])
                    .arg(world_readable_binary());
                command
            }
            None => Command::new(env!("CARGO_BIN_EXE_serpent")),
        };
        command
            .arg("sandbox-run")
            .arg("--stage-root")
            .arg(self.root())
            .arg("--bind")
            .arg(format!(
                "{}:/serpent:ro",
                self.dir.path().join("prev").display()
            ))
            .args(["--env", "PATH=/serpent/bin", "--env", "HOME=/"])
            .args(extra)
            .args(["--", "sh", "-c", script]);
        command
    }

    /// The command line of `command`, running `argv` instead of a shell.
    fn command_argv(&self, extra: &[&str], argv: &[&str]) -> Command {
        let command = self.command(extra, "");
        let args: Vec<_> = command.get_args().map(|arg| arg.to_owned()).collect();
        let dash = args.iter().rposition(|arg| arg == "--").unwrap();
        let mut new = Command::new(command.get_program());
        new.args(&args[..=dash]).args(argv);
        new
    }

    fn output(&self, extra: &[&str], script: &str) -> Output {
        self.command(extra, script).output().unwrap()
    }

    /// Runs `script` and returns its stdout, failing on a non-zero exit.
    fn sh(&self, script: &str) -> String {
        let output = self.output(&[], script);
        assert!(
            output.status.success(),
            "{script} ({:?}): {}{}",
            self.user,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }
}

/// A copy of serpent that the unprivileged user can run even when the checkout sits in a
/// folder only root may enter (such as /root). One fixed path, replaced atomically.
fn world_readable_binary() -> &'static Path {
    static BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BINARY.get_or_init(|| {
        let dir = Path::new("/tmp/serpent-sandbox-test-bin");
        std::fs::create_dir_all(dir).unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let partial = dir.join(format!("serpent.{}", std::process::id()));
        std::fs::copy(env!("CARGO_BIN_EXE_serpent"), &partial).unwrap();
        std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755)).unwrap();
        let binary = dir.join("serpent");
        std::fs::rename(&partial, &binary).unwrap();
        binary
    })
}

/// Root, and the unprivileged test user when we are root and it exists.
fn users() -> Vec<Option<&'static str>> {
    let mut users = vec![None];
    let root = nix_uid() == 0;
    let exists = Command::new("id")
        .arg(USER)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if root && exists {
        users.push(Some(USER));
    } else {
        eprintln!("note: not testing rootless (run as root with a user {USER}: useradd -m {USER})");
    }
    users
}

fn nix_uid() -> u32 {
    let output = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8(output.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn only_a_working_loopback() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    for user in users() {
        let fixture = Fixture::new(user);
        let interfaces = fixture.sh("cat /proc/net/dev");
        let names: Vec<&str> = interfaces
            .lines()
            .filter_map(|line| line.split_once(':').map(|(name, _)| name.trim()))
            .collect();
        assert_eq!(names, ["lo"], "{user:?}: {interfaces}");
        // The host's listener is out of reach ...
        let out = fixture.sh(&format!(
            "nc -w 1 127.0.0.1 {port} </dev/null && echo reached || echo unreachable"
        ));
        assert_eq!(out.trim(), "unreachable", "{user:?}");
        // ... but the loopback inside is up and works.
        let out = fixture.sh("(sleep 5 | nc -l -p 4321 >/tmp/got) & \
             for i in 1 2 3 4 5 6 7 8 9 10; do \
             echo ping | nc -w 1 127.0.0.1 4321 2>/dev/null && break; sleep 0.1; done; \
             for i in 1 2 3 4 5 6 7 8 9 10; do test -s /tmp/got && break; sleep 0.1; done; \
             cat /tmp/got; ifconfig lo | grep -o UP");
        assert_eq!(
            out.split_whitespace().collect::<Vec<_>>(),
            ["ping", "UP"],
            "{user:?}"
        );
    }
}

#[test]
fn serpent_is_read_only_while_root_and_tmp_are_writable() {
    for user in users() {
        let fixture = Fixture::new(user);
        let out = fixture.sh("touch /serpent/x 2>/dev/null && echo serpent-writable; \
             touch /new-file && echo root-writable; \
             echo data > /tmp/t && cat /tmp/t; \
             echo > /dev/null && echo devnull; \
             head -c 3 /dev/urandom | wc -c");
        assert_eq!(
            out.split_whitespace().collect::<Vec<_>>(),
            ["root-writable", "data", "devnull", "3"],
            "{user:?}"
        );
        assert!(fixture.root().join("new-file").exists());
        assert!(!fixture.dir.path().join("prev/x").exists());
        // /tmp is private: nothing lands in the root's own tmp folder.
        assert!(!fixture.root().join("tmp/t").exists());
    }
}

#[test]
fn host_paths_outside_the_binds_are_invisible() {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    for user in users() {
        let fixture = Fixture::new(user);
        let marker = fixture.dir.path().join("marker-outside");
        let out = fixture.sh(&format!(
            "for p in {} {} /root {home} /etc/passwd /usr /home; do \
             test -e $p && echo visible $p; done; ls /",
            marker.display(),
            fixture.dir.path().display(),
        ));
        assert_eq!(
            out.split_whitespace().collect::<Vec<_>>(),
            ["dev", "proc", "serpent", "tmp"],
            "{user:?}"
        );
    }
}

#[test]
fn pid_1_and_root_are_the_builds_own() {
    for user in users() {
        let fixture = Fixture::new(user);
        let out = fixture.sh("echo $$; id -u; hostname; tr '\\0' ' ' </proc/1/cmdline; echo");
        let lines: Vec<&str> = out.lines().collect();
        let pid: u32 = lines[0].parse().unwrap();
        assert!(pid < 10, "{user:?}: the shell's pid is {pid}");
        assert_eq!(lines[1], "0", "{user:?}");
        assert_eq!(lines[2], "serpent", "{user:?}");
        assert!(
            lines[3].contains("__sandbox"),
            "{user:?}: pid 1 is {}",
            lines[3]
        );
    }
}

#[test]
fn environment_is_exactly_the_invocations() {
    let fixture = Fixture::new(None);
    let out = fixture.sh("env | sort");
    assert_eq!(out, "HOME=/\nPATH=/serpent/bin\nPWD=/\nSHLVL=1\n");
}

#[test]
fn exit_codes_and_signals_pass_through() {
    let fixture = Fixture::new(None);
    assert_eq!(fixture.output(&[], "exit 3").status.code(), Some(3));
    // A signal death shows as 128 + signal from `serpent sandbox-run`.
    assert_eq!(fixture.output(&[], "kill -9 $$").status.code(), Some(137));
    assert_eq!(
        fixture.output(&[], "kill -SEGV $$").status.code(),
        Some(139)
    );
    // Orphans left running do not keep the sandbox alive.
    let start = Instant::now();
    let output = fixture.output(&[], "sleep 30 & exit 0");
    assert!(output.status.success());
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn setup_problems_are_explained() {
    let fixture = Fixture::new(None);
    let output = fixture.output(&["--bind", "/nonexistent/src:/build/src"], "true");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("bind /nonexistent/src") && stderr.contains("No such file"),
        "{stderr}"
    );
    let output = fixture
        .command_argv(&[], &["no-such-program"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot run no-such-program") && stderr.contains("not found"),
        "{stderr}"
    );
}

/// A diagnostic's words on one line, without the frame drawn around its wrapped lines.
fn unwrapped(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let words: Vec<&str> = text
        .split_whitespace()
        .filter(|word| *word != "│")
        .collect();
    words.join(" ")
}

/// A script whose `#!` interpreter is a dangling link, and a dynamic program whose loader is
/// not in the root: exec says "No such file or directory" for both, and serpent names the
/// file that is really missing.
#[test]
fn a_program_whose_interpreter_or_loader_is_missing_is_explained() {
    let fixture = Fixture::new(None);
    let root = fixture.root();
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    std::os::unix::fs::symlink("/serpent/no-such-shell", root.join("usr/bin/sh")).unwrap();
    std::fs::write(root.join("configure"), "#!/usr/bin/sh\necho configured\n").unwrap();
    std::fs::set_permissions(
        root.join("configure"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let output = fixture.command_argv(&[], &["/configure"]).output().unwrap();
    let stderr = unwrapped(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("cannot run /configure in the sandbox: /configure is there, but the interpreter its #! line names, /usr/bin/sh (a link to /serpent/no-such-shell, which is missing), does not exist"),
        "{stderr}"
    );

    std::fs::copy("/usr/bin/env", root.join("usr/bin/env")).unwrap();
    let output = fixture
        .command_argv(&[], &["/usr/bin/env"])
        .output()
        .unwrap();
    let stderr = unwrapped(&output.stderr);
    assert!(
        stderr.contains("/usr/bin/env is there, but the dynamic loader its ELF header names, /lib")
            && stderr.contains("does not exist"),
        "{stderr}"
    );
}

/// Whether `pid` exists and is not a zombie (a dead process whose new parent has not reaped
/// it yet).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let after = &stat[stat.rfind(')').unwrap() + 1..];
        after.split_whitespace().next() != Some("Z")
    })
}

/// The pids whose parent is `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        let after = &stat[stat.rfind(')').unwrap() + 1..];
        if after.split_whitespace().nth(1) == Some(&parent.to_string()) {
            found.push(pid);
        }
    }
    found
}

/// Whether a process with `marker` in its command line is alive on the host.
fn alive(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(marker) && !cmdline.contains("sandbox-run") {
                found.push(format!(
                    "{}: {cmdline}",
                    entry.file_name().to_string_lossy()
                ));
            }
        }
    }
    found
}

#[test]
fn killing_serpent_leaves_nothing_behind() {
    for user in users() {
        let fixture = Fixture::new(user);
        let marker = format!("marker-{}", std::process::id());
        let script = format!("sh -c 'sleep 100; : {marker}' & exec sh -c 'sleep 100; : {marker}'");
        let mut child = match user {
            // Without runuser in between, so that the serpent process itself is killed.
            Some(user) => {
                let command = fixture.command(&[], &script);
                let args: Vec<_> = command.get_args().skip(4).map(|a| a.to_owned()).collect();
                Command::new("setpriv")
                    .args(["--reuid", user, "--regid", user, "--clear-groups", "--"])
                    .arg(world_readable_binary())
                    .args(args)
                    .spawn()
                    .unwrap()
            }
            None => fixture.command(&[], &script).spawn().unwrap(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive(&marker).len() < 2 {
            assert!(
                Instant::now() < deadline,
                "{user:?}: the commands never started"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // The helper (child of serpent) and pid 1 (child of the helper).
        let helpers = children_of(child.id());
        assert_eq!(helpers.len(), 1, "{user:?}");
        let inits = children_of(helpers[0]);
        assert_eq!(inits.len(), 1, "{user:?}");
        child.kill().unwrap();
        child.wait().unwrap();
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(alive(&marker), Vec::<String>::new(), "{user:?}");
        for pid in [helpers[0], inits[0]] {
            assert!(!running(pid), "{user:?}: {pid} lives");
        }
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let root = fixture.root().display().to_string();
        assert!(!mountinfo.contains(&root), "{user:?}: {mountinfo}");
    }
}

/// A static aarch64 program without libc: writes a line and exits with 7.
pub fn aarch64_hello(out: &Path) -> bool {
    let source = out.with_extension("c");
    std::fs::write(
        &source,
        r#"static const char msg[] = "hello from aarch64\n";
void _start(void) {
    register long x0 __asm__("x0") = 1;
    register long x1 __asm__("x1") = (long)msg;
    register long x2 __asm__("x2") = sizeof msg - 1;
    register long x8 __asm__("x8") = 64;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x1), "r"(x2), "r"(x8) : "memory");
    register long y0 __asm__("x0") = 7;
    register long y8 __asm__("x8") = 94;
    __asm__ volatile("svc #0" : : "r"(y0), "r"(y8));
    for (;;) {}
}
"#,
    )
    .unwrap();
    let status = Command::new("clang")
        .args([
            "--target=aarch64-linux-gnu",
            "-nostdlib",
            "-static",
            "-fuse-ld=lld",
            "-O2",
        ])
        .arg(&source)
        .arg("-o")
        .arg(out)
        .status();
    std::fs::remove_file(&source).unwrap();
    status.is_ok_and(|status| status.success())
}

#[test]
fn aarch64_runs_through_qemu() {
    if !Path::new("/usr/bin/qemu-aarch64-static").exists() {
        eprintln!(
            "note: skipped, no /usr/bin/qemu-aarch64-static (apt-get install qemu-user-static)"
        );
        return;
    }
    for user in users() {
        let fixture = Fixture::new(user);
        let hello = fixture.dir.path().join("hello");
        if !aarch64_hello(&hello) {
            eprintln!("note: skipped, cannot build for aarch64 (apt-get install clang lld)");
            return;
        }
        let inside = fixture.root().join("hello");
        std::fs::copy(&hello, &inside).unwrap();
        if let Some(user) = user {
            Command::new("chown")
                .arg(user)
                .arg(&inside)
                .status()
                .unwrap();
        }
        let output = fixture
            .command_argv(
                &["--root", crate::test::REPO, "--emulator", "aarch64"],
                &["/hello"],
            )
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "hello from aarch64\n",
            "{user:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(output.status.code(), Some(7));

        // Without an emulator the kernel refuses, with a hint.
        let output = fixture.command_argv(&[], &["/hello"]).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("ENOEXEC") && stderr.contains("emulator"),
            "{stderr}"
        );

        // As on a kernel before 6.7: only a host registration could help.
        let host = std::fs::read_to_string("/proc/sys/fs/binfmt_misc/qemu-aarch64")
            .is_ok_and(|text| text.starts_with("enabled"));
        let output = fixture
            .command_argv(
                &["--root", crate::test::REPO, "--emulator", "aarch64"],
                &["/hello"],
            )
            .env("SERPENT_SANDBOX_NO_PRIVATE_BINFMT", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        if host {
            assert_eq!(output.status.code(), Some(7), "{stderr}");
        } else {
            assert!(
                stderr.contains("qemu-aarch64 is not registered with binfmt_misc")
                    && stderr.contains("update-binfmts --enable qemu-aarch64"),
                "{stderr}"
            );
        }
    }
}
