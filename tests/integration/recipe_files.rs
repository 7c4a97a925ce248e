//! Files a recipe carries in the repository (FILES, from recipes/files/<NAME>/): copied into
//! the source tree, part of the key, and refused when they would bring in anything from outside
//! the recipes folder.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use crate::tarball::gnu_tar;
use crate::test::{sha256, Test};

const RECIPE: &str = "recipes/stage1/tool.rhai";

/// A recipe `tool` carrying `files` (a Rhai array) with more `declarations`, whose install
/// copies its whole source tree into share/tool/ of the package.
fn recipe(files: &str, declarations: &str) -> String {
    format!(
        r#"const NAME = "tool";
const VERSION = "1";
const FILES = {files};
{declarations}
fn install(ctx) {{
    ctx.copy(ctx.srcdir, `${{ctx.destdir}}/share/tool`);
}}
"#
    )
}

fn packaged(test: &Test, name: &str) -> PathBuf {
    test.work()
        .join("x86_64/stage1/pkgs/tool/share/tool")
        .join(name)
}

fn build(test: Test) -> Test {
    let mut test = test.args(["build", "--target", "x86_64"]);
    test.run();
    test
}

#[test]
fn carried_files_land_in_the_source_tree_and_their_bytes_are_part_of_the_key() {
    let test = Test::new()
        .file(
            "recipes/files/tool/tool.c",
            "int main(void) { return 0; }\n",
        )
        .file("recipes/files/tool/scripts/run.sh", "#!/bin/sh\necho run\n")
        .file(RECIPE, recipe(r#"["tool.c", "scripts/run.sh"]"#, ""));
    let script = test.root().join("recipes/files/tool/scripts/run.sh");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let test = build(test.stdout_contains("built 1 recipe instance(s)"));
    assert_eq!(
        std::fs::read_to_string(packaged(&test, "tool.c")).unwrap(),
        "int main(void) { return 0; }\n"
    );
    let run = packaged(&test, "scripts/run.sh");
    assert_eq!(
        std::fs::read_to_string(&run).unwrap(),
        "#!/bin/sh\necho run\n"
    );
    let mode = run.metadata().unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o755, "the executable bit was lost");

    let test = build(test.stdout_contains("nothing to do"));

    std::fs::write(
        test.root().join("recipes/files/tool/tool.c"),
        "int main(void) { return 1; }\n",
    )
    .unwrap();
    let mut test = test
        .args(["explain", RECIPE, "--target", "x86_64"])
        .stdout_contains("file recipes/files/tool/tool.c: its contents changed");
    test.run();
    let test = build(test.stdout_contains("built 1 recipe instance(s)"));
    assert_eq!(
        std::fs::read_to_string(packaged(&test, "tool.c")).unwrap(),
        "int main(void) { return 1; }\n"
    );
}

#[test]
fn a_carried_file_replaces_the_unpacked_one_of_its_name_before_the_patches() {
    let test = Test::new();
    let dist = test.dir.path().join("dist");
    std::fs::create_dir_all(dist.join("tool-1")).unwrap();
    std::fs::write(dist.join("tool-1/config.h"), "#define LIMIT 1\n").unwrap();
    std::fs::write(dist.join("tool-1/main.c"), "int main(void) { return 0; }\n").unwrap();
    let (ok, said) = gnu_tar(&dist, &["-czf", "tool-1.tar.gz", "tool-1"]);
    assert!(ok, "{said}");
    let tarball = std::fs::read(dist.join("tool-1.tar.gz")).unwrap();
    let source = format!(
        r#"const SOURCES = [#{{ url: "file://{}", sha256: "{}" }}];"#,
        dist.join("tool-1.tar.gz").display(),
        sha256(&tarball)
    );
    let patch =
        "--- a/config.h\n+++ b/config.h\n@@ -1 +1,2 @@\n #define LIMIT 2\n+#define PATCHED 1\n";
    let test = test
        .file("recipes/files/tool/config.h", "#define LIMIT 2\n")
        .file("recipes/patches/tool/0001-patched.patch", patch)
        .file(RECIPE, recipe(r#"["config.h"]"#, &source));
    let test = build(test);
    assert_eq!(
        std::fs::read_to_string(packaged(&test, "config.h")).unwrap(),
        "#define LIMIT 2\n#define PATCHED 1\n"
    );
    assert_eq!(
        std::fs::read_to_string(packaged(&test, "main.c")).unwrap(),
        "int main(void) { return 0; }\n"
    );
}

#[test]
fn files_from_outside_the_recipes_folder_are_refused_at_their_line() {
    let test = Test::new()
        .file(
            "recipes/files/tool/tool.c",
            "int main(void) { return 0; }\n",
        )
        .file("recipes/files/common/shared.h", "#define SHARED 1\n")
        .file("recipes/files/tool/folder/inside.c", "")
        .file("secret.c", "the project's own, but not a recipe's\n");
    let files = test.root().join("recipes/files/tool");
    std::os::unix::fs::symlink("../common/shared.h", files.join("shared.h")).unwrap();
    std::os::unix::fs::symlink("../../../secret.c", files.join("escape.c")).unwrap();
    let entries = r#"[
    "tool.c",
    "shared.h",
    "../../../secret.c",
    "/etc/passwd",
    "escape.c",
    "./tool.c",
    "missing.c",
    "folder",
]"#;
    let mut test = test
        .file(RECIPE, recipe(entries, ""))
        .args(["check", RECIPE])
        .status(2)
        // The entries that are fine are not named.
        .stderr_lacks("`tool.c`")
        .stderr_lacks("`shared.h`");
    let output = test.run();
    insta::assert_snapshot!(output.stderr_filtered());
}

#[test]
fn a_misspelt_files_declaration_is_named_with_the_right_one() {
    let text = recipe("[]", "").replace("const FILES", "const FILE");
    Test::new()
        .file(RECIPE, text)
        .args(["check", RECIPE])
        .status(2)
        .stderr_contains("unknown declaration `FILE`")
        .stderr_contains("did you mean `FILES`?")
        .run();
}
