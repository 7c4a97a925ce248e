//! A build sees only the packages it depends on: a recipe that forgets one fails the same way
//! whatever merged into the stage before it, and is told which package to add.

use crate::test::Test;

const STAGE: &str = r#"const ISOLATION = "host";
const COMMON_DEPENDS = ["greeting"];
fn toolchain(target, roots) {
    #{ cc: `cc -I${roots.root}/usr/include`, cxx: "c++", ar: "ar", ranlib: "ranlib", nm: "nm", strip: "strip", ld: "ld" }
}
"#;

/// Installs the header the program includes.
const GREETING: &str = r##"const NAME = "greeting";
const VERSION = "1";
fn install(ctx) {
    ctx.write(`${ctx.destdir}/usr/include/greeting.h`, "#define GREETING \"hello\"\n");
}
"##;

/// A program that includes greeting.h; `DEPENDS` is filled in by each test.
fn program(depends: &str) -> String {
    format!(
        r##"const NAME = "program";
const VERSION = "1";
const DEPENDS = [{depends}];
fn build(ctx) {{
    ctx.write(`${{ctx.builddir}}/program.c`, "#include <greeting.h>\nconst char *greeting = GREETING;\n");
    ctx.shell(`${{ctx.cc}} -c program.c -o program.o`);
}}
fn install(ctx) {{
    ctx.copy(`${{ctx.builddir}}/program.o`, `${{ctx.destdir}}/usr/lib/program.o`);
}}
"##
    )
}

fn project(depends: &str) -> Test {
    Test::new()
        .file("recipes/stage2/stage.rhai", STAGE)
        .file("recipes/stage2/greeting.rhai", GREETING)
        .file("recipes/stage2/program.rhai", program(depends))
}

fn run(test: Test, recipe: &str, status: i32) -> (Test, String) {
    let mut test = test
        .args(["run", recipe, "--target", "x86_64", "--jobs", "1"])
        .status(status);
    let output = test.run();
    (test, output.stderr_filtered())
}

/// The compiler's complaint, as the error quotes it from the log.
fn compiler_error(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| line.contains("greeting.h") && line.contains("  | "))
        .collect()
}

#[test]
fn a_missing_dependency_fails_the_same_way_whatever_merged_first() {
    // Nothing else built yet: the header is nowhere.
    let (_, alone) = run(project(""), "recipes/stage2/program.rhai", 1);
    let alone_error = compiler_error(&alone);
    assert!(!alone_error.is_empty(), "{alone}");

    // The header's package merged into the stage first: the build still does not see it.
    let (test, first) = run(project(""), "recipes/stage2/greeting.rhai", 0);
    assert!(test
        .work()
        .join("x86_64/stage2/root/usr/include/greeting.h")
        .exists());
    let (test, after) = run(test, "recipes/stage2/program.rhai", 1);
    assert_eq!(compiler_error(&after), alone_error, "{first}\n{after}");
    insta::assert_snapshot!(after);
    assert!(!test
        .work()
        .join("x86_64/stage2/records/program.json")
        .exists());
    // Its view is kept for inspection: it holds nothing of greeting.
    let view = test.work().join("x86_64/stage2/views/program");
    assert!(view.is_dir());
    assert!(!view.join("usr/include/greeting.h").exists());

    // Again: the same failure, not a success because the root changed.
    let (test, again) = run(test, "recipes/stage2/program.rhai", 1);
    assert_eq!(compiler_error(&again), alone_error);

    // Declared, it builds, and the view goes away.
    let test = test.file("recipes/stage2/program.rhai", program("\"greeting\""));
    let (test, _) = run(test, "recipes/stage2/program.rhai", 0);
    assert!(test
        .work()
        .join("x86_64/stage2/pkgs/program/usr/lib/program.o")
        .exists());
    assert!(!view.exists());
}

/// Depends on greeting through `middle` only; lists what its sysroot holds.
const PROBE: &str = r#"const NAME = "probe";
const VERSION = "1";
const DEPENDS = ["middle"];
fn build(ctx) {
    ctx.shell(`ls ${ctx.sysroot}/usr/include ${ctx.sysroot}/usr/share > seen`);
}
fn install(ctx) { ctx.copy(`${ctx.builddir}/seen`, `${ctx.destdir}/usr/share/seen`); }
"#;

const MIDDLE: &str = r#"const NAME = "middle";
const VERSION = "1";
const DEPENDS = ["greeting"];
fn install(ctx) { ctx.write(`${ctx.destdir}/usr/share/middle`, "m"); }
"#;

#[test]
fn a_build_sees_its_dependencies_and_theirs_and_nothing_else() {
    let test = project("\"greeting\"")
        .file("recipes/stage2/middle.rhai", MIDDLE)
        .file("recipes/stage2/probe.rhai", PROBE);
    let (test, _) = run(test, "recipes/stage2/program.rhai", 0);
    // -v says what the view holds: middle and, through it, greeting.
    let mut test = test
        .args([
            "run",
            "recipes/stage2/probe.rhai",
            "--target",
            "x86_64",
            "-v",
        ])
        .stderr_contains("x86_64/stage2/probe: its view of the stage is 2 package(s), 2 file(s)");
    test.run();
    let seen = std::fs::read_to_string(test.work().join("x86_64/stage2/pkgs/probe/usr/share/seen"))
        .unwrap();
    assert!(
        seen.contains("greeting.h") && seen.contains("middle"),
        "{seen}"
    );
    // program merged into the stage's root before probe, which does not depend on it.
    assert!(test
        .work()
        .join("x86_64/stage2/root/usr/lib/program.o")
        .exists());
    assert!(!seen.contains("program") && !seen.contains("lib"), "{seen}");
}

#[test]
fn a_build_that_writes_into_a_dependency_fails_and_the_dependency_is_rebuilt() {
    let writer = PROBE.replace(
        "> seen`);",
        "> seen`);\n    ctx.shell(`echo changed > ${ctx.sysroot}/usr/include/greeting.h`);",
    );
    let test = project("")
        .file("recipes/stage2/middle.rhai", MIDDLE)
        .file("recipes/stage2/probe.rhai", writer);
    let (test, stderr) = run(test, "recipes/stage2/probe.rhai", 1);
    insta::assert_snapshot!(stderr);
    assert!(!test
        .work()
        .join("x86_64/stage2/records/greeting.json")
        .exists());
    assert!(test
        .work()
        .join("x86_64/stage2/records/middle.json")
        .exists());
    // The next run builds greeting again, whose package is as it should be.
    let (test, _) = run(test, "recipes/stage2/greeting.rhai", 0);
    let header = std::fs::read_to_string(
        test.work()
            .join("x86_64/stage2/pkgs/greeting/usr/include/greeting.h"),
    )
    .unwrap();
    assert_eq!(header, "#define GREETING \"hello\"\n");
}

#[test]
fn new_recipes_depend_on_what_the_stage_has_in_common() {
    let mut test = project("").args(["new", "lz4", "--stage", "stage2"]);
    test.run();
    let text = std::fs::read_to_string(test.root().join("recipes/stage2/lz4.rhai")).unwrap();
    assert!(text.contains("const DEPENDS = [\"greeting\"];"), "{text}");
}

/// A script run by path whose `#!` interpreter another package of the stage installs: the
/// shell says the script is "not found", and the error names the interpreter's package.
#[test]
fn a_script_whose_interpreter_is_an_undeclared_package_is_explained() {
    let helper = r##"const NAME = "helper";
const VERSION = "1";
fn install(ctx) {
    ctx.write(`${ctx.destdir}/usr/bin/serpent-test-shell`, "#!/bin/sh\n");
}
"##;
    let user = r##"const NAME = "user";
const VERSION = "1";
const DEPENDS = [];
fn build(ctx) {
    ctx.write(`${ctx.builddir}/tools/gen.sh`, "#!/usr/bin/serpent-test-shell\necho generated\n");
    ctx.run(["chmod", "755", "tools/gen.sh"]);
    ctx.shell("cd tools && ./gen.sh > generated.c");
}
fn install(ctx) {
    ctx.copy(`${ctx.builddir}/tools/generated.c`, `${ctx.destdir}/usr/share/generated.c`);
}
"##;
    let test = project("")
        .file("recipes/stage2/helper.rhai", helper)
        .file("recipes/stage2/user.rhai", user);
    let (test, _) = run(test, "recipes/stage2/helper.rhai", 0);
    let (_, stderr) = run(test, "recipes/stage2/user.rhai", 1);
    let flat = stderr
        .split_whitespace()
        .filter(|word| *word != "│")
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        flat.contains("x86_64/stage2/user looked for the interpreter /usr/bin/serpent-test-shell that ./gen.sh names on its #! line (/usr/bin/serpent-test-shell), which helper installs, but does not depend on helper"),
        "{stderr}"
    );
    assert!(flat.contains("add \"helper\" to DEPENDS"), "{stderr}");
}
