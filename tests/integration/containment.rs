//! Writes that an earlier input tries to carry outside the work dir through links it planted.

use crate::tarball::{tarball, Compression, Entry};
use crate::test::{sha256, Test};

/// From the source tree (`project/build/x86_64/stage1/tmp/pkg/src`) up to the test's folder.
const CLIMB_TO_TEST_DIR: usize = 7;

#[test]
fn a_later_source_cannot_unpack_through_a_link_chain_an_earlier_one_planted() {
    // Read as text, `b` stays inside (a/a/…/../outside is a/outside); on disk `a` is `.`, so
    // every `a/` is the source tree itself and each `..` climbs out of it.
    let target = format!(
        "{}{}outside",
        "a/".repeat(CLIMB_TO_TEST_DIR + 1),
        "../".repeat(CLIMB_TO_TEST_DIR)
    );
    let links = tarball(
        &[Entry::Symlink("b", &target), Entry::Symlink("a", ".")],
        Compression::None,
    );
    let payload = tarball(
        &[Entry::File("evil", b"written outside\n")],
        Compression::None,
    );
    let test = Test::new()
        .file("dist/links.tar", &links)
        .file("dist/payload.tar", &payload);
    let url = |file: &str| format!("file://{}", test.root().join("dist").join(file).display());
    let recipe = format!(
        r#"const NAME = "pkg";
const VERSION = "1.0";
const SOURCES = [
    #{{ url: "{}", sha256: "{}", strip: 0 }},
    #{{ url: "{}", sha256: "{}", strip: 0, dest: "b" }},
];

fn install(ctx) {{
    ctx.write(`${{ctx.destdir}}/done`, "");
}}
"#,
        url("links.tar"),
        sha256(&links),
        url("payload.tar"),
        sha256(&payload),
    );
    let outside = test.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let mut test = test
        .file("recipes/stage1/pkg.rhai", recipe)
        .args(["run", "recipes/stage1/pkg.rhai", "--target", "x86_64"])
        .status(1);
    let output = test.run();
    assert!(
        std::fs::read_dir(&outside).unwrap().next().is_none(),
        "a file was written outside the work dir"
    );
    // The unpacker refuses the chain as it finishes the first archive; were it to let one
    // through, resolving the second source's dest would refuse it. Either names the link.
    assert!(
        output.stderr.contains(r#"through the symlink "a" -> ".""#)
            || output.stderr.contains("through the symlink b -> a/a/"),
        "the error does not name the link:\n{}",
        output.stderr
    );
}
