//! The recipe file functions (`ctx.write`, `ctx.replace`, `ctx.copy`, `ctx.symlink`,
//! `ctx.remove`, `ctx.mkdir`) against links a build planted in its source tree.

use std::path::Path;

use crate::test::Test;

/// From the source tree (`project/build/x86_64/stage1/tmp/pkg/src`) up to the test's folder.
const CLIMB_TO_TEST_DIR: usize = 7;

/// A recipe whose install phase plants `links` (name, target) in its source tree with `ln -s`,
/// in that order, then runs `call`.
fn recipe(links: &[(&str, String)], call: &str) -> String {
    let plant: String = links
        .iter()
        .map(|(name, target)| {
            format!(
                r#"    ctx.run(["ln", "-s", {target:?}, {name:?}], #{{ cwd: ctx.srcdir }});
"#
            )
        })
        .collect();
    format!(
        r#"const NAME = "pkg";
const VERSION = "1";

fn install(ctx) {{
{plant}    {call};
    ctx.write(`${{ctx.destdir}}/done`, "");
}}
"#
    )
}

/// `a -> .` and `b`, which reads as a folder below `a` but on disk climbs `a/` `depth` times
/// (each is the source tree itself) and then out to the test's `host` folder.
fn chain(depth: usize, link_first: bool) -> Vec<(&'static str, String)> {
    let b = format!(
        "{}{}host",
        "a/".repeat(depth),
        "../".repeat(CLIMB_TO_TEST_DIR)
    );
    let (a, b) = (("a", ".".to_string()), ("b", b));
    if link_first {
        vec![b, a]
    } else {
        vec![a, b]
    }
}

/// Every entry of `dir` and its content, to see that nothing there changed.
fn contents(dir: &Path) -> Vec<(String, String)> {
    let mut entries: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap_or_default())
        })
        .collect();
    entries.sort();
    entries
}

/// A recipe that ran and failed, with the `host` folder beside its project.
struct Attempt {
    test: Test,
}

impl Attempt {
    /// Runs the recipe, which must fail with an error naming the file and the link, with a
    /// `host` folder beside the project holding `victim`.
    fn run(recipe: String, file: &str, link: &str) -> Attempt {
        let test = Test::new().file("recipes/stage1/pkg.rhai", recipe);
        std::fs::create_dir_all(test.dir.path().join("host")).unwrap();
        std::fs::write(test.dir.path().join("host/victim"), "the host's").unwrap();
        let mut test = test
            .args(["run", "recipes/stage1/pkg.rhai", "--target", "x86_64"])
            .status(1)
            .stderr_contains(file)
            .stderr_contains(link);
        test.run();
        Attempt { test }
    }

    fn host_is_untouched(&self) -> bool {
        contents(&self.test.dir.path().join("host"))
            == [("victim".to_string(), "the host's".to_string())]
    }
}

/// The absolute path of the test's `host` folder, computed in the shell from the source tree.
const PLANT_ABSOLUTE: &str =
    r#"ctx.shell("ln -s \"$(cd ../../../../../../.. && pwd)/host\" abs", #{ cwd: ctx.srcdir })"#;

const CALLS: [(&str, &str); 6] = [
    ("write", "ctx.write(`${ctx.srcdir}/b/victim`, \"written\")"),
    ("replace", "ctx.replace(`${ctx.srcdir}/b/victim`, \"host\", \"recipe\")"),
    (
        "copy",
        "ctx.write(`${ctx.builddir}/new`, \"copied\");\n    ctx.copy(`${ctx.builddir}/new`, `${ctx.srcdir}/b/victim`)",
    ),
    ("symlink", "ctx.symlink(\"elsewhere\", `${ctx.srcdir}/b/victim`)"),
    ("remove", "ctx.remove(`${ctx.srcdir}/b/victim`)"),
    ("mkdir", "ctx.mkdir(`${ctx.srcdir}/b/made/deeper`)"),
];

#[test]
fn no_file_function_writes_through_a_link_chain_in_the_source_tree() {
    for (index, (function, call)) in CALLS.iter().enumerate() {
        let (depth, link_first) = (index % 3 + 1, index % 2 == 0);
        let attempt = Attempt::run(
            recipe(&chain(depth, link_first), call),
            "src/b/",
            "symlink x86_64/stage1/tmp/pkg/src/b -> a/",
        );
        assert!(
            attempt.host_is_untouched(),
            "ctx.{function} changed the host's folder through the chain"
        );
    }
}

#[test]
fn no_file_function_writes_through_an_absolute_link() {
    for (function, call) in CALLS {
        let call = format!("{PLANT_ABSOLUTE};\n    {}", call.replace("/b/", "/abs/"));
        let attempt = Attempt::run(
            recipe(&[], &call),
            "src/abs/",
            "symlink x86_64/stage1/tmp/pkg/src/abs -> /",
        );
        assert!(
            attempt.host_is_untouched(),
            "ctx.{function} changed the host's folder through an absolute link"
        );
    }
}

#[test]
fn copying_a_tree_copies_its_links_and_never_what_they_point_at() {
    let recipe = format!(
        r#"const NAME = "pkg";
const VERSION = "1";

fn install(ctx) {{
    {PLANT_ABSOLUTE};
    ctx.shell("mkdir tree && mv abs tree/escape && ln -s ../.. tree/up", #{{ cwd: ctx.srcdir }});
    ctx.copy(`${{ctx.srcdir}}/tree`, `${{ctx.destdir}}/share/tree`);
}}
"#
    );
    let test = Test::new().file("recipes/stage1/pkg.rhai", recipe);
    let host = test.dir.path().join("host");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("victim"), "the host's").unwrap();
    let mut test = test.args(["run", "recipes/stage1/pkg.rhai", "--target", "x86_64"]);
    test.run();
    let copied = test.work().join("x86_64/stage1/pkgs/pkg/share/tree");
    assert_eq!(std::fs::read_link(copied.join("escape")).unwrap(), host);
    assert_eq!(
        std::fs::read_link(copied.join("up")).unwrap(),
        Path::new("../..")
    );
    assert_eq!(
        contents(&host),
        [("victim".to_string(), "the host's".to_string())]
    );
}
