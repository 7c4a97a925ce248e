use crate::test::{dedent, Output, Test};

#[test]
fn syntax_error_points_at_line_and_column() {
    let output = Test::new()
        .script(
            "recipes/stage1/demo.rhai",
            r#"
            const NAME = "demo";
            const VERSION = "1";

            fn install(ctx) {
                let x = [1, 2;
            }
            "#,
        )
        .args(["run", "recipes/stage1/demo.rhai", "--target", "x86_64"])
        .status(2)
        .run();
    insta::assert_snapshot!(output.stderr_filtered());
}

#[test]
fn runtime_error_in_stdlib_shows_the_call_chain() {
    let output = Test::new()
        .script(
            "recipes/stage1/demo.rhai",
            r#"
            import "meson" as meson;
            const NAME = "demo";
            const VERSION = "1";

            fn setup(ctx) {
                let list = meson::quoted_list(42);
            }

            fn install(ctx) {}
            "#,
        )
        .args(["run", "recipes/stage1/demo.rhai", "--target", "x86_64"])
        .status(1)
        .run();
    insta::assert_snapshot!(output.stderr_filtered());
}

/// Runs the stage1 recipe `demo` with this text, expecting its build to fail and leave no
/// record; returns the test, for more checks of its work dir, and what it printed.
fn failing_demo_build(text: &str) -> (Test, Output) {
    let mut test = Test::new()
        .script("recipes/stage1/demo.rhai", text)
        .args(["run", "recipes/stage1/demo.rhai", "--target", "x86_64"])
        .status(1);
    let output = test.run();
    assert!(!test.work().join("x86_64/stage1/records/demo.json").exists());
    (test, output)
}

#[test]
fn failed_command_names_recipe_phase_status_and_log() {
    let (test, output) = failing_demo_build(
        r#"
        const NAME = "demo";
        const VERSION = "1";

        fn build(ctx) {
            ctx.shell("echo compiling thing.c; echo 'thing.c:1: error: no' >&2; exit 3");
        }

        fn install(ctx) {}
        "#,
    );
    insta::assert_snapshot!(output.stderr_filtered());
    let log = test.work().join("x86_64/stage1/logs/demo/build.log");
    assert!(std::fs::read_to_string(log)
        .unwrap()
        .contains("thing.c:1: error: no"));
    assert!(!test.work().join("x86_64/stage1/pkgs/demo").exists());
}

#[test]
fn failed_style_phase_points_at_the_recipes_style_declaration() {
    let (_, output) = failing_demo_build(
        r#"
        // A recipe whose source has no Makefile, so the make style's build fails.
        const NAME = "demo";
        const VERSION = "1";
        const STYLE = "make";
        "#,
    );
    insta::assert_snapshot!(output.stderr_filtered());
}

#[test]
fn strict_engine_rejects_undefined_variables_and_eval() {
    Test::new()
        .script(
            "recipes/stage1/demo.rhai",
            r#"
            const NAME = "demo";
            const VERSION = "1";
            const DEPENDS = [missing];
            fn install(ctx) {}
            "#,
        )
        .args(["check"])
        .status(2)
        .stderr_contains("Undefined variable: missing")
        .run();
    Test::new()
        .script(
            "recipes/stage1/demo.rhai",
            r#"
            const NAME = "demo";
            const VERSION = eval("1");
            fn install(ctx) {}
            "#,
        )
        .args(["check"])
        .status(2)
        .stderr_contains("demo.rhai:2")
        .run();
}

#[test]
fn misspelled_map_property_is_an_error() {
    Test::new()
        .script(
            "recipes/stage1/demo.rhai",
            r#"
            const NAME = "demo";
            const VERSION = "1";
            fn install(ctx) {
                let flags = ctx.target.cflagz;
            }
            "#,
        )
        .args(["run", "recipes/stage1/demo.rhai", "--target", "x86_64"])
        .status(1)
        .stderr_contains("cflagz")
        .stderr_contains("recipes/stage1/demo.rhai:4")
        .run();
}

/// Runs a recipe made of `functions` (written indented: its install phase and any helpers) and
/// returns what serpent printed when it failed.
fn failed_install(functions: &str) -> String {
    let recipe = format!(
        r#"const NAME = "demo";
const VERSION = "1";

{}"#,
        dedent(functions)
    );
    Test::new()
        .file("recipes/stage1/demo.rhai", recipe)
        .args(["run", "recipes/stage1/demo.rhai", "--target", "x86_64"])
        .status(1)
        .run()
        .stderr_filtered()
}

// Each runaway script is stopped by a limit, and the report points at the line it was on.

#[test]
fn endless_loop_is_stopped_at_its_line() {
    insta::assert_snapshot!(failed_install(
        r#"
        fn install(ctx) {
            let i = 0;
            loop {
                i += 1;
            }
        }
        "#
    ));
}

#[test]
fn array_grown_without_end_is_stopped_at_its_line() {
    insta::assert_snapshot!(failed_install(
        r#"
        fn install(ctx) {
            let items = [];
            loop {
                items.push("x");
            }
        }
        "#
    ));
}

#[test]
fn endless_recursion_is_stopped_at_its_line() {
    insta::assert_snapshot!(failed_install(
        r#"
        fn install(ctx) {
            deeper(1);
        }

        fn deeper(depth) {
            deeper(depth + 1);
        }
        "#
    ));
}

#[test]
fn string_grown_without_end_is_stopped_at_its_line() {
    insta::assert_snapshot!(failed_install(
        r#"
        fn install(ctx) {
            let text = "x";
            loop {
                text += text;
            }
        }
        "#
    ));
}

/// The limits hold inside a stdlib function too, and point into the module.
#[test]
fn runaway_in_a_stdlib_function_points_into_the_module() {
    Test::new()
        .script(
            "stdlib/spin.rhai",
            r#"
            fn descend(ctx, depth) {
                descend(ctx, depth + 1);
            }
            "#,
        )
        .script(
            "recipes/stage1/demo.rhai",
            r#"
            import "spin" as spin;
            const NAME = "demo";
            const VERSION = "1";
            fn install(ctx) {
                spin::descend(ctx, 0);
            }
            "#,
        )
        .args(["run", "recipes/stage1/demo.rhai", "--target", "x86_64"])
        .status(1)
        .stderr_contains("Stack overflow")
        .stderr_contains("at stdlib/spin.rhai:2:18")
        .run();
}

/// A registered function called with arguments of the wrong kinds says which forms exist.
#[test]
fn run_with_a_command_line_points_to_shell() {
    insta::assert_snapshot!(failed_install(
        r#"
        fn install(ctx) {
            let command = "touch x";
            ctx.run(command);
        }
        "#
    ));
}

#[test]
fn wrong_argument_kinds_list_the_forms() {
    insta::assert_snapshot!(failed_install(
        r#"
        fn install(ctx) {
            let lines = ["a", "b"];
            ctx.write("notes.txt", lines);
        }
        "#
    ));
}

/// A function that was found but failed keeps its own error.
#[test]
fn a_failing_command_is_not_taken_for_wrong_arguments() {
    Test::new()
        .script(
            "recipes/stage1/demo.rhai",
            r#"
            const NAME = "demo";
            const VERSION = "1";
            fn install(ctx) {
                ctx.run(["false"]);
            }
            "#,
        )
        .args(["run", "recipes/stage1/demo.rhai", "--target", "x86_64"])
        .status(1)
        .stderr_contains("`false` exited with status 1")
        .stderr_lacks("its forms")
        .run();
}

#[test]
fn writes_outside_the_work_dir_are_refused() {
    Test::new()
        .script(
            "recipes/stage1/demo.rhai",
            r#"
            const NAME = "demo";
            const VERSION = "1";
            fn install(ctx) { ctx.write("/tmp/../etc/serpent-must-not-exist", "x"); }
            "#,
        )
        .args(["run", "recipes/stage1/demo.rhai", "--target", "x86_64"])
        .status(1)
        .stderr_contains("refusing to change /etc/serpent-must-not-exist")
        .run();
    assert!(!std::path::Path::new("/etc/serpent-must-not-exist").exists());
}

#[test]
fn usage_errors_exit_with_2() {
    Test::new()
        .args(["run", "recipes/stage1/nothing.rhai"])
        .status(2)
        .stderr_contains("no recipe at")
        .run();
    Test::new()
        .args(["frobnicate"])
        .status(2)
        .stderr_contains("unrecognized subcommand")
        .run();
    Test::new()
        .script(
            "recipes/stage1/demo.rhai",
            r#"
            const NAME = "demo";
            const VERSION = "1";
            fn install(ctx) {}
            "#,
        )
        .args(["run", "recipes/stage1/demo.rhai", "--target", "x86_46"])
        .status(2)
        .stderr_contains("did you mean `x86_64`?")
        .run();
}

/// A call that cannot work is reported before anything builds, not after the recipes before
/// it have spent their time.
#[test]
fn a_call_that_cannot_work_stops_the_build_before_it_starts() {
    let mut test = Test::new()
        .script(
            "recipes/stage1/first.rhai",
            r#"
            const NAME = "first";
            const VERSION = "1";
            fn install(ctx) {
                ctx.write(`${ctx.destdir}/first`, "built");
            }
            "#,
        )
        .script(
            "recipes/stage1/second.rhai",
            r#"
            const NAME = "second";
            const VERSION = "1";
            const DEPENDS = ["first"];
            fn install(ctx) {
                ctx.wirte(`${ctx.destdir}/second`, "built");
            }
            "#,
        )
        .args(["run", "recipes/stage1/second.rhai", "--target", "x86_64"])
        .status(2)
        .stderr_contains("wirte");
    test.run();
    assert!(!test
        .work()
        .join("x86_64/stage1/records/first.json")
        .exists());
}
