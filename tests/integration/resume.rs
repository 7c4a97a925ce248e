//! A killed build of the same key resumes where it stopped.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::tarball::{tarball, Compression, Entry};
use crate::test::{sha256, Test};

const OBJECTS: usize = 30;
const RECIPE: &str = "recipes/stage1/many.rhai";
/// The command line of every run here: one job, so that make's progress is one line at a time.
const RUN: [&str; 6] = ["run", RECIPE, "--target", "x86_64", "--jobs", "1"];

/// A make build of `OBJECTS` small C files, each noted in `compiled` as make starts it. The
/// setup phase sets a variable the build phase needs, as real recipes do with `ctx.setenv`.
fn project(compiled: &Path) -> Test {
    let sources: Vec<(String, String)> = (0..OBJECTS)
        .map(|i| {
            (
                format!("f{i}.c"),
                format!("int f{i}(void) {{ return {i}; }}\n"),
            )
        })
        .collect();
    let objects: Vec<String> = (0..OBJECTS).map(|i| format!("f{i}.o")).collect();
    let makefile = format!(
        "libmany.a: {objects}\n\tar rcD $@ $^\n\techo \"$$GREETING\" > greeting.txt\n\
         %.o: %.c\n\techo $@ >> {log}\n\tsleep 0.2\n\tcc -O2 -c $< -o $@\n",
        objects = objects.join(" "),
        log = compiled.display(),
    );
    let mut entries: Vec<Entry> = sources
        .iter()
        .map(|(name, text)| Entry::File(name, text.as_bytes()))
        .collect();
    entries.push(Entry::File("Makefile", makefile.as_bytes()));
    let archive = tarball(&entries, Compression::None);
    let test = Test::new().file("dist/many.tar", &archive);
    let url = format!("file://{}", test.root().join("dist/many.tar").display());
    let recipe = format!(
        r#"const NAME = "many";
const VERSION = "1.0";
const SOURCES = [#{{ url: "{url}", sha256: "{sha}", strip: 0 }}];

fn setup(ctx) {{
    ctx.setenv("GREETING", "set in setup");
}}

fn build(ctx) {{
    ctx.make(["-C", ctx.srcdir]);
}}

fn install(ctx) {{
    ctx.copy(`${{ctx.srcdir}}/libmany.a`, `${{ctx.destdir}}/lib/libmany.a`);
    ctx.copy(`${{ctx.srcdir}}/greeting.txt`, `${{ctx.destdir}}/share/greeting.txt`);
}}
"#,
        sha = sha256(&archive),
    );
    test.file(RECIPE, recipe)
}

fn serpent(test: &Test) -> Command {
    let mut command = test.command(env!("CARGO_BIN_EXE_serpent"));
    command
        .args(RUN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |text| text.lines().count())
}

/// Starts a build in its own process group and kills the whole group with SIGKILL once half
/// the objects were started; returns how many were.
fn kill_halfway(test: &Test, compiled: &Path) -> usize {
    let mut child: Child = serpent(test).process_group(0).spawn().unwrap();
    let start = Instant::now();
    while lines(compiled) < OBJECTS / 2 {
        if child.try_wait().unwrap().is_some() {
            let output = child.wait_with_output().unwrap();
            panic!(
                "the build ended before it was killed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the build never got halfway"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let group = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    lines(compiled)
}

fn package(test: &Test) -> PathBuf {
    test.work().join("x86_64/stage1/pkgs/many")
}

#[test]
fn a_killed_make_build_resumes_and_compiles_only_what_was_left() {
    let scratch = tempfile::tempdir().unwrap();
    let compiled = scratch.path().join("compiled");
    let test = project(&compiled);
    let before_kill = kill_halfway(&test, &compiled);
    assert!(!test.work().join("x86_64/stage1/records/many.json").exists());

    let mut test = test.args(RUN).stderr_contains("many: resuming after setup");
    test.run();
    let compiled_again = lines(&compiled) - before_kill;
    // The object that was compiling when the kill came is started once more.
    assert!(
        compiled_again <= OBJECTS - before_kill + 1,
        "the rerun compiled {compiled_again} objects; {before_kill} of {OBJECTS} were started before the kill"
    );

    let reference_log = scratch.path().join("reference");
    let reference = project(&reference_log);
    let clean = serpent(&reference).output().unwrap();
    assert!(clean.status.success());
    assert_eq!(lines(&reference_log), OBJECTS);
    for file in ["lib/libmany.a", "share/greeting.txt"] {
        assert_eq!(
            std::fs::read(package(&test).join(file)).unwrap(),
            std::fs::read(package(&reference).join(file)).unwrap(),
            "{file} differs from an uninterrupted build's"
        );
    }
    assert_eq!(
        std::fs::read_to_string(package(&test).join("share/greeting.txt")).unwrap(),
        "set in setup\n"
    );
}

#[test]
fn fresh_starts_an_interrupted_build_over() {
    let scratch = tempfile::tempdir().unwrap();
    let compiled = scratch.path().join("compiled");
    let test = project(&compiled);
    let before_kill = kill_halfway(&test, &compiled);
    test.args(RUN)
        .args(["--fresh"])
        .stderr_lacks("resuming")
        .run();
    assert_eq!(lines(&compiled) - before_kill, OBJECTS);
}
