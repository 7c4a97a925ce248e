//! Patches from recipes/patches/<NAME>/: applied in file-name order, and refused as a whole
//! when a hunk does not apply.
//!
//! The source is a single file copied into the tree (`unpack: false`), so these tests do not
//! depend on archive handling.

use std::path::PathBuf;

use crate::test::{sha256, Test};

const RECIPE: &str = "recipes/stage1/greet.rhai";

const SOURCE: &str = r#"#include <stdio.h>

static const char *greeting(void)
{
    return "hello";
}

/* Padding, so the two functions
 * end up in separate hunks
 * of any patch
 * that touches both.
 */

static const char *name(void)
{
    return "world";
}

int main(void)
{
    printf("%s, %s\n", greeting(), name());
    return 0;
}
"#;

/// Joins patch lines; context lines for empty source lines are a single space.
fn patch(lines: &[&str]) -> String {
    lines.iter().map(|line| format!("{line}\n")).collect()
}

/// hello -> `to` in greeting(), one hunk.
fn greeting_patch(from: &str, to: &str) -> String {
    patch(&[
        "--- a/greeting.c",
        "+++ b/greeting.c",
        "@@ -2,7 +2,7 @@",
        " ",
        " static const char *greeting(void)",
        " {",
        &format!("-    return \"{from}\";"),
        &format!("+    return \"{to}\";"),
        " }",
        " ",
        " /* Padding, so the two functions",
    ])
}

/// A project with the recipe `greet`, whose source greeting.c is copied into the tree and then
/// into share/greet/ of the package.
fn project() -> Test {
    project_declaring("")
}

/// [`project`] with more top-level declarations in the recipe.
fn project_declaring(declarations: &str) -> Test {
    project_files(declarations).args(["run", RECIPE, "--target", "x86_64"])
}

/// The files of [`project_declaring`], with no command to run yet.
fn project_files(declarations: &str) -> Test {
    let test = Test::new();
    let url = format!("file://{}", test.root().join("dist/greeting.c").display());
    let recipe = format!(
        r#"const NAME = "greet";
const VERSION = "1.0";
const SOURCES = [#{{ url: "{url}", sha256: "{}", unpack: false }}];
{declarations}

fn install(ctx) {{
    ctx.copy(`${{ctx.srcdir}}/greeting.c`, `${{ctx.destdir}}/share/greet/greeting.c`);
}}
"#,
        sha256(SOURCE.as_bytes())
    );
    test.file("dist/greeting.c", SOURCE).file(RECIPE, recipe)
}

fn packaged(test: &Test) -> PathBuf {
    test.work()
        .join("x86_64/stage1/pkgs/greet/share/greet/greeting.c")
}

fn record(test: &Test) -> PathBuf {
    test.work().join("x86_64/stage1/records/greet.json")
}

#[test]
fn a_patch_in_the_patches_folder_is_applied() {
    let mut test = project().file(
        "recipes/patches/greet/0001-hi.patch",
        greeting_patch("hello", "hi"),
    );
    test.run();
    let built = std::fs::read_to_string(packaged(&test)).unwrap();
    assert_eq!(built, SOURCE.replace("\"hello\"", "\"hi\""));
    assert!(record(&test).is_file());
}

#[test]
fn patches_apply_in_file_name_order() {
    // 0002 only applies on top of 0001; it is added to the folder first.
    let mut test = project()
        .file(
            "recipes/patches/greet/0002-hey.patch",
            greeting_patch("hi", "hey"),
        )
        .file(
            "recipes/patches/greet/0001-hi.patch",
            greeting_patch("hello", "hi"),
        );
    test.run();
    let built = std::fs::read_to_string(packaged(&test)).unwrap();
    assert_eq!(built, SOURCE.replace("\"hello\"", "\"hey\""));
}

#[test]
fn a_hunk_that_does_not_apply_fails_the_build() {
    let failing = patch(&[
        "--- a/greeting.c",
        "+++ b/greeting.c",
        "@@ -2,7 +2,7 @@",
        " ",
        " static const char *greeting(void)",
        " {",
        "-    return \"hello\";",
        "+    return \"hi\";",
        " }",
        " ",
        " /* Padding, so the two functions",
        "@@ -13,7 +13,7 @@",
        " ",
        " static const char *name(void)",
        " {",
        "-    return \"planet\";",
        "+    return \"everyone\";",
        " }",
        " ",
        " int main(void)",
    ]);
    let mut test = project()
        .file("recipes/patches/greet/0001-names.patch", failing)
        .status(1)
        .stderr_contains("recipes/patches/greet/0001-names.patch")
        .stderr_contains("greeting.c")
        .stderr_contains("hunk #2");
    let output = test.run();
    assert!(!record(&test).exists(), "a record was written");
    assert!(
        !test.work().join("x86_64/stage1/pkgs/greet").exists(),
        "a package was made"
    );
    // Hunk #1 applies, but nothing is written unless every hunk does.
    let tree = test.work().join("x86_64/stage1/tmp/greet/src/greeting.c");
    assert_eq!(std::fs::read_to_string(tree).unwrap(), SOURCE);
    insta::assert_snapshot!("hunk_does_not_apply", output.stderr_filtered());
}

#[test]
fn an_empty_patches_list_applies_none() {
    let mut test = project_declaring("const PATCHES = [];").file(
        "recipes/patches/greet/0001-hi.patch",
        greeting_patch("hello", "hi"),
    );
    test.run();
    let built = std::fs::read_to_string(packaged(&test)).unwrap();
    assert_eq!(built, SOURCE, "PATCHES = [] applied a patch");
}

#[test]
fn patches_names_the_ones_applied() {
    let mut test = project_declaring(r#"const PATCHES = ["0002-hey.patch"];"#)
        .file(
            "recipes/patches/greet/0001-hi.patch",
            greeting_patch("hello", "hi"),
        )
        .file(
            "recipes/patches/greet/0002-hey.patch",
            greeting_patch("hello", "hey"),
        );
    test.run();
    let built = std::fs::read_to_string(packaged(&test)).unwrap();
    assert_eq!(built, SOURCE.replace("\"hello\"", "\"hey\""));
}

mod containment;
mod git_format;
mod gnu;
mod reference;

#[test]
fn a_failed_series_applies_none_and_names_the_patch_file_hunk_and_line() {
    let failing = patch(&[
        "--- a/greeting.c",
        "+++ b/greeting.c",
        "@@ -14,5 +14,5 @@",
        " static const char *name(void)",
        " {",
        "-    return \"planet\";",
        "+    return \"everyone\";",
        " }",
        " ",
    ]);
    let mut test = project()
        .file(
            "recipes/patches/greet/0001-hi.patch",
            greeting_patch("hello", "hi"),
        )
        .file(
            "recipes/patches/greet/0002-hey.patch",
            greeting_patch("hi", "hey"),
        )
        .file("recipes/patches/greet/0003-name.patch", failing)
        .status(1);
    let output = test.run();
    let said = crate::patch::reference::said(&output);
    for part in [
        "patch 3 of 3, recipes/patches/greet/0003-name.patch,",
        "line 3: hunk #1 (@@ -14,5 +14,5 @@) of greeting.c does not apply",
        "none of the 3 patches was applied",
    ] {
        assert!(said.contains(part), "missing `{part}` in {said}");
    }
    let tree = test.work().join("x86_64/stage1/tmp/greet/src/greeting.c");
    assert_eq!(
        std::fs::read_to_string(tree).unwrap(),
        SOURCE,
        "patches 1 and 2 stayed applied"
    );
    assert!(!record(&test).exists());
}

/// A patch made against a greeting.c with two lines fewer at the top.
fn shifted_patch() -> String {
    patch(&[
        "--- a/greeting.c",
        "+++ b/greeting.c",
        "@@ -1,7 +1,7 @@",
        " ",
        " static const char *greeting(void)",
        " {",
        "-    return \"hello\";",
        "+    return \"hi\";",
        " }",
        " ",
        " /* Padding, so the two functions",
    ])
}

#[test]
fn offsets_are_logged_as_gnu_patch_says_them() {
    let shifted = shifted_patch();
    let offset = "Hunk #1 succeeded at 2 (offset 1 line).";
    let mut test = project()
        .file("recipes/patches/greet/0001-hi.patch", shifted)
        .stderr_contains(offset);
    test.run();
    let log = test.work().join("x86_64/stage1/logs/greet/patch.log");
    let logged = std::fs::read_to_string(log).unwrap();
    assert!(
        logged.contains(&format!("patching file greeting.c\n{offset}\n")),
        "{logged}"
    );
    let built = std::fs::read_to_string(packaged(&test)).unwrap();
    assert_eq!(built, SOURCE.replace("\"hello\"", "\"hi\""));
}
mod properties;

#[test]
fn ctx_patch_logs_offsets_to_the_phase_log() {
    let shifted = shifted_patch();
    let setup = r#"
fn setup(ctx) {
    ctx.patch(`${ctx.srcdir}/../../../../../../extra/hi.patch`, #{ dir: ctx.srcdir });
}"#;
    let mut test = project_declaring(setup).file("extra/hi.patch", shifted);
    test.run();
    let log = test.work().join("x86_64/stage1/logs/greet/setup.log");
    let logged = std::fs::read_to_string(log).unwrap();
    assert!(
        logged.contains("patching file greeting.c\nHunk #1 succeeded at 2 (offset 1 line).\n"),
        "{logged}"
    );
    let built = std::fs::read_to_string(packaged(&test)).unwrap();
    assert_eq!(built, SOURCE.replace("\"hello\"", "\"hi\""));
}

/// `check --patches` applies each patch to the sources a spin builds, without building, so a
/// patch that does not fit a spin's version override fails in seconds, naming the hunk.
#[test]
fn check_patches_finds_a_patch_that_does_not_fit_a_spins_source() {
    let other = SOURCE.replace("hello", "hey");
    let test = project_files("")
        .file(
            "recipes/patches/greet/0001-hi.patch",
            greeting_patch("hello", "hi"),
        )
        .file("dist/v2/greeting.c", &other);
    let url = format!(
        "file://{}",
        test.root().join("dist/v2/greeting.c").display()
    );
    let spin = format!(
        r#"const OVERRIDES = #{{
    greet: #{{ version: "2.0", sources: [#{{ url: "{url}", sha256: "{}", unpack: false }}] }},
}};
"#,
        sha256(other.as_bytes())
    );
    let mut test = test
        .file("recipes/spins/other.rhai", spin)
        .args(["check", "--patches"])
        .stdout_contains("patches apply: 1 patched source tree(s)");
    test.run();
    test = test
        .args(["check", "--patches", "--spin", "other"])
        .status(2)
        .stderr_contains(
            "x86_64/stage1/greet: patch recipes/patches/greet/0001-hi.patch does not apply",
        )
        .stderr_contains("line 3: hunk #1 (@@ -2,7 +2,7 @@) of greeting.c");
    test.run();
    assert!(!record(&test).exists());
    assert!(!test.work().join("x86_64/stage1/tmp/greet").exists());
}
