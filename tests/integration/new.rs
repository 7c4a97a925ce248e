use crate::server::Server;
use crate::tarball::{source_tarball, Compression};
use crate::test::{sha256, Test};

#[test]
fn new_recipe_passes_check() {
    let mut test = Test::new().args(["new", "hello", "--stage", "stage1"]);
    test.run();
    test = test.args(["check"]).stdout_contains("checked 1 recipe(s)");
    test.run();
}

#[test]
fn new_recipe_from_url_pins_the_hash_and_builds_its_sources() {
    let tarball = source_tarball("hello-2.12", Compression::Gzip);
    let server = Server::start(vec![("/hello-2.12.tar.gz", tarball.clone())]);
    let url = server.url("/hello-2.12.tar.gz");
    let mut test = Test::new().args(["new", "hello", "--stage", "stage1", "--url", &url]);
    test.run();
    let text = std::fs::read_to_string(test.root().join("recipes/stage1/hello.rhai")).unwrap();
    assert!(text.contains(&sha256(&tarball)), "{text}");
    assert!(text.contains("const VERSION = \"2.12\";"), "{text}");
    test = test.args(["check"]).stdout_contains("no problems");
    test.run();
    // The file is in the store already: fetching it again needs no download.
    test = test.args(["fetch", "recipes/stage1/hello.rhai"]);
    test.run();
    assert_eq!(server.hits("/hello-2.12.tar.gz"), 1);
}

#[test]
fn api_reference_lists_the_context_and_matches_the_docs() {
    let output = Test::new().args(["api", "--root", crate::test::REPO]).run();
    assert!(output.stdout.contains("`ctx.srcdir`"));
    assert!(output.stdout.contains("ctx.run(argv: Array)"));
    let docs = std::fs::read_to_string(std::path::Path::new(crate::test::REPO).join("docs/api.md"))
        .unwrap();
    assert_eq!(
        output.stdout, docs,
        "docs/api.md is stale: run `serpent api > docs/api.md`"
    );
}

#[test]
fn api_definitions_are_written() {
    let mut test = Test::new();
    let dir = test.dir.path().join("defs");
    test = test.args(["api", "--definitions", dir.to_str().unwrap()]);
    test.run();
    let all: String = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect();
    assert!(all.contains("fn run("), "{all}");
}
