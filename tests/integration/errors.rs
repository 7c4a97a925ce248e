use crate::test::Test;

#[test]
fn syntax_error_points_at_line_and_column() {
    let recipe = "const NAME = \"demo\";\nconst VERSION = \"1\";\n\nfn install(ctx) {\n    let x = [1, 2;\n}\n";
    let output = Test::new()
        .file("recipes/stage1/demo.rhai", recipe)
        .args(["run", "recipes/stage1/demo.rhai", "--target", "x86_64"])
        .status(2)
        .run();
    insta::assert_snapshot!(output.stderr_filtered());
}

#[test]
fn runtime_error_in_stdlib_shows_the_call_chain() {
    let recipe = r#"import "meson" as meson;
const NAME = "demo";
const VERSION = "1";

fn setup(ctx) {
    let list = meson::quoted_list(42);
}

fn install(ctx) {}
"#;
    let output = Test::new()
        .file("recipes/stage1/demo.rhai", recipe)
        .args(["run", "recipes/stage1/demo.rhai", "--target", "x86_64"])
        .status(1)
        .run();
    insta::assert_snapshot!(output.stderr_filtered());
}

#[test]
fn failed_command_names_recipe_phase_status_and_log() {
    let recipe = r#"const NAME = "demo";
const VERSION = "1";

fn build(ctx) {
    ctx.shell("echo compiling thing.c; echo 'thing.c:1: error: no' >&2; exit 3");
}

fn install(ctx) {}
"#;
    let mut test = Test::new()
        .file("recipes/stage1/demo.rhai", recipe)
        .args(["run", "recipes/stage1/demo.rhai", "--target", "x86_64"])
        .status(1);
    let output = test.run();
    insta::assert_snapshot!(output.stderr_filtered());
    let log = test.work().join("x86_64/stage1/logs/demo/build.log");
    assert!(std::fs::read_to_string(log)
        .unwrap()
        .contains("thing.c:1: error: no"));
    assert!(!test.work().join("x86_64/stage1/records/demo.json").exists());
    assert!(!test.work().join("x86_64/stage1/pkgs/demo").exists());
}

#[test]
fn strict_engine_rejects_undefined_variables_and_eval() {
    let undefined = "const NAME = \"demo\";\nconst VERSION = \"1\";\nconst DEPENDS = [missing];\nfn install(ctx) {}\n";
    let output = Test::new()
        .file("recipes/stage1/demo.rhai", undefined)
        .args(["check"])
        .status(2)
        .run();
    assert!(
        output.stderr.contains("Undefined variable: missing"),
        "{}",
        output.stderr
    );

    let with_eval = "const NAME = \"demo\";\nconst VERSION = eval(\"1\");\nfn install(ctx) {}\n";
    let output = Test::new()
        .file("recipes/stage1/demo.rhai", with_eval)
        .args(["check"])
        .status(2)
        .run();
    assert!(output.stderr.contains("demo.rhai:2"), "{}", output.stderr);
}

#[test]
fn misspelled_map_property_is_an_error() {
    let recipe = r#"const NAME = "demo";
const VERSION = "1";
fn install(ctx) {
    let flags = ctx.target.cflagz;
}
"#;
    let output = Test::new()
        .file("recipes/stage1/demo.rhai", recipe)
        .args(["run", "recipes/stage1/demo.rhai", "--target", "x86_64"])
        .status(1)
        .run();
    assert!(output.stderr.contains("cflagz"), "{}", output.stderr);
    assert!(
        output.stderr.contains("recipes/stage1/demo.rhai:4"),
        "{}",
        output.stderr
    );
}

#[test]
fn runaway_script_is_stopped_by_the_operation_limit() {
    let recipe = "const NAME = \"demo\";\nconst VERSION = \"1\";\nfn install(ctx) { loop { } }\n";
    let output = Test::new()
        .file("recipes/stage1/demo.rhai", recipe)
        .args(["run", "recipes/stage1/demo.rhai", "--target", "x86_64"])
        .status(1)
        .run();
    assert!(
        output.stderr.contains("Too many operations"),
        "{}",
        output.stderr
    );
}

#[test]
fn writes_outside_the_work_dir_are_refused() {
    let recipe = r#"const NAME = "demo";
const VERSION = "1";
fn install(ctx) { ctx.write("/tmp/../etc/serpent-must-not-exist", "x"); }
"#;
    let output = Test::new()
        .file("recipes/stage1/demo.rhai", recipe)
        .args(["run", "recipes/stage1/demo.rhai", "--target", "x86_64"])
        .status(1)
        .run();
    assert!(
        output
            .stderr
            .contains("refusing to change /etc/serpent-must-not-exist"),
        "{}",
        output.stderr
    );
    assert!(!std::path::Path::new("/etc/serpent-must-not-exist").exists());
}

#[test]
fn usage_errors_exit_with_2() {
    let output = Test::new()
        .args(["run", "recipes/stage1/nothing.rhai"])
        .status(2)
        .run();
    assert!(output.stderr.contains("no recipe at"), "{}", output.stderr);
    let output = Test::new().args(["frobnicate"]).status(2).run();
    assert!(
        output.stderr.contains("unrecognized subcommand"),
        "{}",
        output.stderr
    );
    let output = Test::new()
        .file(
            "recipes/stage1/demo.rhai",
            "const NAME = \"demo\";\nconst VERSION = \"1\";\nfn install(ctx) {}\n",
        )
        .args(["run", "recipes/stage1/demo.rhai", "--target", "x86_46"])
        .status(2)
        .run();
    assert!(
        output.stderr.contains("did you mean `x86_64`?"),
        "{}",
        output.stderr
    );
}
