//! `serpent explain` and `serpent plan` say in words what changed since a recipe was built.

use crate::test::Test;

/// Two recipes, b depending on a, each writing one file with the target's C flags.
fn pair() -> Test {
    Test::new()
        .script(
            "recipes/stage1/a.rhai",
            r#"
            const NAME = "a";
            const VERSION = "1";

            fn install(ctx) {
                ctx.write(`${ctx.destdir}/share/a.txt`, `a with ${ctx.cflags}`);
            }
            "#,
        )
        .script(
            "recipes/stage1/b.rhai",
            r#"
            const NAME = "b";
            const VERSION = "1";
            const DEPENDS = ["a"];

            fn install(ctx) {
                ctx.write(`${ctx.destdir}/share/b.txt`, "b");
            }
            "#,
        )
}

/// The pair, built.
fn built_pair() -> Test {
    let mut test = pair().args(["build", "--target", "x86_64"]);
    test.run();
    test
}

/// Rewrites a file of the test's project.
fn edit(test: &Test, path: &str, from: &str, to: &str) {
    let path = test.root().join(path);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from} not in {}", path.display());
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn explain_names_the_flags_a_target_gained_and_lost() {
    let mut test = built_pair();
    edit(
        &test,
        "recipes/targets/x86_64.rhai",
        r#"cflags: ["-O2", "-pipe""#,
        r#"cflags: ["-O3", "-g", "-pipe""#,
    );
    test = test
        .args(["explain", "recipes/stage1/a.rhai", "--target", "x86_64"])
        .stdout_contains("target x86_64: cflags: -O3 -g added, -O2 removed");
    let output = test.run();
    insta::assert_snapshot!(output.stdout);
}

#[test]
fn explain_names_the_declaration_and_function_of_a_recipe_that_changed() {
    let mut test = built_pair();
    edit(
        &test,
        "recipes/stage1/a.rhai",
        "VERSION = \"1\"",
        "VERSION = \"2\"",
    );
    edit(
        &test,
        "recipes/stage1/a.rhai",
        "`a with",
        "`a, changed, with",
    );
    test = test
        .args(["explain", "recipes/stage1/a.rhai", "--target", "x86_64"])
        .stdout_contains("recipe recipes/stage1/a.rhai: VERSION: 1 -> 2; fn install(ctx) changed");
    test.run();
    // A comment changes the file's hash but nothing the build runs.
    edit(
        &test,
        "recipes/stage1/b.rhai",
        "const NAME",
        "// a comment\nconst NAME",
    );
    test = test
        .args(["explain", "recipes/stage1/b.rhai", "--target", "x86_64"])
        .stdout_contains("recipe recipes/stage1/b.rhai: only comments or layout changed");
    test.run();
}

#[test]
fn explain_names_the_dependency_whose_output_changed() {
    let mut test = built_pair();
    edit(
        &test,
        "recipes/stage1/a.rhai",
        "`a with",
        "`a, changed, with",
    );
    test = test.args(["run", "recipes/stage1/a.rhai", "--target", "x86_64"]);
    test.run();
    test = test
        .args(["explain", "recipes/stage1/b.rhai", "--target", "x86_64"])
        .stdout_contains("depends x86_64/stage1/a: its output changed (");
    test.run();
}

#[test]
fn plan_says_why_each_instance_would_be_built() {
    let mut test = pair().args(["run", "recipes/stage1/a.rhai", "--target", "x86_64"]);
    test.run();
    edit(
        &test,
        "recipes/stage1/a.rhai",
        "VERSION = \"1\"",
        "VERSION = \"1.1\"",
    );
    test = test
        .args(["plan", "--target", "x86_64"])
        .stdout_contains("x86_64/stage1/a 1.1");
    let output = test.run();
    let line = |id: &str| {
        output
            .stdout
            .lines()
            .find(|line| line.contains(&format!(" {id} ")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line("x86_64/stage1/a")
            .ends_with("(changed: recipe recipes/stage1/a.rhai: VERSION: 1 -> 1.1)"),
        "{}",
        output.stdout
    );
    assert!(
        line("x86_64/stage1/b").ends_with("(new)"),
        "{}",
        output.stdout
    );

    test = test.args(["plan", "--target", "x86_64", "--format", "json"]);
    let output = test.run();
    let plan: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    let why: Vec<&str> = plan["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|instance| instance["why"].as_str().unwrap())
        .collect();
    assert_eq!(
        why,
        [
            "changed: recipe recipes/stage1/a.rhai: VERSION: 1 -> 1.1",
            "new"
        ]
    );
    edit(
        &test,
        "recipes/stage1/a.rhai",
        "VERSION = \"1.1\"",
        "VERSION = \"1\"",
    );
    test = test
        .args(["plan", "--target", "x86_64"])
        .stdout_contains("x86_64/stage1/a 1 [")
        .stdout_contains("(up to date)");
    test.run();
}

#[test]
fn explain_on_a_recipe_an_overlay_replaces_names_the_replacement() {
    let test = built_pair();
    let forked = std::fs::read_to_string(test.root().join("recipes/stage1/a.rhai"))
        .unwrap()
        .replace("`a with", "`a from the fork, with");
    let mut test = test.file("fork/stage1/a.rhai", forked);
    test = test
        .args([
            "explain",
            "recipes/stage1/a.rhai",
            "--target",
            "x86_64",
            "--overlay",
            "fork",
        ])
        .stdout_contains(
            "recipe fork/stage1/a.rhai replaces recipes/stage1/a.rhai (fn install(ctx) changed)",
        )
        .stdout_contains(
            "recipes/stage1/a.rhai is replaced by fork/stage1/a.rhai from the overlay fork",
        )
        .stdout_contains(
            "fork/stage1/a.rhai comes from the overlay fork and replaces recipes/stage1/a.rhai",
        );
    let output = test.run();
    insta::assert_snapshot!(output.stdout);
}

#[test]
fn explain_names_the_patch_and_the_stdlib_function_that_changed() {
    let mut test = Test::new()
        .script(
            "stdlib/greeting.rhai",
            r#"
            fn text() { "hello" }

            fn unused() { "unchanged" }
            "#,
        )
        .script(
            "recipes/patches/p/add.patch",
            r#"
            --- /dev/null
            +++ b/hello.txt
            @@ -0,0 +1 @@
            +hello
            "#,
        )
        .script(
            "recipes/stage1/p.rhai",
            r#"
            import "greeting" as greeting;
            const NAME = "p";
            const VERSION = "1";

            fn install(ctx) {
                ctx.copy(`${ctx.srcdir}/hello.txt`, `${ctx.destdir}/share/hello.txt`);
                ctx.write(`${ctx.destdir}/share/greeting`, greeting::text());
            }
            "#,
        )
        .args(["build", "--target", "x86_64"]);
    test.run();
    edit(&test, "recipes/patches/p/add.patch", "+hello", "+hi");
    edit(&test, "stdlib/greeting.rhai", "\"hello\"", "\"hi\"");
    test = test
        .args(["explain", "recipes/stage1/p.rhai", "--target", "x86_64"])
        .stdout_contains("patch recipes/patches/p/add.patch: its contents changed")
        .stdout_contains("stdlib/greeting.rhai: fn text() changed\n");
    test.run();
}

#[test]
fn explain_names_the_declaration_a_spin_overrides() {
    let mut test = pair()
        .script(
            "recipes/spins/pinned.rhai",
            r#"
            const TARGETS = ["x86_64"];
            const OVERRIDES = #{ a: #{ version: "1.5" } };
            "#,
        )
        .args(["build", "--spin", "pinned"]);
    test.run();
    edit(&test, "recipes/spins/pinned.rhai", "\"1.5\"", "\"1.6\"");
    test = test
        .args(["explain", "recipes/stage1/a.rhai", "--spin", "pinned"])
        .stdout_contains("spin override: VERSION: 1.5 -> 1.6");
    test.run();
}

#[test]
fn plan_says_which_rebuild_a_waiting_instance_depends_on() {
    let mut test = pair().script(
        "recipes/stage1/c.rhai",
        r#"
        const NAME = "c";
        const VERSION = "1";
        const DEPENDS = ["b"];

        fn install(ctx) {
            ctx.write(`${ctx.destdir}/share/c.txt`, "c");
        }
        "#,
    );
    test = test.args(["build", "--target", "x86_64"]);
    test.run();
    edit(
        &test,
        "recipes/stage1/a.rhai",
        "fn install",
        "// a comment\nfn install",
    );
    test = test.args(["plan", "--target", "x86_64"]).stdout_contains(
        "3 instance(s): 0 built, 1 stale, 0 missing, 2 waiting (rebuilt only if a dependency rebuilt first comes out different)",
    );
    let output = test.run();
    let line = |id: &str| {
        let line = output
            .stdout
            .lines()
            .find(|line| line.contains(&format!(" {id} ")));
        line.unwrap_or_default().to_string()
    };
    assert!(
        line("x86_64/stage1/a").starts_with("stale   "),
        "{}",
        output.stdout
    );
    for waiting in ["x86_64/stage1/b", "x86_64/stage1/c"] {
        let line = line(waiting);
        assert!(line.starts_with("waiting "), "{}", output.stdout);
        assert!(
            line.ends_with("(rebuilt only if x86_64/stage1/a comes out different)"),
            "{}",
            output.stdout
        );
    }

    edit(
        &test,
        "recipes/stage1/b.rhai",
        "VERSION = \"1\"",
        "VERSION = \"2\"",
    );
    test = test.args(["plan", "--target", "x86_64", "--format", "json"]);
    let output = test.run();
    let plan: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    let instances = plan["instances"].as_array().unwrap();
    let fact = |field: &str| -> Vec<String> {
        let value = |instance: &serde_json::Value| instance.get(field).map(|v| v.to_string());
        instances
            .iter()
            .map(|i| value(i).unwrap_or_default())
            .collect()
    };
    assert_eq!(fact("status"), ["\"stale\"", "\"stale\"", "\"stale\""]);
    assert_eq!(fact("waits_for"), ["", "", "[\"x86_64/stage1/b\"]"]);

    test = test
        .args(["build", "--target", "x86_64"])
        .stdout_contains("built 2 recipe instance(s)");
    test.run();
}
