use crate::test::Test;

const GOOD: &str = r#"const NAME = "zlib";
const VERSION = "1.3.1";
const SOURCES = [#{ url: `https://zlib.net/zlib-${VERSION}.tar.xz`, sha256: "38ef96b8dfe510d42707d9c781877914792541133e1870841463bfa73f883e32" }];
const STYLE = "autotools";
"#;

#[test]
fn good_project_passes() {
    let output = Test::new()
        .file("recipes/stage1/zlib.rhai", GOOD)
        .args(["check"])
        .run();
    assert_eq!(
        output.stdout.trim(),
        "checked 1 recipe(s), 1 stage(s) and 2 target(s): no problems"
    );
}

/// An overlay may replace a recipe without bringing its stage, and examples/ holds ports with
/// their own spins: check reads both, each recipe with the stage it will build in.
#[test]
fn overlay_recipes_and_examples_are_checked() {
    let output = Test::new()
        .file("recipes/stage1/zlib.rhai", GOOD)
        .file(
            "recipes/overlays/fork/stage1/zlib.rhai",
            GOOD.replace("1.3.1", "1.3"),
        )
        .file(
            "examples/port/spins/port.rhai",
            "const TARGETS = [\"x86_64\"];\nconst OVERLAYS = [\"recipes/overlays/fork\"];\n",
        )
        .args(["check"])
        .run();
    assert_eq!(
        output.stdout.trim(),
        "checked 2 recipe(s), 1 stage(s), 1 spin(s) and 2 target(s): no problems"
    );
}

#[test]
fn every_problem_is_reported_with_its_position() {
    let bad = r#"const NAME = "zlib";
const VERSON = "1.3.1";
const SOURCES = [
    #{ url: "https://zlib.net/zlib-1.3.1.tar.xz", sha256: "38ef96b8" },
    #{ url: "ftp://example.org/x.tar.gz", sha256: "38ef96b8dfe510d42707d9c781877914792541133e1870841463bfa73f883e32" },
    #{ url: "https://example.org/y.tar.gz" },
];
const STYLE = "autotool";
"#;
    let output = Test::new()
        .file("recipes/stage1/zlib.rhai", bad)
        .args(["check"])
        .status(2)
        .run();
    insta::assert_snapshot!(output.stderr_filtered());
}

#[test]
fn unknown_dependency_names_the_closest() {
    let recipe = GOOD.replace("const STYLE", "const DEPENDS = [\"mussl\"];\nconst STYLE");
    let output = Test::new()
        .file("recipes/stage1/zlib.rhai", recipe)
        .file("recipes/stage1/musl.rhai", GOOD.replace("zlib", "musl"))
        .args(["check"])
        .status(2)
        .run();
    assert!(
        output.stderr.contains("unknown dependency \"mussl\""),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("did you mean \"musl\"?"),
        "{}",
        output.stderr
    );
}

#[test]
fn broken_target_is_reported() {
    let output = Test::new()
        .file(
            "recipes/targets/riscv64.rhai",
            "#{ arch: \"riscv64\", tripel: \"x\" }",
        )
        .args(["check"])
        .status(2)
        .run();
    assert!(
        output.stderr.contains("unknown target field `tripel`"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("did you mean `triple`?"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("the target has no `llvm_arch`"),
        "{}",
        output.stderr
    );
}

#[test]
fn the_repository_passes_check() {
    let output = Test::new()
        .args(["check", "--root", crate::test::REPO])
        .run();
    assert!(output.stdout.contains("no problems"), "{}", output.stdout);
}
