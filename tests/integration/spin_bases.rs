//! Spins that extend another spin: `BASE`, then `ADD` and `REMOVE`, and declarations that
//! replace the base's.

use crate::test::Test;

fn recipe(name: &str, depends: &str) -> String {
    format!(
        r#"const NAME = "{name}";
const VERSION = "1";
const DEPENDS = [{depends}];

fn install(ctx) {{
    ctx.write(`${{ctx.destdir}}/share/{name}.txt`, "{name}");
}}
"#
    )
}

/// stage1 with four recipes (`extra` depends on `base`) and the spin `small`, which builds
/// `listed` for aarch64.
fn project() -> Test {
    Test::new()
        .file("recipes/stage1/listed.rhai", recipe("listed", ""))
        .file("recipes/stage1/base.rhai", recipe("base", ""))
        .file("recipes/stage1/extra.rhai", recipe("extra", "\"base\""))
        .file("recipes/stage1/other.rhai", recipe("other", ""))
        .script(
            "recipes/spins/small.rhai",
            r#"
            const TARGETS = ["aarch64"];
            const PACKAGES = #{ stage1: ["listed"] };
            const OVERRIDES = #{ listed: #{ version: "7" } };
            "#,
        )
}

/// `serpent plan --spin SPIN` and the instance ids it lists.
fn plan(test: Test, spin: &str) -> (Test, Vec<String>) {
    let mut test = test.args(["plan", "--spin", spin]);
    let stdout = test.run().stdout;
    let ids = stdout
        .lines()
        .filter(|line| {
            ["missing ", "stale ", "built "]
                .iter()
                .any(|s| line.starts_with(s))
        })
        .filter_map(|line| line.split_whitespace().nth(1))
        .map(str::to_string)
        .collect();
    (test, ids)
}

#[test]
fn a_spin_is_its_base_plus_one_package_in_three_lines() {
    let test = project().script(
        "recipes/spins/mine.rhai",
        r#"
        const BASE = "small";
        const ADD = #{ packages: #{ stage1: ["extra"] } };
        "#,
    );
    let (test, ids) = plan(test.stdout_contains("aarch64/stage1/listed 7 "), "mine");
    assert_eq!(
        ids,
        [
            "aarch64/stage1/base",
            "aarch64/stage1/extra",
            "aarch64/stage1/listed"
        ]
    );
    let mut test = test
        .args(["check", "recipes/spins/mine.rhai"])
        .stdout_contains("1 spin");
    test.run();
}

#[test]
fn a_spin_removes_from_its_base_and_replaces_what_it_declares() {
    let test = project().script(
        "recipes/spins/mine.rhai",
        r#"
        const BASE = "small";
        const TARGETS = ["x86_64"];
        const ADD = #{ packages: #{ stage1: ["other"] }, overrides: #{ other: #{ version: "3" } } };
        const REMOVE = #{ packages: #{ stage1: ["listed"] }, overrides: ["listed"] };
        "#,
    );
    let (test, ids) = plan(test.stdout_contains("x86_64/stage1/other 3 "), "mine");
    assert_eq!(ids, ["x86_64/stage1/other"]);
    // A spin based on that one gets its merged declarations, and builds with them.
    let mut test = test
        .script(
            "recipes/spins/yours.rhai",
            r#"
            const BASE = "mine";
            const ADD = #{ packages: #{ stage1: ["extra"] } };
            "#,
        )
        .args(["build", "--spin", "yours"])
        .stdout_contains("built 3 recipe instance(s)");
    test.run();
    let root = test.work().join("x86_64/stage1/sysroot/share");
    assert!(root.join("extra.txt").is_file() && root.join("other.txt").is_file());
    assert!(!root.join("listed.txt").exists());
}

#[test]
fn bases_that_form_a_cycle_are_refused_naming_the_chain() {
    let mut test = project()
        .script("recipes/spins/a.rhai", r#"const BASE = "b";"#)
        .script("recipes/spins/b.rhai", r#"const BASE = "c";"#)
        .script("recipes/spins/c.rhai", r#"const BASE = "a";"#)
        .args(["plan", "--spin", "a"])
        .status(2);
    let output = test.run();
    insta::assert_snapshot!(output.stderr_filtered());
}

#[test]
fn an_unknown_base_and_changes_the_base_cannot_take_are_located() {
    let mut test = project()
        .script(
            "recipes/spins/typo.rhai",
            r#"
            const BASE = "smal";
            "#,
        )
        .args(["plan", "--spin", "typo"])
        .status(2)
        .stderr_contains("did you mean \"small\"?");
    test.run();
    test = test
        .script(
            "recipes/spins/mine.rhai",
            r#"
            const BASE = "small";
            const REMOVE = #{ targets: ["x86_64"], packages: #{ stage1: ["lsited"] } };
            "#,
        )
        .args(["plan", "--spin", "mine"])
        .status(2);
    let output = test.run();
    insta::assert_snapshot!(output.stderr_filtered());
    test = test
        .script(
            "recipes/spins/mine.rhai",
            r#"
            const BASE = "small";
            const ADD = #{ pakages: #{ stage1: ["extra"] } };
            "#,
        )
        .args(["plan", "--spin", "mine"])
        .status(2)
        .stderr_contains("ADD.pakages: not a part of a spin it can change")
        .stderr_contains("did you mean `packages`?");
    test.run();
    test = test
        .script(
            "recipes/spins/mine.rhai",
            r#"
            const BASE = "small";
            const ADD = #{ packages: #{ stage1: ["extar"] } };
            "#,
        )
        .args(["plan", "--spin", "mine"])
        .status(2)
        .stderr_contains("ADD.packages.stage1 names `extar`");
    test.run();
}

#[test]
fn added_packages_narrow_a_stage_only_where_the_base_does_not_build_it() {
    let stage1 = std::fs::read_to_string(
        std::path::Path::new(crate::test::REPO).join("recipes/stage1/stage.rhai"),
    )
    .unwrap();
    let test = project()
        .file(
            "recipes/stage2/stage.rhai",
            format!("{stage1}\nconst PREVIOUS = \"stage1\";\n"),
        )
        .file("recipes/stage2/wanted.rhai", recipe("wanted", ""))
        .file("recipes/stage2/unwanted.rhai", recipe("unwanted", ""))
        .script(
            "recipes/spins/first.rhai",
            r#"
            const TARGETS = ["x86_64"];
            const STAGES = ["stage1"];
            "#,
        )
        .script(
            "recipes/spins/plus.rhai",
            r#"
            const BASE = "first";
            const ADD = #{ packages: #{ stage2: ["wanted"] } };
            "#,
        );
    let (test, ids) = plan(test, "plus");
    assert_eq!(ids.len(), 5, "{ids:?}");
    assert!(ids.contains(&"x86_64/stage2/wanted".to_string()), "{ids:?}");
    assert!(
        !ids.contains(&"x86_64/stage2/unwanted".to_string()),
        "{ids:?}"
    );
    // stage1, which stage2 builds on, is built whole: adding to it changes nothing.
    let test = test
        .script(
            "recipes/spins/second.rhai",
            r#"
            const TARGETS = ["x86_64"];
            const STAGES = ["stage2"];
            "#,
        )
        .script(
            "recipes/spins/more.rhai",
            r#"
            const BASE = "second";
            const ADD = #{ packages: #{ stage1: ["listed"] } };
            "#,
        );
    let (_, ids) = plan(test, "more");
    assert_eq!(ids.len(), 6, "{ids:?}");
}
