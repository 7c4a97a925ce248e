use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::test::{Output, Test};

/// A recipe with no sources whose install writes one file; `extra` goes into the install phase.
fn recipe(name: &str, depends: &[&str], extra: &str) -> String {
    let depends: Vec<String> = depends.iter().map(|dep| format!("\"{dep}\"")).collect();
    format!(
        r#"const NAME = "{name}";
const VERSION = "1";
const DEPENDS = [{}];

fn install(ctx) {{
    {extra}
    ctx.write(`${{ctx.destdir}}/share/{name}.txt`, `{name} for ${{ctx.arch}} with ${{ctx.cflags}}`);
}}
"#,
        depends.join(", ")
    )
}

/// The instances a run built, from its progress lines.
fn built(output: &Output) -> Vec<String> {
    let mut ids = built_in_order(output);
    ids.sort();
    ids
}

/// The instances a run built, in the order they were done.
fn built_in_order(output: &Output) -> Vec<String> {
    output
        .stderr
        .lines()
        .filter_map(|line| line.strip_suffix_built())
        .collect()
}

trait BuiltLine {
    fn strip_suffix_built(&self) -> Option<String>;
}

impl BuiltLine for str {
    fn strip_suffix_built(&self) -> Option<String> {
        let (head, tail) = self.split_once(": built in ")?;
        tail.ends_with('s')
            .then(|| head.rsplit(' ').next().unwrap().to_string())
    }
}

fn chain() -> Test {
    Test::new()
        .file("recipes/stage1/a.rhai", recipe("a", &[], ""))
        .file("recipes/stage1/b.rhai", recipe("b", &["a"], ""))
        .file("recipes/stage1/c.rhai", recipe("c", &["b"], ""))
        .file("recipes/stage1/d.rhai", recipe("d", &[], ""))
}

#[test]
fn a_rerun_with_no_change_builds_nothing() {
    let mut test = chain().args(["build", "--target", "x86_64"]);
    let first = test.run();
    assert_eq!(
        built(&first),
        [
            "x86_64/stage1/a",
            "x86_64/stage1/b",
            "x86_64/stage1/c",
            "x86_64/stage1/d"
        ]
    );
    test = test
        .args(["build", "--target", "x86_64"])
        .stdout_contains("nothing to do: 4 recipe instance(s) up to date");
    let second = test.run();
    assert!(built(&second).is_empty(), "{}", second.stderr);
}

#[test]
fn a_comment_in_a_recipe_rebuilds_it_and_nothing_that_depends_on_it() {
    let mut test = chain().args(["build", "--target", "x86_64"]);
    test.run();
    let path = test.root().join("recipes/stage1/b.rhai");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("// touched\n{text}")).unwrap();

    test = test
        .args(["explain", "recipes/stage1/c.rhai", "--target", "x86_64"])
        .stdout_contains(
            "x86_64/stage1/b will be rebuilt first; if its output comes out the same, this is not rebuilt",
        );
    test.run();
    test = test
        .args(["build", "--target", "x86_64"])
        .stderr_contains("x86_64/stage1/c: up to date: its dependencies' outputs did not change");
    let output = test.run();
    assert_eq!(built(&output), ["x86_64/stage1/b"]);
    test = test
        .args(["explain", "recipes/stage1/c.rhai", "--target", "x86_64"])
        .stdout_contains("x86_64/stage1/c: current (key")
        .stdout_contains(
            "x86_64/stage1/b rebuilt with the same output as before, so this was not rebuilt (early cutoff)",
        );
    test.run();
    test = test.args(["build", "--target", "x86_64"]);
    assert!(built(&test.run()).is_empty());
}

#[test]
fn a_change_to_what_a_recipe_installs_rebuilds_its_dependents() {
    let mut test = chain().args(["build", "--target", "x86_64"]);
    test.run();
    let path = test.root().join("recipes/stage1/b.rhai");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("`b for", "`b, changed, for")).unwrap();
    test = test.args(["build", "--target", "x86_64"]);
    let output = test.run();
    assert_eq!(built(&output), ["x86_64/stage1/b", "x86_64/stage1/c"]);
    test = test
        .args(["explain", "recipes/stage1/c.rhai", "--target", "x86_64"])
        .stdout_contains("current");
    test.run();
}

#[test]
fn explain_names_the_inputs_that_changed() {
    let mut test = chain().args(["build", "--target", "x86_64"]);
    test.run();
    let path = test.root().join("recipes/stage1/a.rhai");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("const VERSION = \"1\";", "const VERSION = \"2\";"),
    )
    .unwrap();
    test = test
        .args(["explain", "recipes/stage1/c.rhai", "--target", "x86_64"])
        .stdout_contains("depends x86_64/stage1/b: its inputs changed, so it is rebuilt first");
    let output = test.run();
    assert!(
        output
            .stdout
            .starts_with("x86_64/stage1/c: will be rebuilt"),
        "{}",
        output.stdout
    );
    test = test
        .args(["explain", "recipes/stage1/a.rhai", "--target", "x86_64"])
        .stdout_contains("recipe recipes/stage1/a.rhai: VERSION: 1 -> 2");
    test.run();
    test = test
        .args(["explain", "recipes/stage1/d.rhai", "--target", "x86_64"])
        .stdout_contains("x86_64/stage1/d: current");
    test.run();
}

#[test]
fn editing_a_stdlib_module_rebuilds_only_its_importers() {
    let mut test = chain()
        .script("stdlib/greeting.rhai", r#"fn text() { "hello" }"#)
        .script(
            "recipes/stage1/e.rhai",
            r#"
            import "greeting" as greeting;
            const NAME = "e";
            const VERSION = "1";

            fn install(ctx) {
                ctx.write(`${ctx.destdir}/share/greeting`, greeting::text());
                ctx.write(`${ctx.destdir}/share/e.txt`, `e for ${ctx.arch} with ${ctx.cflags}`);
            }
            "#,
        )
        .args(["build", "--target", "x86_64"]);
    test.run();
    test = test
        .script("stdlib/greeting.rhai", r#"fn text() { "hi" }"#)
        .args(["build", "--target", "x86_64"]);
    let output = test.run();
    assert_eq!(built(&output), ["x86_64/stage1/e"]);
    let greeting = test.work().join("x86_64/stage1/sysroot/share/greeting");
    assert_eq!(std::fs::read_to_string(greeting).unwrap(), "hi");
}

#[test]
fn editing_a_module_the_stage_imports_rebuilds_the_stage() {
    let mut test = chain().args(["build", "--target", "x86_64"]);
    test.run();
    // stage1/stage.rhai takes its compiler commands from stdlib/toolchain.rhai.
    let path = test.root().join("stdlib/toolchain.rhai");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}\n// edited\n")).unwrap();
    test = test.args(["build", "--target", "x86_64"]);
    let output = test.run();
    assert_eq!(
        built(&output),
        [
            "x86_64/stage1/a",
            "x86_64/stage1/b",
            "x86_64/stage1/c",
            "x86_64/stage1/d"
        ]
    );
}

#[test]
fn changing_one_targets_flags_rebuilds_that_target_only() {
    let mut test = chain()
        .script(
            "recipes/spins/both.rhai",
            r#"const TARGETS = ["x86_64", "aarch64"];"#,
        )
        .args(["build", "--spin", "both"]);
    let first = test.run();
    assert_eq!(built(&first).len(), 8, "{}", first.stderr);
    let path = test.root().join("recipes/targets/aarch64.rhai");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("-mtune=cortex-a72\"]", "-mtune=cortex-a76\"]"),
    )
    .unwrap();
    test = test.args(["build", "--spin", "both"]);
    let second = test.run();
    assert_eq!(
        built(&second),
        [
            "aarch64/stage1/a",
            "aarch64/stage1/b",
            "aarch64/stage1/c",
            "aarch64/stage1/d"
        ]
    );
    let file = test.work().join("aarch64/stage1/sysroot/share/a.txt");
    assert!(std::fs::read_to_string(file)
        .unwrap()
        .contains("-mtune=cortex-a76"));
}

#[test]
fn a_cycle_is_reported_with_every_member() {
    Test::new()
        .file("recipes/stage1/a.rhai", recipe("a", &["c"], ""))
        .file("recipes/stage1/b.rhai", recipe("b", &["a"], ""))
        .file("recipes/stage1/c.rhai", recipe("c", &["b"], ""))
        .args(["plan", "--target", "x86_64"])
        .status(2)
        .stderr_contains(
            "dependency cycle: x86_64/stage1/a -> x86_64/stage1/c -> x86_64/stage1/b -> x86_64/stage1/a",
        )
        .run();
}

#[test]
fn an_unknown_dependency_is_named_with_the_closest_names() {
    Test::new()
        .file("recipes/stage1/zlib.rhai", recipe("zlib", &[], ""))
        .file("recipes/stage1/b.rhai", recipe("b", &["zlb"], ""))
        .args(["build", "--target", "x86_64"])
        .status(2)
        .stderr_contains("unknown dependency \"zlb\"")
        .stderr_contains("recipes/stage1/b.rhai:")
        .stderr_contains("did you mean \"zlib\"?")
        .run();
}

#[test]
fn a_stage_sees_the_previous_stage_root_and_builds_after_it() {
    let mut test = chain()
        .script(
            "recipes/stage2/stage.rhai",
            r#"
            const PREVIOUS = "stage1";
            const PREFIX = "/usr";
            fn toolchain(target, roots) {
                #{ cc: `clang --sysroot=${roots.previous}`, cxx: "clang++", ar: "llvm-ar", ranlib: "llvm-ranlib", nm: "llvm-nm", strip: "llvm-strip", ld: "ld.lld" }
            }
            "#,
        )
        .script(
            "recipes/stage2/user.rhai",
            r#"
            const NAME = "user";
            const VERSION = "1";
            fn install(ctx) {
                ctx.copy(`${ctx.previous}/share/a.txt`, `${ctx.destdir}/share/from-stage1.txt`);
                ctx.write(`${ctx.destdir}/share/cc`, ctx.cc);
            }
            "#,
        )
        .args(["build", "stage2", "--target", "x86_64"]);
    let output = test.run();
    // stage2's recipe needs the whole of stage1, so stage1 is built first.
    assert_eq!(built(&output).len(), 5, "{}", output.stderr);
    let root = test.work().join("x86_64/stage2/root");
    assert!(std::fs::read_to_string(root.join("share/from-stage1.txt"))
        .unwrap()
        .starts_with("a for x86_64"));
    let cc = std::fs::read_to_string(root.join("share/cc")).unwrap();
    assert!(cc.ends_with("x86_64/stage1/sysroot"), "{cc}");

    test = test.args(["plan", "--target", "x86_64", "--format", "json"]);
    let plan: serde_json::Value = serde_json::from_str(&test.run().stdout).unwrap();
    let user = plan["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "x86_64/stage2/user")
        .unwrap();
    assert_eq!(user["status"], "built");
    assert_eq!(user["stage"], "stage2");
    assert_eq!(user["depends"].as_array().unwrap().len(), 4);
}

#[test]
fn a_spin_overrides_declarations_and_an_overlay_replaces_a_recipe() {
    let mut test = chain()
        .script(
            "recipes/spins/custom.rhai",
            r#"
            const TARGETS = ["x86_64"];
            const FLAGS = #{ add: #{ cflags: ["-g"] }, remove: #{ cflags: ["-pipe"] } };
            const OVERRIDES = #{ d: #{ version: "9.9" } };
            const OVERLAYS = ["fork"];
            "#,
        )
        .file(
            "fork/stage1/a.rhai",
            recipe(
                "a",
                &[],
                "ctx.write(`${ctx.destdir}/share/forked`, \"yes\");",
            ),
        )
        .args(["build", "--spin", "custom"]);
    test.run();
    let root = test.work().join("x86_64/stage1/sysroot");
    assert_eq!(
        std::fs::read_to_string(root.join("share/forked")).unwrap(),
        "yes"
    );
    let a = std::fs::read_to_string(root.join("share/a.txt")).unwrap();
    assert!(a.contains(" -g") && !a.contains("-pipe"), "{a}");
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(test.work().join("x86_64/stage1/records/d.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(record["version"], "9.9");
}

#[test]
fn keep_going_builds_what_does_not_depend_on_a_failure() {
    let output = chain()
        .file(
            "recipes/stage1/b.rhai",
            recipe("b", &["a"], "ctx.run([\"false\"]);"),
        )
        .args(["build", "--target", "x86_64", "--keep-going"])
        .status(1)
        .stderr_contains("failed: x86_64/stage1/b")
        .stderr_contains("not built because of that: x86_64/stage1/c")
        .run();
    assert_eq!(built(&output), ["x86_64/stage1/a", "x86_64/stage1/d"]);
}

#[test]
fn keep_going_builds_what_does_not_need_a_source_that_cannot_be_fetched() {
    // b's source is nowhere to be had offline; without --keep-going nothing is built.
    let missing = r#"const SOURCES = [#{ url: "https://example.invalid/b-1.tar.gz", sha256: "1111111111111111111111111111111111111111111111111111111111111111" }];
"#;
    let b = format!("{missing}{}", recipe("b", &["a"], ""));
    let mut test = chain()
        .file("recipes/stage1/b.rhai", &b)
        .args(["build", "--target", "x86_64", "--offline"])
        .status(1);
    assert!(built(&test.run()).is_empty());
    test = test
        .args(["build", "--target", "x86_64", "--offline", "--keep-going"])
        .status(1)
        .stderr_contains("a source could not be fetched; with --keep-going")
        .stderr_contains("failed: x86_64/stage1/b")
        .stderr_contains("not built because of that: x86_64/stage1/c")
        .stderr_contains("https://example.invalid/b-1.tar.gz");
    let output = test.run();
    assert_eq!(built(&output), ["x86_64/stage1/a", "x86_64/stage1/d"]);
}

#[test]
fn independent_recipes_run_at_the_same_time() {
    let slow = |name: &str| {
        recipe(
            name,
            &[],
            &format!(
                r#"ctx.shell("date +%s.%N > {name}.start; sleep 1; date +%s.%N > {name}.end");
    ctx.copy("{name}.start", `${{ctx.destdir}}/share/{name}.start`);
    ctx.copy("{name}.end", `${{ctx.destdir}}/share/{name}.end`);"#
            ),
        )
    };
    let mut test = Test::new()
        .file("recipes/stage1/p.rhai", slow("p"))
        .file("recipes/stage1/q.rhai", slow("q"))
        .args(["build", "--target", "x86_64", "--jobs", "2"]);
    test.run();
    let read = |file: &str| -> f64 {
        std::fs::read_to_string(test.work().join("x86_64/stage1/sysroot/share").join(file))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    assert!(
        read("p.start") < read("q.end") && read("q.start") < read("p.end"),
        "the two builds did not overlap"
    );
}

/// With one job, the start of the longest chain goes first, whatever the order of the names:
/// z1, z2 and z3 wait for each other, a and b for nothing.
#[test]
fn the_longest_chain_takes_the_job_slot_first() {
    let output = Test::new()
        .file("recipes/stage1/a.rhai", recipe("a", &[], ""))
        .file("recipes/stage1/b.rhai", recipe("b", &[], ""))
        .file("recipes/stage1/z1.rhai", recipe("z1", &[], ""))
        .file("recipes/stage1/z2.rhai", recipe("z2", &["z1"], ""))
        .file("recipes/stage1/z3.rhai", recipe("z3", &["z2"], ""))
        .args(["build", "--target", "x86_64", "--jobs", "1"])
        .run();
    let order = built_in_order(&output);
    assert_eq!(order.len(), 5, "{}", output.stderr);
    assert_eq!(
        order[..2],
        ["x86_64/stage1/z1", "x86_64/stage1/z2"],
        "{}",
        output.stderr
    );
}

/// A package never built in a stage is ordered by how long it took in another: stage1's slow
/// took 2 s and its x1 and x2 no time, so stage2's slow goes first, though x1 and x2 make a
/// longer chain of recipes.
#[test]
fn a_packages_build_in_another_stage_orders_its_first_build() {
    let sleeping = recipe("slow", &[], r#"ctx.run(["sleep", "2"]);"#);
    let mut test = Test::new()
        .file("recipes/stage2/stage.rhai", crate::test::HOST_STAGE2)
        .file("recipes/stage1/slow.rhai", &sleeping)
        .file("recipes/stage1/x1.rhai", recipe("x1", &[], ""))
        .file("recipes/stage1/x2.rhai", recipe("x2", &["x1"], ""))
        .file("recipes/stage2/slow.rhai", &sleeping)
        .file("recipes/stage2/x1.rhai", recipe("x1", &[], ""))
        .file("recipes/stage2/x2.rhai", recipe("x2", &["x1"], ""))
        .args(["build", "--target", "x86_64", "--jobs", "1", "stage1"]);
    test.run();
    let output = test
        .args(["build", "--target", "x86_64", "--jobs", "1", "stage2"])
        .run();
    let order = built_in_order(&output);
    assert_eq!(
        order,
        ["x86_64/stage2/slow", "x86_64/stage2/x1", "x86_64/stage2/x2"],
        "{}",
        output.stderr
    );
}

fn serpent(test: &Test, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_serpent"));
    command
        .args(args)
        .current_dir(test.root())
        .env("XDG_CACHE_HOME", test.dir.path().join("cache"))
        .env("XDG_CONFIG_HOME", test.dir.path().join("config"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_second_serpent_on_the_same_work_dir_waits_or_fails_at_once() {
    let test = chain().file(
        "recipes/stage1/d.rhai",
        recipe("d", &[], "ctx.shell(\"touch started; sleep 2\");"),
    );
    let mut first = serpent(&test, &["build", "--target", "x86_64"])
        .spawn()
        .unwrap();
    wait_for(&test.work().join("x86_64/stage1/tmp/d/build/started"));

    let mut test = test
        .args(["build", "--target", "x86_64", "--no-wait"])
        .status(1)
        .stderr_contains(format!("in use by pid {}", first.id()));
    test.run();

    test = test
        .args(["build", "--target", "x86_64"])
        .stderr_contains("waiting for the work dir")
        .stdout_contains("nothing to do");
    test.run();
    assert!(first.wait().unwrap().success());
}

/// Every file under a folder with its content (or link target), for comparing trees.
fn tree(dir: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap().flatten() {
            let path = entry.path();
            let relative = path
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_symlink() {
                found.push((
                    relative,
                    format!("-> {}", std::fs::read_link(&path).unwrap().display()),
                ));
            } else {
                found.push((relative, std::fs::read_to_string(&path).unwrap_or_default()));
            }
        }
    }
    found.sort();
    found
}

#[test]
fn a_build_killed_at_any_moment_reruns_to_the_same_result() {
    let slow_b = recipe(
        "b",
        &["a"],
        r#"ctx.shell("touch started; sleep 1");
    ctx.write(`${ctx.destdir}/share/partial`, "half");
    ctx.shell("sleep 1");"#,
    );
    let test = chain().file("recipes/stage1/b.rhai", &slow_b);
    let reference = chain().file("recipes/stage1/b.rhai", &slow_b);
    let work = test.work();
    for delay in [0, 300, 1200] {
        let mut child = serpent(&test, &["build", "--target", "x86_64"])
            .spawn()
            .unwrap();
        if delay == 0 {
            std::thread::sleep(Duration::from_millis(50));
        } else {
            wait_for(&work.join("x86_64/stage1/tmp/b/build/started"));
            std::thread::sleep(Duration::from_millis(delay));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            !work.join("x86_64/stage1/records/b.json").exists(),
            "b is recorded as built after a kill"
        );
        assert!(!work.join("x86_64/stage1/records/c.json").exists());
        let _ = std::fs::remove_file(work.join("x86_64/stage1/tmp/b/build/started"));
    }
    let rerun = serpent(&test, &["build", "--target", "x86_64"])
        .output()
        .unwrap();
    assert!(
        rerun.status.success(),
        "{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    let clean = serpent(&reference, &["build", "--target", "x86_64"])
        .output()
        .unwrap();
    assert!(clean.status.success());
    let stage = |test: &Test, part: &str| tree(&test.work().join("x86_64/stage1").join(part));
    for part in ["sysroot", "pkgs"] {
        assert_eq!(
            stage(&test, part),
            stage(&reference, part),
            "{part} differs after the killed builds"
        );
    }
    assert!(!work.join("x86_64/stage1/tmp/b").exists());
}

#[test]
fn log_prints_the_latest_phase_log() {
    // --verbose echoes the command.
    let mut test = Test::new()
        .file(
            "recipes/stage1/talk.rhai",
            recipe("talk", &[], "ctx.shell(\"echo installing the talker\");"),
        )
        .args(["build", "--target", "x86_64", "--verbose"])
        .stderr_contains("talk: $ sh -c 'echo installing the talker'");
    test.run();
    test = test
        .args(["log", "recipes/stage1/talk.rhai", "--target", "x86_64"])
        .stdout_contains("installing the talker");
    test.run();
    test = test
        .args([
            "log",
            "recipes/stage1/talk.rhai",
            "--target",
            "x86_64",
            "--phase",
            "build",
        ])
        .status(1);
    test.run();
}

/// A recipe whose build is a make with eight jobs, each a "compiler" that counts how many of
/// its kind are alive at once (under a lock) and sleeps a little.
fn make_recipe(name: &str, probe: &Path) -> String {
    let targets: Vec<String> = (0..8).map(|n| format!("o{n}")).collect();
    let mut makefile = format!("all: {}\n", targets.join(" "));
    for target in &targets {
        makefile.push_str(&format!("{target}:\n\t@{} && touch $@\n", probe.display()));
    }
    format!(
        r#"const NAME = "{name}";
const VERSION = "1";
fn build(ctx) {{
    ctx.write("Makefile", {makefile:?});
    ctx.make([]);
}}
fn install(ctx) {{ ctx.write(`${{ctx.destdir}}/share/{name}`, "done"); }}
"#
    )
}

/// A script that counts how many copies of itself run at once, each for `seconds`;
/// `most_at_once` reads the highest count.
fn concurrency_probe(test: &Test, seconds: &str) -> std::path::PathBuf {
    let probe = test.dir.path().join("probe.sh");
    let counter = test.dir.path().join("counter");
    let script = format!(
        "#!/bin/sh\nflock {c}.lock sh -c 'n=$(($(cat {c} 2>/dev/null || echo 0)+1)); echo $n > {c}; m=$(cat {c}.max 2>/dev/null || echo 0); [ $n -gt $m ] && echo $n > {c}.max; true'\nsleep {seconds}\nflock {c}.lock sh -c 'echo $(($(cat {c})-1)) > {c}'\n",
        c = counter.display()
    );
    std::fs::write(&probe, script).unwrap();
    std::fs::set_permissions(&probe, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    probe
}

fn most_at_once(test: &Test) -> usize {
    std::fs::read_to_string(test.dir.path().join("counter.max"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn nested_makes_share_the_job_limit() {
    let mut test = Test::new();
    let probe = concurrency_probe(&test, "0.2");
    for name in ["m1", "m2", "m3"] {
        test = test.file(
            &format!("recipes/stage1/{name}.rhai"),
            make_recipe(name, &probe),
        );
    }
    test = test.args(["build", "--target", "x86_64", "--jobs", "2"]);
    test.run();
    let most = most_at_once(&test);
    assert_eq!(
        most, 2,
        "at most 2 jobs may run at once, and 2 should be reached"
    );
}

#[test]
fn graph_draws_dependencies_and_clean_removes_the_work_dir() {
    let mut test = chain()
        .args(["graph", "--target", "x86_64", "--format", "dot"])
        .stdout_contains("\"x86_64/stage1/c\" -> \"x86_64/stage1/b\";")
        .stdout_lacks("\"x86_64/stage1/d\" ->");
    let dot = test.run().stdout;
    assert!(dot.starts_with("digraph serpent {"), "{dot}");
    test = test.args(["build", "--target", "x86_64"]);
    test.run();
    assert!(test.work().join("x86_64/stage1/records/c.json").is_file());
    test = test.args(["clean"]);
    test.run();
    assert!(!test.work().exists());
}

#[test]
fn a_spin_builds_only_the_packages_it_names_and_what_they_need() {
    let mut test = chain()
        .script(
            "recipes/spins/some.rhai",
            r#"
            const TARGETS = ["x86_64"];
            const PACKAGES = #{ stage1: ["b"] };
            "#,
        )
        .args(["build", "--spin", "some"]);
    let output = test.run();
    assert_eq!(built(&output), ["x86_64/stage1/a", "x86_64/stage1/b"]);
}

#[test]
fn packages_naming_an_unknown_recipe_suggests_the_closest() {
    let mut test = chain()
        .script(
            "recipes/spins/some.rhai",
            r#"const PACKAGES = #{ stage1: ["bb"] };"#,
        )
        .args(["plan", "--spin", "some"])
        .status(2);
    let output = test.run();
    // miette wraps the line; the words are what matter.
    let words = output
        .stderr
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        words.contains("some.rhai: PACKAGES.stage1 names `bb`, which is")
            && words.contains("not a recipe of stage1; did you mean `b`?"),
        "{}",
        output.stderr
    );
}

#[test]
fn a_lone_ninja_build_gets_every_job() {
    let mut test = Test::new();
    let probe = concurrency_probe(&test, "0.5");
    let mut ninja = format!(
        "rule probe\n  command = {} && touch $out\n",
        probe.display()
    );
    for n in 0..6 {
        ninja.push_str(&format!("build o{n}: probe\n"));
    }
    let recipe = format!(
        r#"const NAME = "n";
const VERSION = "1";
fn build(ctx) {{
    ctx.write("build.ninja", {ninja:?});
    ctx.ninja(["-C", ctx.builddir]);
}}
fn install(ctx) {{ ctx.write(`${{ctx.destdir}}/share/n`, "done"); }}
"#
    );
    test = test
        .file("recipes/stage1/n.rhai", recipe)
        .args(["build", "--target", "x86_64", "--jobs", "2"]);
    test.run();
    let most = most_at_once(&test);
    assert_eq!(most, 2, "one recipe alone should have ninja run 2 jobs");
}

#[test]
fn one_package_file_serves_every_stage_that_links_to_it() {
    let mut test = Test::new()
        .script(
            "recipes/packages/shared.rhai",
            r#"
            // one definition, two stages
            const NAME = "shared";
            const VERSION = if STAGE == "stage1" { "1.0" } else { "2.0" };
            const DEPENDS = if STAGE == "stage2" { ["other"] } else { [] };
            fn install(ctx) {
                ctx.write(`${ctx.destdir}/share/stage`, `${ctx.stage} ${ctx.version}`);
            }
            "#,
        )
        .file("recipes/stage2/stage.rhai", crate::test::HOST_STAGE2)
        .file("recipes/stage2/other.rhai", recipe("other", &[], ""));
    for stage in ["stage1", "stage2"] {
        std::os::unix::fs::symlink(
            "../packages/shared.rhai",
            test.root().join(format!("recipes/{stage}/shared.rhai")),
        )
        .unwrap();
    }
    test = test.args(["check"]).stdout_contains("no problems");
    test.run();
    test = test.args(["run", "recipes/stage2/shared.rhai", "--target", "x86_64"]);
    let output = test.run();
    assert_eq!(
        built(&output),
        [
            "x86_64/stage1/shared",
            "x86_64/stage2/other",
            "x86_64/stage2/shared"
        ]
    );
    for (stage, expected) in [("stage1", "stage1 1.0"), ("stage2", "stage2 2.0")] {
        let path = test
            .work()
            .join(format!("x86_64/{stage}/pkgs/shared/share/stage"));
        assert_eq!(std::fs::read_to_string(path).unwrap(), expected);
    }
}

#[test]
fn a_ninja_build_takes_a_job_slot_that_comes_free_while_it_runs() {
    let mut test = Test::new();
    let times = test.dir.path().join("times");
    let probe = test.dir.path().join("step.sh");
    std::fs::write(
        &probe,
        format!(
            "#!/bin/sh\nstart=$(date +%s.%N)\nsleep 1\necho \"$start $(date +%s.%N)\" >> {}\n",
            times.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&probe, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut ninja = format!("rule step\n  command = {} && touch $out\n", probe.display());
    for n in 0..8 {
        ninja.push_str(&format!("build o{n}: step\n"));
    }
    // `slow` holds the second slot when ninja starts, and gives it back three seconds in.
    test = test
        .file("recipes/stage1/slow.rhai", crate::test::SLOW)
        .file(
            "recipes/stage1/n.rhai",
            format!(
                r#"const NAME = "n";
const VERSION = "1";
fn build(ctx) {{
    ctx.shell("sleep 0.5");
    ctx.write("build.ninja", {ninja:?});
    ctx.ninja(["-C", ctx.builddir]);
}}
fn install(ctx) {{ ctx.write(`${{ctx.destdir}}/share/n`, "done"); }}
"#
            ),
        )
        .args(["build", "--target", "x86_64", "--jobs", "2"]);
    test.run();
    let log = std::fs::read_to_string(test.work().join("x86_64/stage1/logs/n/build.log")).unwrap();
    assert!(log.contains("$ ninja -j1 -C "), "{log}");
    assert!(
        log.contains("serpent: a job slot came free; ninja starts again with -j2"),
        "{log}"
    );
    // Steps that ran to their end: after the slot came, two ran at once.
    let (steps, most) = crate::test::most_steps_at_once(&std::fs::read_to_string(&times).unwrap());
    assert_eq!(most, 2, "{steps} steps\n{log}");
    assert!(steps >= 8, "every step ran to its end once: {steps} steps");
}

/// A stage's builds depend on every package of the stage before; the plan says so in a few
/// words instead of listing them all on every line.
#[test]
fn plan_abridges_a_whole_previous_stage() {
    Test::new()
        .file("recipes/stage2/stage.rhai", crate::test::HOST_STAGE2)
        .file("recipes/stage1/x1.rhai", recipe("x1", &[], ""))
        .file("recipes/stage1/x2.rhai", recipe("x2", &["x1"], ""))
        .file("recipes/stage2/y1.rhai", recipe("y1", &[], ""))
        .file("recipes/stage2/y2.rhai", recipe("y2", &["y1"], ""))
        .args(["plan", "--target", "x86_64"])
        .stdout_contains("x86_64/stage1/x2 1 [")
        .stdout_contains("] <- x86_64/stage1/x1  (new)")
        .stdout_contains("] <- all of x86_64/stage1 (2)  (new)")
        .stdout_contains("] <- all of x86_64/stage1 (2), x86_64/stage2/y1  (new)")
        .run();
}
