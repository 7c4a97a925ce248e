//! Unpacking sources: every compression, `strip`, `only`, and archives that try to write
//! outside the source tree.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use crate::tarball::{source_tarball, tarball, Compression, Entry};
use crate::test::{copying_recipe, sha256, Test};

const RECIPE: &str = "recipes/stage1/pkg.rhai";

/// A project whose recipe `pkg` unpacks `archive` (kept at dist/<file> in the project, fetched
/// through a file:// URL) with the given extra source keys, and copies the tree into
/// share/pkg/ of its package.
fn project(file: &str, archive: &[u8], source_keys: &str) -> Test {
    project_in(Test::new(), file, archive, source_keys)
}

fn project_in(test: Test, file: &str, archive: &[u8], source_keys: &str) -> Test {
    let url = format!("file://{}", test.root().join("dist").join(file).display());
    let sha = sha256(archive);
    let recipe = if source_keys.is_empty() {
        copying_recipe("pkg", &url, &sha, "")
    } else {
        format!(
            r#"const NAME = "pkg";
const VERSION = "1.0";
const SOURCES = [#{{ url: "{url}", sha256: "{sha}", {source_keys} }}];

fn install(ctx) {{
    ctx.copy(ctx.srcdir, `${{ctx.destdir}}/share/pkg`);
}}
"#
        )
    };
    test.file(&format!("dist/{file}"), archive)
        .file(RECIPE, recipe)
        .args(["run", RECIPE, "--target", "x86_64"])
}

fn package(test: &Test) -> PathBuf {
    test.work().join("x86_64/stage1/pkgs/pkg")
}

fn record(test: &Test) -> PathBuf {
    test.work().join("x86_64/stage1/records/pkg.json")
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn unpacks(compression: Compression, file: &str) {
    let mut test = project(file, &source_tarball("pkg-1.0", compression), "");
    test.run();
    let share = package(&test).join("share/pkg");
    assert_eq!(
        read(share.join("README")),
        "hello from the tarball\n",
        "{compression:?}"
    );
    assert_eq!(
        read(share.join("src/main.c")),
        "int main(void) {\n    return 0;\n}\n",
        "{compression:?}"
    );
    assert!(
        !share.join("pkg-1.0").exists(),
        "strip 1 kept the top directory"
    );
    assert!(record(&test).is_file());
}

#[test]
fn unpacks_a_plain_tarball() {
    unpacks(Compression::None, "pkg-1.0.tar");
}

#[test]
fn unpacks_gzip() {
    unpacks(Compression::Gzip, "pkg-1.0.tar.gz");
}

#[test]
fn unpacks_xz() {
    unpacks(Compression::Xz, "pkg-1.0.tar.xz");
}

#[test]
fn unpacks_bzip2() {
    unpacks(Compression::Bzip2, "pkg-1.0.tar.bz2");
}

#[test]
fn unpacks_zstd() {
    unpacks(Compression::Zstd, "pkg-1.0.tar.zst");
}

#[test]
fn compression_is_detected_from_the_content_not_the_name() {
    // An xz archive under a .tar.gz name, as misnamed mirrors serve them.
    unpacks(Compression::Xz, "pkg-1.0.tar.gz");
}

#[test]
fn strip_zero_keeps_the_top_directory() {
    let mut test = project(
        "pkg-1.0.tar.gz",
        &source_tarball("pkg-1.0", Compression::Gzip),
        "strip: 0",
    );
    test.run();
    let share = package(&test).join("share/pkg");
    assert_eq!(
        read(share.join("pkg-1.0/README")),
        "hello from the tarball\n"
    );
    assert!(!share.join("README").exists());
}

#[test]
fn only_extracts_the_chosen_paths() {
    let archive = tarball(
        &[
            Entry::File("pkg-1.0/README", b"readme\n"),
            Entry::File("pkg-1.0/configure", b"#!/bin/sh\n"),
            Entry::File("pkg-1.0/src/main.c", b"main\n"),
            Entry::File("pkg-1.0/src/util.c", b"util\n"),
            Entry::File("pkg-1.0/docs/manual.txt", b"manual\n"),
        ],
        Compression::Gzip,
    );
    let mut test = project("pkg-1.0.tar.gz", &archive, r#"only: ["README", "src"]"#);
    test.run();
    let share = package(&test).join("share/pkg");
    assert_eq!(read(share.join("README")), "readme\n");
    assert_eq!(read(share.join("src/main.c")), "main\n");
    assert_eq!(read(share.join("src/util.c")), "util\n");
    assert!(
        !share.join("configure").exists(),
        "configure was not chosen"
    );
    assert!(!share.join("docs").exists(), "docs/ was not chosen");
}

/// The error report with its lines joined again: it is wrapped at 100 columns, which can split
/// a long path or entry name at a `/` or `-`.
fn unwrapped(stderr: &str) -> String {
    stderr
        .lines()
        .map(|line| line.trim_start_matches(|c: char| c.is_whitespace() || c == '│'))
        .collect()
}

/// Runs the project's recipe, expects it to fail with exit 1 naming `entry`, and checks that no
/// package or record was made. Returns the test, whose temporary folder lives as long as it.
fn refused(test: Test, entry: &str) -> Test {
    let mut test = test.status(1);
    let output = test.run();
    assert!(
        unwrapped(&output.stderr).contains(entry),
        "the error does not name {entry}:\n{}",
        output.stderr
    );
    assert!(!package(&test).exists(), "a package was made");
    assert!(!record(&test).exists(), "a record was written");
    test
}

// The source tree is <temp>/project/build/x86_64/stage1/tmp/pkg/src: seven `..` from it lead
// to the test's own temporary folder, where the escapes below would land.
const UP_TO_TEMP: &str = "../../../../../../..";

#[test]
fn refuses_an_entry_with_dot_dot() {
    let name = format!("{UP_TO_TEMP}/evil");
    let archive = tarball(
        &[
            Entry::File("pkg-1.0/README", b"fine\n"),
            Entry::File(&name, b"escaped\n"),
        ],
        Compression::Gzip,
    );
    let test = project("pkg-1.0.tar.gz", &archive, "strip: 0");
    let outside = test.dir.path().join("evil");
    let _test = refused(test, &name);
    assert!(!outside.exists(), "{} was written", outside.display());
}

#[test]
fn refuses_a_nested_entry_with_dot_dot() {
    // Still escapes once strip 1 has removed pkg-1.0/.
    let name = format!("pkg-1.0/{UP_TO_TEMP}/evil");
    let archive = tarball(&[Entry::File(&name, b"escaped\n")], Compression::Gzip);
    let test = project("pkg-1.0.tar.gz", &archive, "");
    let outside = test.dir.path().join("evil");
    let _test = refused(test, &name);
    assert!(!outside.exists(), "{} was written", outside.display());
}

#[test]
fn refuses_an_absolute_entry() {
    let test = Test::new();
    let outside = test.dir.path().join("evil-absolute");
    let name = outside.display().to_string();
    assert!(name.starts_with('/') && name.len() < 100, "{name}");
    let archive = tarball(
        &[
            Entry::File("pkg-1.0/README", b"fine\n"),
            Entry::File(&name, b"escaped\n"),
        ],
        Compression::Gzip,
    );
    let _test = refused(
        project_in(test, "pkg-1.0.tar.gz", &archive, "strip: 0"),
        &name,
    );
    assert!(!outside.exists(), "{} was written", outside.display());
}

#[test]
fn refuses_a_symlink_to_an_absolute_path() {
    let test = Test::new();
    let outside = test.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let target = outside.display().to_string();
    let archive = tarball(
        &[
            Entry::Symlink("pkg-1.0/link", &target),
            Entry::File("pkg-1.0/link/evil", b"escaped\n"),
        ],
        Compression::Gzip,
    );
    let _test = refused(
        project_in(test, "pkg-1.0.tar.gz", &archive, ""),
        "pkg-1.0/link",
    );
    assert!(
        !outside.join("evil").exists(),
        "a file was written through the symlink"
    );
}

#[test]
fn refuses_a_symlink_out_of_the_tree() {
    // With strip 1 the link is src/link, so seven `..` lead to the temporary folder.
    let target = format!("{UP_TO_TEMP}/outside");
    let archive = tarball(
        &[
            Entry::Symlink("pkg-1.0/link", &target),
            Entry::File("pkg-1.0/link/evil", b"escaped\n"),
        ],
        Compression::Gzip,
    );
    let test = project("pkg-1.0.tar.gz", &archive, "");
    let outside = test.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let _test = refused(test, "pkg-1.0/link");
    assert!(
        !outside.join("evil").exists(),
        "a file was written through the symlink"
    );
}

#[test]
fn refuses_a_hard_link_out_of_the_tree() {
    // A hard link to `../…` naming an existing file outside, then a regular file of the same
    // name, which would overwrite that file through the link.
    let target = format!("{UP_TO_TEMP}/secret");
    let archive = tarball(
        &[
            Entry::HardLink("pkg-1.0/hard", &target),
            Entry::File("pkg-1.0/hard", b"overwritten\n"),
        ],
        Compression::Gzip,
    );
    let test = project("pkg-1.0.tar.gz", &archive, "strip: 0");
    let secret = test.dir.path().join("secret");
    std::fs::write(&secret, "original\n").unwrap();
    let _test = refused(test, "pkg-1.0/hard");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "original\n");
    assert_eq!(
        std::fs::metadata(&secret).unwrap().nlink(),
        1,
        "a hard link to the file outside was made"
    );
}
