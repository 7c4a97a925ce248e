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

/// The text of the recipe `serpent new hello --stage stage1` wrote.
fn written(test: &Test) -> String {
    std::fs::read_to_string(test.root().join("recipes/stage1/hello.rhai")).unwrap()
}

#[test]
fn new_offline_takes_the_file_the_store_has_under_the_urls_name() {
    let tarball = source_tarball("hello-2.12", Compression::Gzip);
    let server = Server::start(vec![("/hello-2.12.tar.gz", tarball.clone())]);
    let url = server.url("/hello-2.12.tar.gz");
    let mut test = Test::new();
    let local = test.dir.path().join("hello-2.12.tar.gz");
    std::fs::write(&local, &tarball).unwrap();
    test = test.args(["fetch", "--import", local.to_str().unwrap()]);
    test.run();
    let args = [
        "new",
        "hello",
        "--stage",
        "stage1",
        "--offline",
        "--url",
        &url,
    ];
    test = test.args(args);
    test.run();
    let text = written(&test);
    assert!(text.contains(&sha256(&tarball)), "{text}");
    assert!(text.contains("const VERSION = \"2.12\";"), "{text}");
    let upstream = server.url("/hello-${VERSION}.tar.gz");
    assert!(text.contains(&upstream), "{text}");
    assert_eq!(server.total_hits(), 0);
    // A name the store does not have is refused, saying what to give instead.
    let missing = server.url("/hello-2.13.tar.gz");
    test = test
        .args([
            "new",
            "hi",
            "--stage",
            "stage1",
            "--offline",
            "--url",
            &missing,
        ])
        .status(2)
        .stderr_contains("no file named hello-2.13.tar.gz")
        .stderr_contains("--file PATH");
    test.run();
}

#[test]
fn new_with_sha256_fetches_and_verifies_or_takes_the_store_copy_offline() {
    let tarball = source_tarball("hello-2.12", Compression::Gzip);
    let hash = sha256(&tarball);
    let server = Server::start(vec![("/hello-2.12.tar.gz", tarball.clone())]);
    let url = server.url("/hello-2.12.tar.gz");
    let args = [
        "new", "hello", "--stage", "stage1", "--url", &url, "--sha256",
    ];
    let mut test = Test::new().args(args).args([hash.as_str()]);
    test.run();
    assert!(written(&test).contains(&hash));
    assert_eq!(server.hits("/hello-2.12.tar.gz"), 1);
    // Offline, the store's copy serves; the download is not repeated.
    std::fs::remove_file(test.root().join("recipes/stage1/hello.rhai")).unwrap();
    test = test.args(args).args([hash.as_str(), "--offline"]);
    test.run();
    assert!(written(&test).contains(&hash));
    assert_eq!(server.hits("/hello-2.12.tar.gz"), 1);
    // A hash the file does not have is not written into a recipe.
    let wrong = sha256(b"another file");
    test = test
        .args([
            "new", "hi", "--stage", "stage1", "--url", &url, "--sha256", &wrong,
        ])
        .status(1)
        .stderr_contains(&wrong);
    test.run();
    assert!(!test.root().join("recipes/stage1/hi.rhai").exists());
}

#[test]
fn new_from_a_debian_file_imports_it_and_writes_the_upstream_url() {
    let tarball = source_tarball("hello-2.12", Compression::Gzip);
    let server = Server::start(vec![]);
    let mut test = Test::new();
    let debian = test.dir.path().join("hello_2.12.orig.tar.gz");
    std::fs::write(&debian, &tarball).unwrap();
    let url = server.url("/releases/hello-2.12.tar.gz");
    let file = debian.to_str().unwrap();
    test = test.args(["new", "hello", "--stage", "stage1", "--offline"]);
    test = test.args(["--url", &url, "--file", file]);
    test.run();
    let text = written(&test);
    assert!(text.contains(&sha256(&tarball)), "{text}");
    assert!(text.contains("const VERSION = \"2.12\";"), "{text}");
    assert!(text.contains(&server.url("/releases/hello-${VERSION}.tar.gz")));
    test = test
        .args(["fetch", "recipes/stage1/hello.rhai", "--offline"])
        .stdout_contains("(in the store)");
    test.run();
    // A Debian file URL gives upstream's version, without `.orig`.
    let file_url = format!("file://{file}");
    test = test.args(["new", "hello", "--url", &file_url, "-o", "hello-again.rhai"]);
    test.run();
    let text = std::fs::read_to_string(test.root().join("hello-again.rhai")).unwrap();
    assert!(text.contains("const VERSION = \"2.12\";"), "{text}");
    assert_eq!(server.total_hits(), 0);
}

#[test]
fn api_reference_lists_the_context_and_matches_the_docs() {
    let output = Test::new()
        .args(["api", "--root", crate::test::REPO])
        .stdout_contains("`ctx.srcdir`")
        .stdout_contains("ctx.run(argv: Array)")
        .run();
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
