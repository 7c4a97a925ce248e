//! `serpent env` prints what a recipe's phases will get, without building.

use crate::test::Test;

/// An autotools recipe with arguments of its own, and a spin that adds a flag.
fn project() -> Test {
    Test::new()
        .script(
            "recipes/stage1/hello.rhai",
            r#"
            const NAME = "hello";
            const VERSION = "2.12";
            const STYLE = "autotools";
            const DEPENDS = ["greeting"];
            const CONFIGURE_ARGS = ["--disable-nls"];
            "#,
        )
        .script(
            "recipes/stage1/greeting.rhai",
            r#"
            const NAME = "greeting";
            const VERSION = "1";

            fn install(ctx) {
                ctx.write(`${ctx.destdir}/share/greeting`, "hi");
            }
            "#,
        )
        .script(
            "recipes/spins/debug.rhai",
            r#"
            const TARGETS = ["x86_64"];
            const FLAGS = #{ add: #{ cflags: ["-g"] } };
            "#,
        )
}

/// The output with the project's path and the host's PATH taken out, for a snapshot.
fn filtered(stdout: &str, root: &std::path::Path) -> String {
    stdout
        .replace(&*root.to_string_lossy(), "[PROJECT]")
        .lines()
        .filter(|line| !line.trim_start().starts_with("PATH="))
        .map(|line| format!("{line}\n"))
        .collect()
}

#[test]
fn env_prints_the_toolchain_flags_and_commands_a_recipe_gets_without_building() {
    let mut test = project()
        .args([
            "env",
            "recipes/stage1/hello.rhai",
            "--spin",
            "debug",
            "--jobs",
            "2",
        ])
        .stdout_contains("cflags      -O2 -pipe -march=x86-64-v3 -mtune=generic -g")
        .stdout_contains("/build/x86_64/stage1/tmp/hello/src/configure --prefix=/usr")
        .stdout_contains("--host=x86_64-serpent-linux-musl --disable-nls");
    let output = test.run();
    insta::assert_snapshot!(filtered(&output.stdout, &test.root()));
    // Nothing was built, and the scratch folder the phases were followed in is gone.
    let work = test.work();
    assert!(!work.join("x86_64/stage1/records").exists());
    let left: Vec<_> = std::fs::read_dir(&work)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn env_as_json_gives_each_fact_a_field() {
    let mut test = project().args([
        "env",
        "recipes/stage1/hello.rhai",
        "--spin",
        "debug",
        "--format",
        "json",
    ]);
    let output = test.run();
    let shown: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    let hello = &shown[0];
    assert_eq!(hello["id"], "x86_64/stage1/hello");
    assert_eq!(hello["triple"], "x86_64-serpent-linux-musl");
    assert!(hello["flags"]["cflags"].as_str().unwrap().ends_with(" -g"));
    assert_eq!(hello["env"]["CFLAGS"], hello["flags"]["cflags"]);
    assert_eq!(hello["env"]["CC"], hello["tools"]["cc"]);
    assert_eq!(
        hello["depends"],
        serde_json::json!(["x86_64/stage1/greeting"])
    );
    let phases: Vec<&str> = hello["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|command| command[0].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["setup", "build", "install"]);
    let setup = hello["commands"][0][1].as_str().unwrap();
    assert!(
        setup.ends_with(
            "--prefix=/usr --build=x86_64-linux-gnu --host=x86_64-serpent-linux-musl --disable-nls"
        ),
        "{setup}"
    );
    assert!(hello["stopped"].is_null());
}

#[test]
fn env_says_where_following_the_phases_needs_a_build() {
    let mut test = Test::new()
        .script(
            "recipes/stage1/probe.rhai",
            r#"
            const NAME = "probe";
            const VERSION = "1";

            fn setup(ctx) {
                let version = ctx.output(["cc", "-dumpversion"]);
                if version == "" {
                    throw "cc printed no version";
                }
            }

            fn install(ctx) {
                ctx.run(["true"]);
            }
            "#,
        )
        .args(["env", "recipes/stage1/probe.rhai", "--target", "x86_64"])
        .stdout_contains("setup: cc -dumpversion")
        .stdout_contains("(not followed further without building: setup: cc printed no version");
    test.run();
}
