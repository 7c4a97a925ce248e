//! Chroot stages: a host-built "stage2" holding a static busybox (and, for aarch64, a small
//! static aarch64 program), and a "stage3" whose recipes run inside a sandbox with stage2
//! read-only at /serpent; `serpent shell` gives the same view.

use crate::test::Test;

const STAGE2: &str = r#"const ISOLATION = "host";
fn toolchain(target, roots) {
    #{ cc: "clang", cxx: "clang++", ar: "llvm-ar", ranlib: "llvm-ranlib", nm: "llvm-nm", strip: "llvm-strip", ld: "ld.lld" }
}
"#;

const STAGE3: &str = r#"const PREVIOUS = "stage2";
const ISOLATION = "chroot";
const ENV = #{ PATH: "/usr/bin:/bin:/serpent/bin" };
fn toolchain(target, roots) {
    let cc = if roots.isolation == "host" { `cross-cc --sysroot=${roots.root}` } else { "cc" };
    #{ cc: cc, cxx: "c++", ar: "ar", ranlib: "ranlib", nm: "nm", strip: "strip", ld: "ld" }
}
"#;

/// Stage2's "toolchain": busybox with its applets in bin/, copied from the host.
const BUSYBOX: &str = r#"const NAME = "busybox";
const VERSION = "1";
fn install(ctx) {
    ctx.copy("/bin/busybox", `${ctx.destdir}/bin/busybox`);
    for applet in ["sh", "echo", "cat", "id", "hostname", "touch", "mkdir", "ls", "uname", "cp"] {
        ctx.symlink("busybox", `${ctx.destdir}/bin/${applet}`);
    }
}
"#;

/// Built inside: records what the build saw, in its own package.
const PROBE: &str = r#"const NAME = "probe";
const VERSION = "1";
fn build(ctx) {
    ctx.shell("echo $(id -u) $(hostname) > seen; touch /serpent/x 2>/dev/null && echo serpent-writable >> seen || echo serpent-read-only >> seen; touch /x 2>/dev/null && echo root-writable >> seen || echo root-read-only >> seen; ls / >> seen");
    ctx.write(`${ctx.srcdir}/from-host`, "written on the host side");
    ctx.write(`${ctx.srcdir}/toolchain`, `${ctx.which("cat")} ${ctx.host} ${ctx.cc}`);
}
fn install(ctx) {
    ctx.run(["mkdir", "-p", `${ctx.destdir}/share`]);
    ctx.run(["cp", "seen", `${ctx.srcdir}/from-host`, `${ctx.srcdir}/toolchain`, `${ctx.destdir}/share/`]);
}
"#;

/// Built on the host although the stage is a chroot (as musl comes first in stage3).
const ON_HOST: &str = r#"const NAME = "early";
const VERSION = "1";
const ISOLATION = "host";
fn install(ctx) {
    ctx.write(`${ctx.destdir}/share/host-name`, ctx.output(["uname", "-n"]));
    ctx.write(`${ctx.destdir}/share/host-cc`, ctx.cc);
}
"#;

fn project() -> Test {
    Test::new()
        .file("recipes/stage2/stage.rhai", STAGE2)
        .file("recipes/stage2/busybox.rhai", BUSYBOX)
        .file("recipes/stage3/stage.rhai", STAGE3)
        .file("recipes/stage3/probe.rhai", PROBE)
        .file("recipes/stage3/early.rhai", ON_HOST)
}

#[test]
fn a_chroot_stage_builds_inside_with_the_previous_stage_read_only() {
    let mut test = project()
        .args(["build", "stage3", "--target", "x86_64"])
        .stdout_contains("built 3 recipe instance(s)");
    test.run();
    let share = test.work().join("x86_64/stage3/root/share");
    let seen = std::fs::read_to_string(share.join("seen")).unwrap();
    let mut lines = seen.lines();
    assert_eq!(lines.next(), Some("0 serpent"), "{seen}");
    assert_eq!(lines.next(), Some("serpent-read-only"), "{seen}");
    // A build's `/` is its own view of the stage, which it cannot change.
    assert_eq!(lines.next(), Some("root-read-only"), "{seen}");
    // Nothing of the host is there: only the stage's own root and its mounts.
    let listing: Vec<&str> = lines.collect();
    assert!(
        listing.contains(&"serpent") && listing.contains(&"build"),
        "{seen}"
    );
    assert!(
        !listing.contains(&"work") && !listing.contains(&"home") && !listing.contains(&"etc"),
        "{seen}"
    );
    assert_eq!(
        std::fs::read_to_string(share.join("from-host")).unwrap(),
        "written on the host side"
    );
    let host_name = std::fs::read_to_string(share.join("host-name")).unwrap();
    assert_ne!(host_name, "serpent", "the host-side recipe ran inside");
    // Inside, programs are found in the chroot's view and the build machine is the target;
    // the stage's toolchain knows which recipes build on the host instead.
    assert_eq!(
        std::fs::read_to_string(share.join("toolchain")).unwrap(),
        "/serpent/bin/cat x86_64-serpent-linux-musl cc"
    );
    let view = test.work().join("x86_64/stage3/views/early");
    assert_eq!(
        std::fs::read_to_string(share.join("host-cc")).unwrap(),
        format!("cross-cc --sysroot={}", view.display())
    );

    // The shell sees what builds see, and its exit status passes through.
    test = test
        .args([
            "shell",
            "stage3",
            "--target",
            "x86_64",
            "--",
            "sh",
            "-c",
            "cat /share/seen; exit 7",
        ])
        .status(7);
    let shell = test.run();
    assert!(
        shell
            .stdout
            .starts_with("0 serpent\nserpent-read-only\nroot-read-only\n"),
        "{}",
        shell.stdout
    );
}

#[test]
fn an_aarch64_chroot_stage_runs_through_qemu() {
    let mut test = project();
    let hello = test.dir.path().join("hello-aarch64");
    assert!(
        crate::sandbox::aarch64_hello(&hello),
        "cannot build the aarch64 test program"
    );
    let tool = format!(
        r#"const NAME = "hello";
const VERSION = "1";
fn install(ctx) {{ ctx.copy("{}", `${{ctx.destdir}}/bin/hello`); }}
"#,
        hello.display()
    );
    test = test
        .file("recipes/stage2/hello.rhai", tool)
        .script(
            "recipes/stage3/runs.rhai",
            r#"
            const NAME = "runs";
            const VERSION = "1";
            const DEPENDS = ["probe"];
            fn install(ctx) {
                ctx.setenv("ANSWER", "42");
                ctx.shell("mkdir -p $DESTDIR; /serpent/bin/hello > $DESTDIR/said; echo $? >> $DESTDIR/said", #{ env: #{ DESTDIR: ctx.destdir } });
            }
            "#,
        )
        .args(["build", "stage3", "--target", "aarch64"]);
    test.run();
    let said = std::fs::read_to_string(test.work().join("aarch64/stage3/root/said")).unwrap();
    assert_eq!(said, "hello from aarch64\n7\n");
}

/// Installs the host's make and ninja in the stage3 root, with the libraries they load, and
/// busybox as the /bin/sh they run their commands with.
fn host_make_and_ninja() -> String {
    let programs = ["/usr/bin/make", "/usr/bin/ninja"];
    let ldd = std::process::Command::new("ldd")
        .args(programs)
        .output()
        .unwrap();
    let mut files: Vec<String> = programs.iter().map(|path| path.to_string()).collect();
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)", "/lib64/ld-linux-x86-64.so.2 (0x...)"
    let stdout = String::from_utf8_lossy(&ldd.stdout);
    for line in stdout.lines().filter(|line| line.starts_with('\t')) {
        let path = line.split_whitespace().find(|word| word.starts_with('/'));
        if let Some(path) = path.filter(|path| !files.iter().any(|file| file == path)) {
            files.push(path.to_string());
        }
    }
    let copies: String = files
        .iter()
        .map(|path| {
            let content = std::fs::canonicalize(path).unwrap();
            format!("    ctx.copy({content:?}, `${{ctx.destdir}}{path}`);\n")
        })
        .collect();
    format!(
        r#"const NAME = "tools";
const VERSION = "1";
const ISOLATION = "host";
fn install(ctx) {{
{copies}    ctx.copy("/bin/busybox", `${{ctx.destdir}}/bin/sh`);
}}
"#
    )
}

/// A stage3 recipe that runs `step` steps of one second through `tool` (`make` or `ninja`),
/// each appending when it started and ended to the package's `share/times`.
fn timed_steps(name: &str, tool: &str, before: &str) -> String {
    let probe = "read start rest < /proc/uptime; sleep 1; read end rest < /proc/uptime; echo \"$start $end\" >> times";
    let targets: Vec<String> = (0..6).map(|n| format!("o{n}")).collect();
    let (file, text, run) = if tool == "make" {
        let mut makefile = format!("all: {}\n", targets.join(" "));
        for target in &targets {
            makefile.push_str(&format!("{target}:\n\t@sh probe.sh && touch $@\n"));
        }
        ("Makefile", makefile, "ctx.make([]);")
    } else {
        let mut ninja = "rule step\n  command = sh probe.sh && touch $out\n".to_string();
        for target in &targets {
            ninja.push_str(&format!("build {target}: step\n"));
        }
        ("build.ninja", ninja, "ctx.ninja([]);")
    };
    format!(
        r#"const NAME = "{name}";
const VERSION = "1";
const DEPENDS = ["tools"];
fn build(ctx) {{
    {before}
    ctx.write("probe.sh", {probe:?});
    ctx.write("{file}", {text:?});
    {run}
}}
fn install(ctx) {{ ctx.copy("times", `${{ctx.destdir}}/share/{name}-times`); }}
"#
    )
}

fn steps_at_once(test: &Test, names: &[&str]) -> (usize, usize) {
    let share = test.work().join("x86_64/stage3/root/share");
    let times: String = names
        .iter()
        .map(|name| std::fs::read_to_string(share.join(format!("{name}-times"))).unwrap())
        .collect();
    crate::test::most_steps_at_once(&times)
}

fn chroot_with_tools() -> Test {
    Test::new()
        .file("recipes/stage2/stage.rhai", STAGE2)
        .file(
            "recipes/stage2/busybox.rhai",
            BUSYBOX.replace("\"cp\"]", "\"cp\", \"sleep\", \"touch\"]"),
        )
        .file("recipes/stage3/stage.rhai", STAGE3)
        .file("recipes/stage3/tools.rhai", host_make_and_ninja())
}

#[test]
fn makes_inside_chroots_share_the_job_limit() {
    let mut test = chroot_with_tools()
        .file("recipes/stage3/m1.rhai", timed_steps("m1", "make", ""))
        .file("recipes/stage3/m2.rhai", timed_steps("m2", "make", ""))
        .args(["build", "stage3", "--target", "x86_64", "--jobs", "2"]);
    test.run();
    // Each make alone would run two steps at once: four in all.
    let (steps, most) = steps_at_once(&test, &["m1", "m2"]);
    assert_eq!((steps, most), (12, 2), "two job slots in all, both used");
    let log = std::fs::read_to_string(test.work().join("x86_64/stage3/logs/m1/build.log")).unwrap();
    assert!(log.contains("$ make\n"), "{log}");
}

#[test]
fn a_ninja_inside_a_chroot_takes_a_job_slot_that_comes_free() {
    let mut test = chroot_with_tools()
        .file("recipes/stage3/slow.rhai", crate::test::SLOW)
        .file(
            "recipes/stage3/n.rhai",
            timed_steps("n", "ninja", "ctx.shell(\"sleep 0.5\");"),
        )
        .args(["build", "stage3", "--target", "x86_64", "--jobs", "2"]);
    test.run();
    let log = std::fs::read_to_string(test.work().join("x86_64/stage3/logs/n/build.log")).unwrap();
    assert!(log.contains("$ ninja -j1\n"), "{log}");
    assert!(
        log.contains("serpent: a job slot came free; ninja starts again with -j2"),
        "{log}"
    );
    let (steps, most) = steps_at_once(&test, &["n"]);
    assert_eq!(most, 2, "{steps} steps\n{log}");
    assert!(steps >= 6, "every step ran to its end at least once\n{log}");
}
