//! Fetching sources: verification, the store as a cache, mirrors, and offline use.
//!
//! The recipes here declare `unpack: false`, so a source lands in the package byte for byte and
//! these tests do not depend on archive handling.

use std::path::PathBuf;

use crate::server::Server;
use crate::test::{sha256, Output, Test};

const RECIPE: &str = "recipes/stage1/hello.rhai";
const FILE: &str = "hello-1.0.tar.gz";
const DATA: &[u8] = b"the bytes of hello-1.0.tar.gz\n";

/// A recipe whose one source is copied, not unpacked, into share/hello/ of the package.
fn recipe(url: &str, sha: &str) -> String {
    format!(
        r#"const NAME = "hello";
const VERSION = "1.0";
const SOURCES = [#{{ url: "{url}", sha256: "{sha}", unpack: false }}];

fn install(ctx) {{
    ctx.copy(ctx.srcdir, `${{ctx.destdir}}/share/hello`);
}}
"#
    )
}

/// The source as it ends up in the built package.
fn packaged(test: &Test) -> PathBuf {
    test.work()
        .join("x86_64/stage1/pkgs/hello/share/hello")
        .join(FILE)
}

/// The names in the store's entry folder, without the per-entry lock files.
fn store_entries(test: &Test) -> Vec<String> {
    let dir = test.store().join("sha256");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".lock"))
        .collect();
    names.sort();
    names
}

/// stderr with temporary paths and the test server's address replaced.
fn filtered(output: &Output, server: &Server) -> String {
    output.stderr_filtered().replace(&server.base, "[SERVER]")
}

#[test]
fn fetch_verifies_stores_and_then_uses_the_store() {
    let path = format!("/dist/{FILE}");
    let server = Server::start(vec![(path.as_str(), DATA.to_vec())]);
    let sha = sha256(DATA);
    let mut test = Test::new()
        .file(RECIPE, recipe(&server.url(&path), &sha))
        .args(["fetch", RECIPE])
        .stdout_contains(&sha)
        .stdout_contains("from upstream");

    test.run();
    assert_eq!(server.hits(&path), 1);
    let entry = test.store().join("sha256").join(&sha);
    assert_eq!(std::fs::read(&entry).unwrap(), DATA);
    assert_eq!(store_entries(&test), vec![sha.clone()]);

    test = test.args(["fetch", RECIPE]).stdout_contains("in the store");
    test.run();
    assert_eq!(server.hits(&path), 1, "the second fetch downloaded again");
    assert_eq!(std::fs::read(&entry).unwrap(), DATA);
}

#[test]
fn run_uses_a_source_fetch_put_in_the_store() {
    let path = format!("/dist/{FILE}");
    let server = Server::start(vec![(path.as_str(), DATA.to_vec())]);
    let mut test = Test::new()
        .file(RECIPE, recipe(&server.url(&path), &sha256(DATA)))
        .args(["fetch", RECIPE]);
    test.run();
    test = test.args(["run", RECIPE, "--target", "x86_64"]);
    test.run();
    assert_eq!(server.hits(&path), 1);
    assert_eq!(std::fs::read(packaged(&test)).unwrap(), DATA);
}

#[test]
fn checksum_mismatch_is_refused_and_nothing_is_stored() {
    let path = format!("/dist/{FILE}");
    let server = Server::start(vec![(path.as_str(), DATA.to_vec())]);
    let expected = sha256(b"what the recipe author downloaded\n");
    let actual = sha256(DATA);
    let url = server.url(&path);
    let mut test = Test::new()
        .file(RECIPE, recipe(&url, &expected))
        .args(["fetch", RECIPE])
        .status(1)
        .stderr_contains(&url)
        .stderr_contains(&expected)
        .stderr_contains(&actual);

    let output = test.run();
    assert_eq!(server.hits(&path), 1);
    assert!(!test.store().join("sha256").join(&expected).exists());
    assert!(!test.store().join("sha256").join(&actual).exists());
    assert_eq!(
        store_entries(&test),
        Vec::<String>::new(),
        "a temporary file or entry was left"
    );
    insta::assert_snapshot!("checksum_mismatch", filtered(&output, &server));
}

#[test]
fn mirrors_are_tried_in_order_before_the_source_url() {
    let sha = sha256(DATA);
    // Nothing is served: the source URL and the first mirror both answer 404.
    let server = Server::start(Vec::new());
    let upstream = format!("/upstream/{FILE}");
    let test = Test::new();
    let folder = test.dir.path().join("distfiles");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join(FILE), DATA).unwrap();
    let mut test = test
        .file(RECIPE, recipe(&server.url(&upstream), &sha))
        .args([
            "--mirror".to_string(),
            server.url("/mirror"),
            "--mirror".to_string(),
            format!("file://{}", folder.display()),
            "run".to_string(),
            RECIPE.to_string(),
            "--target".to_string(),
            "x86_64".to_string(),
        ]);

    test.run();
    assert_eq!(server.hits(&format!("/mirror/{FILE}")), 1);
    assert_eq!(server.hits(&format!("/mirror/sha256/{sha}")), 1);
    assert_eq!(
        server.hits(&upstream),
        0,
        "the source URL was tried although a mirror had the file"
    );
    assert_eq!(
        std::fs::read(test.store().join("sha256").join(&sha)).unwrap(),
        DATA
    );
    assert_eq!(std::fs::read(packaged(&test)).unwrap(), DATA);
}

#[test]
fn source_url_is_used_when_no_mirror_has_the_file() {
    let sha = sha256(DATA);
    let upstream = format!("/upstream/{FILE}");
    let server = Server::start(vec![(upstream.as_str(), DATA.to_vec())]);
    let test = Test::new();
    let empty = test.dir.path().join("empty-mirror");
    std::fs::create_dir_all(&empty).unwrap();
    let mut test = test
        .file(RECIPE, recipe(&server.url(&upstream), &sha))
        .args([
            "--mirror".to_string(),
            server.url("/mirror"),
            "--mirror".to_string(),
            format!("file://{}", empty.display()),
            "run".to_string(),
            RECIPE.to_string(),
            "--target".to_string(),
            "x86_64".to_string(),
        ]);

    test.run();
    assert_eq!(server.hits(&format!("/mirror/{FILE}")), 1);
    assert_eq!(server.hits(&upstream), 1);
    assert_eq!(std::fs::read(packaged(&test)).unwrap(), DATA);
}

#[test]
fn offline_without_the_file_says_how_to_import_it() {
    let path = format!("/dist/{FILE}");
    let server = Server::start(vec![(path.as_str(), DATA.to_vec())]);
    let mut test = Test::new()
        .file(RECIPE, recipe(&server.url(&path), &sha256(DATA)))
        .args(["--offline", "run", RECIPE, "--target", "x86_64"])
        .status(1)
        .stderr_contains("not in the source store")
        .stderr_contains("serpent fetch --import FILE");

    let output = test.run();
    assert_eq!(server.hits(&path), 0, "--offline used the network");
    assert!(!test.work().join("x86_64/stage1/pkgs/hello").exists());
    assert!(!test
        .work()
        .join("x86_64/stage1/records/hello.json")
        .exists());
    insta::assert_snapshot!("offline_not_in_store", filtered(&output, &server));
}

#[test]
fn offline_run_uses_an_imported_file() {
    let path = format!("/dist/{FILE}");
    let server = Server::start(vec![(path.as_str(), DATA.to_vec())]);
    let sha = sha256(DATA);
    let test = Test::new();
    let download = test.dir.path().join(FILE);
    std::fs::write(&download, DATA).unwrap();
    let mut test = test
        .file(RECIPE, recipe(&server.url(&path), &sha))
        .args([
            "fetch".to_string(),
            "--import".to_string(),
            download.display().to_string(),
        ])
        .stdout_contains(&sha);

    test.run();
    assert_eq!(
        std::fs::read(test.store().join("sha256").join(&sha)).unwrap(),
        DATA
    );

    test = test.args(["--offline", "run", RECIPE, "--target", "x86_64"]);
    test.run();
    assert_eq!(server.hits(&path), 0, "--offline used the network");
    assert_eq!(std::fs::read(packaged(&test)).unwrap(), DATA);
    assert!(test
        .work()
        .join("x86_64/stage1/records/hello.json")
        .is_file());
}

#[test]
fn mirrors_from_the_config_file_are_used_and_a_bad_config_is_named() {
    let sha = sha256(DATA);
    let server = Server::start(Vec::new());
    let upstream = format!("/upstream/{FILE}");
    let test = Test::new();
    let folder = test.dir.path().join("distfiles");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join(FILE), DATA).unwrap();
    let config = test.dir.path().join("config/serpent");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("config.toml"),
        format!("mirrors = [\"file://{}\"]\n", folder.display()),
    )
    .unwrap();
    let mut test = test
        .file(RECIPE, recipe(&server.url(&upstream), &sha))
        .args(["run", RECIPE, "--target", "x86_64"]);
    test.run();
    assert_eq!(
        server.hits(&upstream),
        0,
        "the config file's mirror was not used"
    );
    assert_eq!(std::fs::read(packaged(&test)).unwrap(), DATA);

    std::fs::write(config.join("config.toml"), "mirors = []\n").unwrap();
    test = test
        .args(["plan"])
        .status(2)
        .stderr_contains("bad config file");
    test.run();
}

/// A recipe whose sha256 is wrong, offline, after its file was imported: the error says which
/// hash the recipe expects and where, and that the store has a file of that name under another
/// hash, since importing it again would change nothing.
#[test]
fn offline_with_a_wrong_hash_names_the_file_the_store_has() {
    let test = Test::new();
    let download = test.dir.path().join(FILE);
    std::fs::write(&download, DATA).unwrap();
    let wrong = sha256(b"what the recipe author thought they downloaded\n");
    let url = format!("https://example.invalid/dist/{FILE}");
    let mut test = test.file(RECIPE, recipe(&url, &wrong)).args([
        "fetch".to_string(),
        "--import".to_string(),
        download.display().to_string(),
    ]);
    test.run();

    test = test
        .args(["--offline", "fetch", RECIPE])
        .status(1)
        .stderr_contains(&wrong)
        .stderr_contains(sha256(DATA));
    insta::assert_snapshot!(test.run().stderr_filtered());
}

/// `serpent fetch` with no recipe fetches what the spin would build, with the spin's overrides
/// applied, and goes on past a source it cannot get so that one run names every one missing.
#[test]
fn fetch_without_recipes_gets_the_spins_sources_and_names_every_missing_one() {
    let overridden = b"the spin's own copy of hello\n".to_vec();
    let server = Server::start(vec![
        ("/dist/hello.tar.gz", DATA.to_vec()),
        ("/fork/hello.tar.gz", overridden.clone()),
    ]);
    let missing = |name: &str| {
        format!(
            r#"const NAME = "{name}";
const VERSION = "1";
const SOURCES = [#{{ url: "{}", sha256: "{}", unpack: false }}];
fn install(ctx) {{}}
"#,
            server.url(&format!("/gone/{name}.tar.gz")),
            sha256(name.as_bytes()),
        )
    };
    let spin = format!(
        r#"const TARGETS = ["x86_64"];
const OVERRIDES = #{{ hello: #{{ sources: [#{{ url: "{}", sha256: "{}", unpack: false }}] }} }};
"#,
        server.url("/fork/hello.tar.gz"),
        sha256(&overridden),
    );
    let mut test = Test::new()
        .file(
            RECIPE,
            recipe(&server.url("/dist/hello.tar.gz"), &sha256(DATA)),
        )
        .file("recipes/stage1/first.rhai", missing("first"))
        .file("recipes/stage1/second.rhai", missing("second"))
        .file("recipes/spins/fork.rhai", spin)
        .args(["fetch", "--spin", "fork"])
        .status(1)
        .stdout_contains(sha256(&overridden))
        .stderr_contains("/gone/first.tar.gz")
        .stderr_contains("/gone/second.tar.gz");

    test.run();
    assert_eq!(server.hits("/fork/hello.tar.gz"), 1);
    assert_eq!(
        server.hits("/dist/hello.tar.gz"),
        0,
        "the override was ignored"
    );
    assert_eq!(store_entries(&test), vec![sha256(&overridden)]);
}
