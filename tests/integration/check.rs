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
        .script(
            "examples/port/spins/port.rhai",
            r#"
            const TARGETS = ["x86_64"];
            const OVERLAYS = ["recipes/overlays/fork"];
            "#,
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
    let output = Test::new()
        .script(
            "recipes/stage1/zlib.rhai",
            r#"
            const NAME = "zlib";
            const VERSON = "1.3.1";
            const SOURCES = [
                #{ url: "https://zlib.net/zlib-1.3.1.tar.xz", sha256: "38ef96b8" },
                #{ url: "ftp://example.org/x.tar.gz", sha256: "38ef96b8dfe510d42707d9c781877914792541133e1870841463bfa73f883e32" },
                #{ url: "https://example.org/y.tar.gz" },
            ];
            const STYLE = "autotool";
            "#,
        )
        .args(["check"])
        .status(2)
        .run();
    insta::assert_snapshot!(output.stderr_filtered());
}

#[test]
fn unknown_dependency_names_the_closest() {
    let recipe = GOOD.replace("const STYLE", "const DEPENDS = [\"mussl\"];\nconst STYLE");
    Test::new()
        .file("recipes/stage1/zlib.rhai", recipe)
        .file("recipes/stage1/musl.rhai", GOOD.replace("zlib", "musl"))
        .args(["check"])
        .status(2)
        .stderr_contains("unknown dependency \"mussl\"")
        .stderr_contains("did you mean \"musl\"?")
        .run();
}

#[test]
fn broken_target_is_reported() {
    Test::new()
        .file(
            "recipes/targets/riscv64.rhai",
            r#"#{ arch: "riscv64", tripel: "x" }"#,
        )
        .args(["check"])
        .status(2)
        .stderr_contains("unknown target field `tripel`")
        .stderr_contains("did you mean `triple`?")
        .stderr_contains("missing target field `llvm_arch`")
        .run();
}

#[test]
fn the_repository_passes_check() {
    Test::new()
        .args(["check", "--root", crate::test::REPO])
        .stdout_contains("no problems")
        .run();
}

/// A misspelt DEPENDS entry is the recipe's mistake, whether `check` or `plan` finds it (a spin
/// whose PACKAGES pulls the recipe in used to be blamed).
#[test]
fn plan_blames_the_dependency_line_not_the_spin() {
    let recipe = GOOD.replace("const STYLE", "const DEPENDS = [\"mussl\"];\nconst STYLE");
    let output = Test::new()
        .file("recipes/stage1/zlib.rhai", recipe)
        .file("recipes/stage1/musl.rhai", GOOD.replace("zlib", "musl"))
        .script(
            "recipes/spins/small.rhai",
            r#"
            const TARGETS = ["x86_64"];
            const PACKAGES = #{ stage1: ["zlib"] };
            "#,
        )
        .args(["--spin", "small", "plan"])
        .status(2)
        .run();
    insta::assert_snapshot!(output.stderr_filtered());
}

/// Calls that cannot work are found before anything builds: an unknown ctx method, an unknown
/// function of a stdlib module, a literal of the wrong kind for a ctx method, and a phase whose
/// name is misspelt (so it would never run).
#[test]
fn calls_that_cannot_work_are_reported_with_the_closest_name() {
    let output = Test::new()
        .script(
            "recipes/stage1/demo.rhai",
            r#"
            import "autotools" as autotools;
            const NAME = "demo";
            const VERSION = "1";
            const STYLE = "autotools";

            fn setup(ctx) {
                autotools::confgure(ctx, ["--disable-nls"]);
            }

            fn buidl(ctx) {
                ctx.rnu(["make", "-C", "src"]);
            }

            fn install(ctx) {
                ctx.run("make install");
            }
            "#,
        )
        .args(["check"])
        .status(2)
        .run();
    insta::assert_snapshot!(output.stderr_filtered());
}

/// The calls a recipe's own helpers and closures make are checked too, against the recipe's
/// functions (with their numbers of arguments) and the engine's.
#[test]
fn helper_calls_are_checked_against_their_definitions() {
    let output = Test::new()
        .script(
            "recipes/stage1/demo.rhai",
            r#"
            const NAME = "demo";
            const VERSION = "1";

            fn flags(ctx, extra) {
                [ctx.cflags] + extra
            }

            fn install(ctx) {
                let all = flags(ctx);
                let names = ["a", "b"].map(|name| name.to_uper());
                let dir = ctx.destdri;
                prnt(dir);
            }
            "#,
        )
        .args(["check"])
        .status(2)
        .run();
    insta::assert_snapshot!(output.stderr_filtered());
}

/// Closures, function pointers, module calls with the right arguments and helpers called
/// through `Fn` are all fine.
#[test]
fn valid_calls_pass() {
    Test::new()
        .script(
            "recipes/stage1/demo.rhai",
            r#"
            import "autotools" as autotools;
            const NAME = "demo";
            const VERSION = "1";

            fn setup(ctx) {
                autotools::configure(ctx, ["--disable-nls"]);
                let tools = ["cc", "ar"].map(|tool| `${ctx.prefix}/${tool}`);
                let step = Fn("helper");
                step.call(ctx);
                let each = |name| ctx.write(name, "");
                each.call("a.txt");
                ctx.run(["true"], #{ cwd: ctx.srcdir });
                print(type_of(tools));
                let counter = #{ next: |count| count + 1 };
                let two = counter.next(1);
                let alias = ctx;
                alias.write("b.txt", `${two}`);
            }

            fn helper(ctx) {
                ctx.shell("true");
            }

            fn install(ctx) {
                ctx.make(["install", `DESTDIR=${ctx.destdir}`]);
            }
            "#,
        )
        .args(["check"])
        .stdout_contains("no problems")
        .run();
}

/// A build style's phases run only when a recipe uses the style: check reads the calls of every
/// stdlib module too.
#[test]
fn calls_in_stdlib_modules_are_checked() {
    Test::new()
        .script(
            "stdlib/plain.rhai",
            r#"
            fn build(ctx) {
                ctx.make(ctx.recipe.make_args);
            }

            fn install(ctx) {
                ctx.mak(["install"]);
            }
            "#,
        )
        .args(["check"])
        .status(2)
        .stderr_contains("ctx has no method `mak`")
        .stderr_contains("stdlib/plain.rhai:6:9")
        .stderr_contains("did you mean `make`?")
        .run();
}

/// A value of the right kind but the wrong shape (a flag list that does not exist, a word that
/// is not one of the choices) is reported at its place, with what would be right.
#[test]
fn misshapen_declarations_are_reported_at_their_place() {
    let output = Test::new()
        .script(
            "recipes/spins/fast.rhai",
            r#"
            const TARGETS = ["x86_64"];
            const FLAGS = #{
                add: #{ cflagz: ["-O3"] },
            };
            "#,
        )
        .script(
            "recipes/stage1/demo.rhai",
            r#"
            const NAME = "demo";
            const VERSION = "1";
            const ISOLATION = "chrot";
            fn install(ctx) {}
            "#,
        )
        .args(["check"])
        .status(2)
        .run();
    insta::assert_snapshot!(output.stderr_filtered());
}
