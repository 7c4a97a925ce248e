//! `serpent run`, `explain` and `log` on one recipe: named by file, STAGE/NAME or NAME, and
//! built whether or not the spin's PACKAGES lists it.

use crate::test::Test;

/// A recipe with no sources whose install writes `share/<name>.txt` and says so in its log.
fn recipe(name: &str, depends: &str) -> String {
    crate::test::dedent(&format!(
        r#"
        const NAME = "{name}";
        const VERSION = "1";
        const DEPENDS = [{depends}];

        fn install(ctx) {{
            ctx.shell("echo installing {name}");
            ctx.write(`${{ctx.destdir}}/share/{name}.txt`, "{name}");
        }}
        "#
    ))
}

/// stage1 with `listed` (in the spin's PACKAGES), `extra` (not in it) and `base`, which
/// `extra` depends on.
fn project() -> Test {
    Test::new()
        .file("recipes/stage1/listed.rhai", recipe("listed", ""))
        .file("recipes/stage1/base.rhai", recipe("base", ""))
        .file("recipes/stage1/extra.rhai", recipe("extra", "\"base\""))
        .script(
            "recipes/spins/small.rhai",
            r#"
            const TARGETS = ["x86_64"];
            const PACKAGES = #{ stage1: ["listed"] };
            "#,
        )
}

#[test]
fn run_builds_a_recipe_the_spins_packages_leave_out_with_what_it_needs() {
    let mut test = project()
        .args(["run", "recipes/stage1/extra.rhai", "--spin", "small"])
        .stdout_contains("built 2 recipe instance(s)")
        .stderr_contains("x86_64/stage1/base: built")
        .stderr_contains("x86_64/stage1/extra: built")
        .stderr_lacks("x86_64/stage1/listed");
    test.run();
    let root = test.work().join("x86_64/stage1/sysroot");
    assert!(root.join("share/extra.txt").is_file());
    assert!(!root.join("share/listed.txt").exists());
    test = test
        .args(["run", "recipes/stage1/extra.rhai", "--spin", "small"])
        .stdout_contains("nothing to do: 2 recipe instance(s) up to date");
    test.run();
}

#[test]
fn run_builds_a_new_overlay_recipe_by_name_or_path() {
    let mut test = project()
        .file("mine/stage1/fresh.rhai", recipe("fresh", "\"base\""))
        .args(["run", "fresh", "--overlay", "mine", "--spin", "small"])
        .stdout_contains("built 2 recipe instance(s)")
        .stderr_contains("x86_64/stage1/fresh: built");
    test.run();
    test = test
        .args(["run", "mine/stage1/fresh.rhai", "--spin", "small"])
        .stdout_contains("nothing to do: 2 recipe instance(s) up to date");
    test.run();
}

#[test]
fn run_explain_and_log_take_a_recipe_name() {
    let mut test = project()
        .args(["run", "extra", "--spin", "small"])
        .stderr_contains("x86_64/stage1/extra: built");
    test.run();
    test = test
        .args(["run", "stage1/base", "--spin", "small"])
        .stdout_contains("nothing to do: 1 recipe instance(s) up to date");
    test.run();
    test = test
        .args(["explain", "stage1/extra", "--spin", "small"])
        .stdout_contains("x86_64/stage1/extra");
    test.run();
    let log = test.args(["log", "extra", "--spin", "small"]).run();
    let header = log.stdout.find("==> ").expect("a header on stdout");
    let content = log.stdout.find("installing extra").expect("the log");
    assert!(header < content, "{}", log.stdout);
}

#[test]
fn a_name_several_stages_have_is_refused_with_the_candidates() {
    let stage = std::fs::read_to_string(
        std::path::Path::new(crate::test::REPO).join("recipes/stage1/stage.rhai"),
    )
    .unwrap();
    let mut test = project()
        .file("recipes/stage2/stage.rhai", stage)
        .file("recipes/stage2/base.rhai", recipe("base", ""))
        .args(["run", "base", "--spin", "small"])
        .status(2)
        .stderr_contains("`base` names a recipe in several stages")
        .stderr_contains("stage1/base (recipes/stage1/base.rhai)")
        .stderr_contains("stage2/base (recipes/stage2/base.rhai)");
    test.run();
    test = test
        .args(["log", "bsae", "--spin", "small"])
        .status(2)
        .stderr_contains("did you mean `base`?");
    test.run();
}

#[test]
fn log_headers_come_before_each_log_on_stdout() {
    let mut test = project().args(["build", "--spin", "small"]);
    test.run();
    let log = test
        .args(["log", "recipes/stage1/listed.rhai", "--spin", "small"])
        .stdout_contains("installing listed")
        .run();
    let first = log.stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("==> ") && first.ends_with(".log"),
        "{}",
        log.stdout
    );
}

/// A recipe `run` built in a later stage is up to date for the spin's `build`, which then
/// builds only what `run` did not need.
#[test]
fn what_run_built_in_a_later_stage_is_up_to_date_for_build() {
    let mut test = Test::new()
        .file("recipes/stage1/base.rhai", recipe("base", ""))
        .file("recipes/stage1/tool.rhai", recipe("tool", ""))
        .file("recipes/stage2/stage.rhai", crate::test::HOST_STAGE2)
        .file("recipes/stage2/top.rhai", recipe("top", ""))
        .file("recipes/stage2/side.rhai", recipe("side", ""))
        .script(
            "recipes/spins/two.rhai",
            r#"
            const TARGETS = ["x86_64"];
            const PACKAGES = #{ stage1: ["base", "tool"], stage2: ["top", "side"] };
            "#,
        )
        .args(["run", "stage2/top", "--spin", "two"])
        .stderr_contains("x86_64/stage2/top: built");
    test.run();
    test = test
        .args(["build", "--spin", "two"])
        .stderr_contains("x86_64/stage2/side: built")
        .stderr_lacks("x86_64/stage2/top");
    test.run();
}

/// `run` with a relative recipe path and `--root` elsewhere builds the project's recipe, which
/// `build` then finds up to date; a file of other bytes at that path here is refused.
#[test]
fn a_relative_recipe_path_is_the_projects_when_root_is_elsewhere() {
    let project = project();
    let elsewhere = project.dir.path().join("elsewhere");
    crate::test::copy_dir(&project.root(), &elsewhere);
    let root = elsewhere.to_str().unwrap().to_string();
    let run_extra = [
        "run",
        "recipes/stage1/extra.rhai",
        "--root",
        &root,
        "--spin",
        "small",
    ];
    let mut test = project
        .args(run_extra)
        .stderr_contains("x86_64/stage1/extra: built");
    test.run();
    test = test
        .args(["build", "--root", &root, "--spin", "small"])
        .stderr_contains("x86_64/stage1/listed: built")
        .stderr_lacks("x86_64/stage1/extra");
    test.run();

    std::fs::write(
        elsewhere.join("recipes/stage1/extra.rhai"),
        recipe("extra", "\"base\"").replace("installing", "setting up"),
    )
    .unwrap();
    test = test
        .args(run_extra)
        .status(2)
        .stderr_contains("recipes/stage1/extra.rhai is two different recipes");
    test.run();
}
