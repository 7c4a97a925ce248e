use std::path::PathBuf;

use crate::test::Test;

/// A recipe with no sources that installs `share/<name>.txt` and the shared `share/common.txt`.
fn sharing_recipe(name: &str, depends: &[&str], version: &str) -> String {
    let depends: Vec<String> = depends.iter().map(|dep| format!("\"{dep}\"")).collect();
    format!(
        r#"const NAME = "{name}";
const VERSION = "{version}";
const DEPENDS = [{}];

fn install(ctx) {{
    ctx.write(`${{ctx.destdir}}/share/{name}.txt`, "{name}");
    ctx.write(`${{ctx.destdir}}/share/common.txt`, "{name} {version}");
}}
"#,
        depends.join(", ")
    )
}

fn common(test: &Test) -> String {
    std::fs::read_to_string(test.work().join("x86_64/stage1/sysroot/share/common.txt")).unwrap()
}

fn record(test: &Test, name: &str) -> PathBuf {
    test.work()
        .join(format!("x86_64/stage1/records/{name}.json"))
}

#[test]
fn two_unordered_packages_installing_one_file_are_refused() {
    let mut test = Test::new()
        .file("recipes/stage1/a.rhai", sharing_recipe("a", &[], "1"))
        .file("recipes/stage1/b.rhai", sharing_recipe("b", &[], "1"))
        .args(["run", "recipes/stage1/a.rhai", "--target", "x86_64"]);
    test.run();
    test = test.args(["build", "--target", "x86_64"]).status(1);
    let output = test.run();
    insta::assert_snapshot!(output.stderr_filtered());
    assert_eq!(
        common(&test),
        "a 1",
        "the root keeps the first package's copy"
    );
    assert!(
        !record(&test, "b").exists(),
        "b must not be recorded as built"
    );
    assert!(
        !test
            .work()
            .join("x86_64/stage1/sysroot/share/b.txt")
            .exists(),
        "nothing of b is merged"
    );
}

#[test]
fn a_package_replaces_the_files_of_what_it_is_built_after() {
    let mut test = Test::new()
        .file("recipes/stage1/a.rhai", sharing_recipe("a", &[], "1"))
        .file("recipes/stage1/b.rhai", sharing_recipe("b", &["a"], "1"))
        .args(["build", "--target", "x86_64"]);
    test.run();
    assert_eq!(common(&test), "b 1");

    // b's next version no longer installs the file: the root gets a's copy back.
    let path = test.root().join("recipes/stage1/b.rhai");
    let without: String = sharing_recipe("b", &["a"], "2")
        .lines()
        .filter(|line| !line.contains("common.txt"))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(path, without).unwrap();
    test = test.args(["build", "--target", "x86_64"]);
    test.run();
    assert_eq!(common(&test), "a 1");
    assert!(record(&test, "b").exists());
}

#[test]
fn a_package_left_from_another_build_is_named_as_such() {
    let mut test = Test::new()
        .file("recipes/stage1/a.rhai", sharing_recipe("a", &[], "1"))
        .args(["build", "--target", "x86_64"]);
    test.run();
    std::fs::remove_file(test.root().join("recipes/stage1/a.rhai")).unwrap();
    test = test
        .file("recipes/stage1/b.rhai", sharing_recipe("b", &[], "1"))
        .args(["build", "--target", "x86_64"])
        .status(1);
    let output = test.run();
    insta::assert_snapshot!(output.stderr_filtered());
    assert_eq!(common(&test), "a 1");
}
