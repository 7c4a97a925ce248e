//! The shared build cache against a real BuildGrid on loopback (installed by scripts/setup):
//! a build uploads, a build in a wiped work dir pulls instead of building, and a cache that is
//! down only costs a warning; for tiny made-up recipes and for the mini spin's stage1, which is
//! also built on the worker of an execution service (the one tests/integration/remote_exec.rs runs).

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::bootstrap::seeded_store;
use crate::tarball::{tarball, Compression, Entry};
use crate::test::{sha256, Test, REPO};

/// A BuildGrid server started for one test, killed when dropped.
pub struct BuildGrid {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl BuildGrid {
    /// BuildGrid from scripts/setup's venv, or None (with a loud message) when it is not
    /// installed outside CI; on CI its absence fails the test.
    pub fn start(dir: &Path) -> Option<BuildGrid> {
        let bgd = bgd_path();
        if !bgd.is_file() {
            let message = format!(
                "BuildGrid is not installed at {}: run scripts/setup to install it",
                bgd.display()
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
        let template = include_str!("remote_cache/buildgrid.yml");
        let config = dir.join("buildgrid.yml");
        std::fs::write(&config, template.replace("PORT", &port.to_string())).unwrap();
        let log = dir.join("buildgrid.log");
        let child = Command::new(&bgd)
            .args(["server", "start"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.join("buildgrid.err")).unwrap())
            .spawn()
            .unwrap();
        let mut server = BuildGrid { child, port, log };
        server.wait_until_listening();
        Some(server)
    }

    fn wait_until_listening(&mut self) {
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "BuildGrid exited ({status}): {}",
                    std::fs::read_to_string(self.log.with_file_name("buildgrid.err")).unwrap()
                );
            }
            // Generous: on a loaded machine Python takes its time to start.
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "BuildGrid did not listen"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn address(&self) -> String {
        format!("grpc://127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for BuildGrid {
    fn drop(&mut self) {
        self.stop();
    }
}

fn bgd_path() -> PathBuf {
    if let Some(venv) = std::env::var_os("SERPENT_BUILDGRID") {
        return PathBuf::from(venv).join("bin/bgd");
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
    cache.join("serpent/buildgrid/bin/bgd")
}

/// Two recipes: `hello` compiles a C program with the host's cc, `data` (built on it) installs
/// an executable script, a read-only file, an empty file, a link and a file over 1 MiB (sent
/// through ByteStream rather than in a batch), a hard link and an empty folder. Each build
/// phase appends to `ran`.
pub fn project(ran: &Path) -> Test {
    let hello_c = b"#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n";
    let archive = tarball(&[Entry::File("hello.c", hello_c)], Compression::None);
    let test = Test::new().file("dist/hello.tar", &archive);
    let url = format!("file://{}", test.root().join("dist/hello.tar").display());
    let ran = ran.display();
    test.file(
        "recipes/stage1/hello.rhai",
        format!(
            r#"const NAME = "hello";
const VERSION = "1.0";
const SOURCES = [#{{ url: "{url}", sha256: "{sha}", strip: 0 }}];

fn build(ctx) {{
    ctx.shell("echo hello >> {ran}");
    ctx.run(["cc", "-O2", "-o", "hello", `${{ctx.srcdir}}/hello.c`]);
    ctx.shell("echo compiled hello.c");
}}

fn install(ctx) {{
    ctx.run(["install", "-D", "-m", "755", "hello", `${{ctx.destdir}}/usr/bin/hello`]);
}}
"#,
            sha = sha256(&archive)
        ),
    )
    .script(
        "recipes/stage1/data.rhai",
        &format!(
            r#"
            const NAME = "data";
            const VERSION = "1.0";
            const DEPENDS = ["hello"];

            fn build(ctx) {{
                ctx.shell("echo data >> {ran}");
            }}

            fn install(ctx) {{
                let share = `${{ctx.destdir}}/usr/share/data`;
                ctx.run(["mkdir", "-p", share]);
                ctx.shell(`printf '#!/bin/sh\necho run\n' > ${{share}}/run.sh && chmod 755 ${{share}}/run.sh`);
                ctx.shell(`echo fixed > ${{share}}/read-only && chmod 444 ${{share}}/read-only`);
                ctx.shell(`: > ${{share}}/empty && seq 1 400000 > ${{share}}/large`);
                ctx.run(["ln", "-s", "../../bin/hello", `${{share}}/hello`]);
                ctx.run(["ln", `${{share}}/run.sh`, `${{share}}/run-too.sh`]);
                ctx.run(["mkdir", `${{share}}/empty-folder`]);
            }}
            "#
        ),
    )
}

/// Every entry below `dir`: its kind, mode and content or link target, and how many names a
/// file has.
pub fn tree(dir: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            let meta = path.symlink_metadata().unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            let what = if meta.file_type().is_symlink() {
                format!("link {}", std::fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                pending.push(path.clone());
                format!("dir {mode:o}")
            } else {
                let content = sha256(&std::fs::read(&path).unwrap());
                format!("file {mode:o} {content} {} name(s)", meta.nlink())
            };
            found.insert(path.strip_prefix(dir).unwrap().display().to_string(), what);
        }
    }
    found
}

pub fn stage(test: &Test) -> PathBuf {
    test.work().join("x86_64/stage1")
}

pub fn record(test: &Test, name: &str) -> serde_json::Value {
    let path = stage(test).join(format!("records/{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |text| text.lines().count())
}

#[test]
fn a_wiped_work_dir_is_refilled_from_the_cache_and_a_stopped_cache_only_warns() {
    let scratch = tempfile::tempdir().unwrap();
    let Some(mut server) = BuildGrid::start(scratch.path()) else {
        return;
    };
    let ran = scratch.path().join("ran");
    let mut test = project(&ran);
    let cache = server.address();
    let build = ["build", "--target", "x86_64", "--remote-cache", &cache];

    // Without --remote-cache-write nothing is uploaded: the next build still builds.
    test = test
        .args(build)
        .stdout_contains("built 2 recipe instance(s)");
    test.run();
    std::fs::remove_dir_all(test.work()).unwrap();
    test = test
        .args(build)
        .args(["--remote-cache-write"])
        .stdout_contains("built 2 recipe instance(s)");
    test.run();
    assert_eq!(lines(&ran), 4, "both builds ran both build phases");
    let packages = tree(&stage(&test).join("pkgs"));
    let root = tree(&stage(&test).join("sysroot"));
    let outputs = ["hello", "data"].map(|name| record(&test, name)["output"].clone());
    assert_eq!(
        packages["data/usr/share/data/read-only"].split(' ').nth(1),
        Some("444")
    );
    assert!(packages["data/usr/share/data/run-too.sh"].ends_with(" 2 name(s)"));
    assert_eq!(packages["data/usr/share/data/empty-folder"], "dir 755");

    std::fs::remove_dir_all(test.work()).unwrap();
    test = test
        .args(build)
        .stdout_contains("built 0 recipe instance(s), 2 pulled from the remote cache")
        .stderr_contains("x86_64/stage1/hello: pulled from the remote cache")
        .stderr_contains("x86_64/stage1/data: pulled from the remote cache");
    test.run();
    assert_eq!(lines(&ran), 4, "a pulled instance ran no phase");
    assert_eq!(tree(&stage(&test).join("pkgs")), packages);
    assert_eq!(tree(&stage(&test).join("sysroot")), root);
    for (name, output) in ["hello", "data"].iter().zip(&outputs) {
        let pulled = record(&test, name);
        assert_eq!(&pulled["output"], output, "{name}'s output");
        assert_eq!(
            pulled["remote"],
            cache.as_str(),
            "{name}'s record names the cache"
        );
    }
    test = test
        .args(["log", "recipes/stage1/hello.rhai", "--phase", "build"])
        .stdout_contains("compiled hello.c");
    test.run();
    // verify builds everything again itself, the cache notwithstanding.
    test = test.args([
        "verify",
        "stage1",
        "--target",
        "x86_64",
        "--remote-cache",
        &cache,
    ]);
    test.run();
    assert_eq!(lines(&ran), 6, "verify ran both build phases");

    server.stop();
    std::fs::remove_dir_all(test.work()).unwrap();
    test = test
        .args(build)
        .stdout_contains("built 2 recipe instance(s)");
    let output = test.run();
    assert_eq!(
        output.stderr.matches("warning: remote cache").count(),
        1,
        "one warning for a cache that is down:\n{}",
        output.stderr
    );
    assert_eq!(tree(&stage(&test).join("pkgs")), packages);
}

/// Each line of `text` as JSON: serpent's `--message-format json` output or a timeline.
fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}")))
        .collect()
}

/// Each instance's record in `stage`, by instance id.
fn records(stage: &Path, ids: &BTreeSet<String>) -> BTreeMap<String, serde_json::Value> {
    ids.iter()
        .map(|id| {
            let name = id.rsplit('/').next().unwrap();
            let path = stage.join(format!("records/{name}.json"));
            let record: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            assert_eq!(record["id"], id.as_str());
            (id.clone(), record)
        })
        .collect()
}

/// The output hash each record names, by instance id.
fn outputs(records: &BTreeMap<String, serde_json::Value>) -> BTreeMap<&str, &serde_json::Value> {
    records
        .iter()
        .map(|(id, record)| (id.as_str(), &record["output"]))
        .collect()
}

/// Issue 14's cache test, on real packages (headers by the thousand, links, archives,
/// executables, files of megabytes): the mini spin's stage1 for x86_64 is built and uploaded,
/// then every instance the plan names is pulled into a wiped work dir without a phase running,
/// into the same packages; with the server stopped it is built here again with one warning.
#[test]
fn the_mini_spins_stage1_comes_whole_from_the_cache_is_built_here_when_it_is_down_and_on_a_worker()
{
    let store = seeded_store();
    let scratch = tempfile::tempdir().unwrap();
    let Some(mut server) = BuildGrid::start(scratch.path()) else {
        return;
    };
    let cache = server.address();
    let mut test = Test::new();
    let work = test.dir.path().join("work");
    let stage1 = work.join("x86_64/stage1");
    let common = [
        "--root",
        REPO,
        "--spin",
        "mini",
        "--target",
        "x86_64",
        "--store",
        &store,
        "--work-dir",
        work.to_str().unwrap(),
    ]
    .map(str::to_string);

    test = test
        .args(["plan", "stage1", "--format", "json"])
        .args(common.clone());
    let plan: serde_json::Value = serde_json::from_str(&test.run().stdout).unwrap();
    let ids: BTreeSet<String> = plan["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|instance| instance["id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.len() > 1, "{plan}");

    test = test
        .args([
            "build",
            "stage1",
            "--remote-cache",
            &cache,
            "--remote-cache-write",
        ])
        .args(common.clone())
        .stdout_contains(format!(
            "built {} recipe instance(s), 0 up to date",
            ids.len()
        ));
    test.run();
    let packages = tree(&stage1.join("pkgs"));
    let built = records(&stage1, &ids);

    std::fs::remove_dir_all(&work).unwrap();
    test = test
        .args(["build", "stage1", "--remote-cache", &cache])
        .args(["--message-format", "json"])
        .args(common.clone());
    let events = json_lines(&test.run().stdout);
    let of = |reason: &str| -> Vec<&serde_json::Value> {
        events
            .iter()
            .filter(|event| event["reason"] == reason)
            .collect()
    };
    let pulled: BTreeSet<String> = of("pulled")
        .iter()
        .map(|event| event["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(pulled, ids, "every planned instance was pulled");
    assert!(of("phase").is_empty(), "a phase ran: {:?}", of("phase"));
    let finished = of("build-finished");
    assert_eq!(finished.len(), 1, "{events:?}");
    assert_eq!(finished[0]["built"], 0);
    assert_eq!(finished[0]["pulled"], ids.len());
    let timeline = std::fs::read_to_string(work.join("timeline.jsonl")).unwrap();
    let ran: Vec<_> = json_lines(&timeline)
        .into_iter()
        .filter(|entry| entry["event"] == "span")
        .filter(|span| !["sources", "merge"].contains(&span["phase"].as_str().unwrap()))
        .collect();
    assert!(ran.is_empty(), "the timeline has phases that ran: {ran:?}");
    assert_eq!(tree(&stage1.join("pkgs")), packages);
    let pulled_records = records(&stage1, &ids);
    assert_eq!(outputs(&pulled_records), outputs(&built));
    for (id, record) in &pulled_records {
        assert_eq!(
            record["remote"],
            cache.as_str(),
            "{id}'s record names the cache"
        );
    }

    server.stop();
    std::fs::remove_dir_all(&work).unwrap();
    test = test
        .args(["build", "stage1", "--remote-cache", &cache])
        .args(common.clone())
        .stdout_contains(format!(
            "built {} recipe instance(s), 0 up to date",
            ids.len()
        ));
    let output = test.run();
    assert_eq!(
        output.stderr.matches("warning: remote cache").count(),
        1,
        "one warning for a cache that is down:\n{}",
        output.stderr
    );
    assert_eq!(tree(&stage1.join("pkgs")), packages);
    assert_eq!(outputs(&records(&stage1, &ids)), outputs(&built));

    // Issue 14's execution test, on the same stage: every instance built on the worker of an
    // execution service on loopback, into the same packages.
    let Some(casd) = crate::remote_exec::Casd::start(scratch.path()) else {
        return;
    };
    let executor = casd.address();
    std::fs::remove_dir_all(&work).unwrap();
    test = test
        .args(["build", "stage1", "--remote-executor", &executor])
        .args(common)
        .stdout_contains(format!(
            "built {} recipe instance(s), 0 up to date",
            ids.len()
        ));
    let output = test.run();
    let executed = records(&stage1, &ids);
    for (id, record) in &executed {
        assert!(
            output.stderr.contains(&format!("{id}: built on worker ")),
            "{id} was not built on the worker:\n{}",
            output.stderr
        );
        let name = id.rsplit('/').next().unwrap();
        let said = std::fs::read_to_string(stage1.join(format!("logs/{name}/worker.log"))).unwrap();
        assert!(said.contains("built on worker"), "{id}: {said}");
        assert_eq!(record["remote"], executor.as_str(), "{id}'s record");
    }
    assert_eq!(tree(&stage1.join("pkgs")), packages);
    assert_eq!(outputs(&executed), outputs(&built));
}

/// A recipe with no sources that installs one file.
fn one_file() -> Test {
    Test::new().script(
        "recipes/stage1/one.rhai",
        r#"
        const NAME = "one";
        const VERSION = "1";

        fn install(ctx) {
            ctx.write(`${ctx.destdir}/one.txt`, "one");
        }
        "#,
    )
}

#[test]
fn the_config_files_cache_is_used_one_that_refuses_connections_only_warns_and_offline_skips_it() {
    let mut test = one_file();
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let config = test.dir.path().join("config/serpent/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "remote-cache = \"grpc://127.0.0.1:1\"\n").unwrap();
    test = test
        .args(["build", "--target", "x86_64"])
        .stdout_contains("built 1 recipe instance(s)")
        .stderr_contains("warning: remote cache grpc://127.0.0.1:1 is not usable")
        .stderr_contains("building locally without it");
    test.run();

    // --offline keeps serpent off the network, the cache included.
    std::fs::remove_dir_all(test.work()).unwrap();
    test = test
        .args(["build", "--target", "x86_64", "--offline"])
        .stdout_contains("built 1 recipe instance(s)")
        .stderr_lacks("remote cache");
    test.run();
}

#[test]
fn a_cache_address_that_is_not_grpc_is_refused_with_what_to_give() {
    one_file()
        .args([
            "build",
            "--target",
            "x86_64",
            "--remote-cache",
            "http://127.0.0.1:8980",
        ])
        .status(2)
        .stderr_contains(
            "bad remote cache address http://127.0.0.1:8980: it does not start with grpc://",
        )
        .run();
    one_file()
        .args(["build", "--target", "x86_64", "--remote-cache-write"])
        .status(2)
        .stderr_contains("--remote-cache-write needs a cache to write to")
        .run();
}

#[test]
fn a_cache_that_takes_the_connection_and_never_answers_only_warns() {
    // A listener nobody accepts on: the kernel completes the connection, then nothing is said.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("grpc://{}", silent.local_addr().unwrap());
    let mut test = one_file()
        .args(["build", "--target", "x86_64", "--remote-cache", &address])
        .stdout_contains("built 1 recipe instance(s)")
        .stderr_contains(format!("warning: remote cache {address} is not usable"));
    test.run();
    drop(silent);
}
