//! Unpacking sources: every compression, `strip`, `only`, and archives that try to write
//! outside the source tree.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use crate::tarball::{
    gnu_extract, gnu_tar, header_of, listing, patch_header, source_tarball, tarball, Compression,
    Entry,
};
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

// ---------------------------------------------------------------------------------------------
// Archives as GNU tar writes them: serpent must give the tree GNU tar gives.

/// A sandbox folder holding the files an archive is made from (`src`), GNU tar's extraction
/// (`gnu`) and serpent's (`serpent`).
struct Compare {
    test: Test,
}

impl Compare {
    fn new() -> Compare {
        let compare = Compare { test: Test::new() };
        std::fs::create_dir_all(compare.src()).unwrap();
        compare
    }

    fn dir(&self) -> PathBuf {
        self.test.dir.path().join("sandbox")
    }

    fn src(&self) -> PathBuf {
        self.dir().join("src")
    }

    fn archive(&self) -> PathBuf {
        self.dir().join("archive.tar")
    }

    /// Archives `members` of src with GNU tar and `options`.
    fn pack(&self, options: &[&str], members: &[&str]) -> Vec<u8> {
        let archive = self.archive();
        let mut args = vec!["-c", "-f", archive.to_str().unwrap()];
        args.extend(options);
        args.extend(members);
        let (ok, said) = gnu_tar(&self.src(), &args);
        assert!(ok, "GNU tar {args:?} failed: {said}");
        std::fs::read(&archive).unwrap()
    }

    /// Runs `serpent unpack` on `archive` into a fresh folder, expecting `status`.
    fn serpent(&mut self, archive: &[u8], status: i32) -> (PathBuf, String) {
        let dest = self.dir().join("serpent");
        if dest.exists() {
            std::fs::remove_dir_all(&dest).unwrap();
        }
        std::fs::write(self.archive(), archive).unwrap();
        let args = [
            "unpack".to_string(),
            self.archive().display().to_string(),
            dest.display().to_string(),
        ];
        let output = self.test_with(args, status);
        (dest, unwrapped(&output))
    }

    fn test_with(&mut self, args: [String; 3], status: i32) -> String {
        let test = std::mem::replace(&mut self.test, Test::new());
        let mut test = test.args(args).status(status);
        let stderr = test.run().stderr;
        self.test = test;
        stderr
    }

    /// Extracts `archive` with GNU tar and with serpent and checks both trees are the same.
    fn same_as_gnu_tar(&mut self, archive: &[u8], what: &str) -> PathBuf {
        let gnu = self.dir().join("gnu");
        if gnu.exists() {
            std::fs::remove_dir_all(&gnu).unwrap();
        }
        std::fs::write(self.archive(), archive).unwrap();
        assert!(
            gnu_extract(&self.archive(), &gnu),
            "GNU tar cannot extract {what}"
        );
        let (dest, _) = self.serpent(archive, 0);
        assert_eq!(
            listing(&dest),
            listing(&gnu),
            "{what}: serpent's tree differs from GNU tar's"
        );
        dest
    }
}

fn write(path: PathBuf, content: &[u8], mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, content).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// What source trees hold: files of several modes, an empty folder, symlinks to a file and a
/// folder, a hard link, and (when `long`) names longer than the 100 bytes of a tar header.
fn source_tree(src: &std::path::Path, long: bool) -> Vec<String> {
    write(src.join("pkg/README"), b"read me\n", 0o644);
    write(src.join("pkg/configure"), b"#!/bin/sh\nexit 0\n", 0o755);
    write(src.join("pkg/src/private.h"), b"#define X 1\n", 0o600);
    std::fs::create_dir_all(src.join("pkg/empty")).unwrap();
    std::os::unix::fs::symlink("README", src.join("pkg/LICENSE")).unwrap();
    std::os::unix::fs::symlink("../src", src.join("pkg/empty/../include")).unwrap();
    std::fs::hard_link(src.join("pkg/README"), src.join("pkg/README.hard")).unwrap();
    if long {
        let deep = format!("pkg/{}/{}", "d".repeat(120), "f".repeat(150));
        write(src.join(&deep), b"deep\n", 0o644);
        std::os::unix::fs::symlink(format!("../{}", "t".repeat(120)), src.join("pkg/long-link"))
            .unwrap();
    }
    vec!["pkg".to_string()]
}

#[test]
fn every_tar_format_gives_gnu_tars_tree() {
    for (format, long) in [
        ("gnu", true),
        ("oldgnu", true),
        ("posix", true),
        ("ustar", false),
        ("v7", false),
    ] {
        let mut compare = Compare::new();
        let members = source_tree(&compare.src(), long);
        let members: Vec<&str> = members.iter().map(String::as_str).collect();
        let archive = compare.pack(&[&format!("--format={format}")], &members);
        compare.same_as_gnu_tar(&archive, format);
    }
}

/// A 3 MB file with data at 1 MB and at its end, holes elsewhere.
fn sparse_file(path: &std::path::Path) -> Vec<u8> {
    let mut content = vec![0u8; 3 << 20];
    content[1 << 20..(1 << 20) + 5].copy_from_slice(b"hello");
    let end = content.len() - 3;
    content[end..].copy_from_slice(b"end");
    let file = std::fs::File::create(path).unwrap();
    use std::os::unix::fs::FileExt;
    file.set_len(content.len() as u64).unwrap();
    file.write_all_at(b"hello", 1 << 20).unwrap();
    file.write_all_at(b"end", end as u64).unwrap();
    content
}

#[test]
fn sparse_files_in_every_format_are_whole_files_at_their_own_path() {
    for options in [
        &["--format=posix", "--sparse", "--sparse-version=0.0"][..],
        &["--format=posix", "--sparse", "--sparse-version=0.1"],
        &["--format=posix", "--sparse", "--sparse-version=1.0"],
        &["--format=gnu", "--sparse"],
    ] {
        let mut compare = Compare::new();
        std::fs::create_dir_all(compare.src().join("pkg/data")).unwrap();
        let content = sparse_file(&compare.src().join("pkg/data/disk.img"));
        write(compare.src().join("pkg/data/after"), b"after\n", 0o644);
        let archive = compare.pack(options, &["pkg"]);
        let what = options.join(" ");
        let dest = compare.same_as_gnu_tar(&archive, &what);
        let unpacked = std::fs::read(dest.join("pkg/data/disk.img")).unwrap();
        assert!(
            unpacked == content,
            "{what}: the sparse file's content is wrong"
        );
    }
}

#[test]
fn a_v7_folder_with_a_size_does_not_swallow_the_next_member() {
    let mut compare = Compare::new();
    write(compare.src().join("pkg/src/main.c"), b"int main;\n", 0o644);
    write(compare.src().join("pkg/zz-last"), b"last\n", 0o644);
    let mut archive = compare.pack(
        &["--format=v7", "--no-recursion"],
        &["pkg/", "pkg/src/", "pkg/src/main.c", "pkg/zz-last"],
    );
    // Old tools wrote a folder's st_size into its header; GNU tar ignores it.
    let folder = header_of(&archive, "pkg/src/");
    patch_header(&mut archive, folder, 124..136, 4096);
    let dest = compare.same_as_gnu_tar(&archive, "v7 folder with a size");
    assert!(dest.join("pkg/src/main.c").is_file());
}

#[test]
fn a_hard_link_with_its_files_size_is_a_link_not_data() {
    let mut compare = Compare::new();
    write(compare.src().join("pkg/a"), b"shared content\n", 0o644);
    std::fs::hard_link(compare.src().join("pkg/a"), compare.src().join("pkg/b")).unwrap();
    write(compare.src().join("pkg/c"), b"after the link\n", 0o644);
    let mut archive = compare.pack(
        &["--format=posix", "--no-recursion"],
        &["pkg", "pkg/a", "pkg/b", "pkg/c"],
    );
    // pax writers other than GNU tar repeat the file's size in a hard link's header and store
    // no data after it.
    let link = header_of(&archive, "pkg/b");
    patch_header(&mut archive, link, 124..136, 15);
    compare.same_as_gnu_tar(&archive, "hard link with a size");
}

#[test]
fn a_gnu_volume_label_is_skipped() {
    let mut compare = Compare::new();
    source_tree(&compare.src(), false);
    let archive = compare.pack(&["--format=gnu", "--label=Release 1.0 of pkg"], &["pkg"]);
    compare.same_as_gnu_tar(&archive, "labelled archive");
}

#[test]
fn out_of_range_times_are_kept_as_gnu_tar_keeps_them() {
    for format in ["gnu", "posix"] {
        let mut compare = Compare::new();
        write(compare.src().join("pkg/old"), b"old\n", 0o644);
        write(compare.src().join("pkg/future"), b"future\n", 0o644);
        for (name, date) in [("old", "1900-01-01"), ("future", "2600-01-01")] {
            let path = compare.src().join("pkg").join(name);
            let status = std::process::Command::new("touch")
                .args(["-d", date])
                .arg(&path)
                .status()
                .unwrap();
            assert!(status.success());
        }
        let archive = compare.pack(&[&format!("--format={format}")], &["pkg"]);
        let dest = compare.same_as_gnu_tar(&archive, format);
        let gnu = compare.dir().join("gnu");
        for name in ["old", "future"] {
            let mtime = |root: &PathBuf| {
                std::fs::metadata(root.join("pkg").join(name))
                    .unwrap()
                    .mtime()
            };
            assert_eq!(
                mtime(&dest),
                mtime(&gnu),
                "{format}: {name}'s time differs from GNU tar's"
            );
        }
    }
}

#[test]
fn a_truncated_member_is_named() {
    let mut compare = Compare::new();
    write(compare.src().join("pkg/small"), b"small\n", 0o644);
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    write(compare.src().join("pkg/big.bin"), &big, 0o644);
    let archive = compare.pack(
        &["--format=posix", "--no-recursion"],
        &["pkg", "pkg/small", "pkg/big.bin"],
    );
    let cut = header_of(&archive, "pkg/big.bin") + 512 + 50_000;
    let (_, stderr) = compare.serpent(&archive[..cut], 1);
    assert!(
        stderr.contains("pkg/big.bin"),
        "the error does not name the member:\n{stderr}"
    );
}

#[test]
fn a_fifo_is_refused_by_name() {
    let mut compare = Compare::new();
    write(compare.src().join("pkg/README"), b"read me\n", 0o644);
    nix::unistd::mkfifo(
        &compare.src().join("pkg/control"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    let archive = compare.pack(&["--format=gnu"], &["pkg"]);
    let (_, stderr) = compare.serpent(&archive, 1);
    assert!(
        stderr.contains(r#"entry "pkg/control" is refused"#) && stderr.contains("fifo"),
        "the error does not name the fifo:\n{stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// Hostile archives: chains of symlinks, each harmless on its own, that lead out of the tree.

/// One hostile archive: its members, and what the refusal must name.
struct Hostile {
    what: String,
    members: Vec<(String, Member)>,
    entry: String,
    link: String,
}

enum Member {
    File,
    Symlink(String),
    HardLink(String),
}

/// `a -> .` and a link `b` whose target goes through `a` `depth` times and then one folder
/// higher than the spelling says, to `outside` next to the destination; in both orders, alone
/// and with a later file written through `b` and a hard link to a file behind `b`.
fn self_link_chains(corpus: &mut Vec<Hostile>) {
    for depth in 1..=4 {
        let through = "a/".repeat(depth);
        for link_first in [true, false] {
            let order = if link_first {
                "link first"
            } else {
                "chain first"
            };
            let mut members = [
                ("a".to_string(), Member::Symlink(".".into())),
                (
                    "b".to_string(),
                    Member::Symlink(format!("{through}../outside")),
                ),
            ];
            if !link_first {
                members.reverse();
            }
            let what = format!("a -> ., b through a {depth} times, {order}");
            corpus.push(Hostile {
                what: what.clone(),
                members: members.iter().map(clone_member).collect(),
                entry: "b".into(),
                link: "a".into(),
            });
            let mut writing = members.iter().map(clone_member).collect::<Vec<_>>();
            writing.push(("b/evil".into(), Member::File));
            corpus.push(Hostile {
                what: format!("{what}, then b/evil"),
                members: writing,
                entry: "b/evil".into(),
                link: "b".into(),
            });
            let mut linking = members.iter().map(clone_member).collect::<Vec<_>>();
            linking.push(("h".into(), Member::HardLink("b/secret".into())));
            corpus.push(Hostile {
                what: format!("{what}, then h => b/secret"),
                members: linking,
                entry: "h".into(),
                link: "b".into(),
            });
        }
    }
}

/// Distinct links each pointing at the one before (`l1 -> .`, `l2 -> l1/l1`, ...), then `b`
/// climbing out of the last, in both orders; and links inside a folder (`d/up -> ..`).
fn longer_chains(corpus: &mut Vec<Hostile>) {
    for length in 2..=4 {
        let mut members = vec![("l1".to_string(), Member::Symlink(".".into()))];
        for i in 2..=length {
            let before = format!("l{}", i - 1);
            members.push((
                format!("l{i}"),
                Member::Symlink(format!("{before}/{before}")),
            ));
        }
        members.push(("b".into(), Member::Symlink(format!("l{length}/../outside"))));
        for reversed in [false, true] {
            let mut members: Vec<_> = members.iter().map(clone_member).collect();
            if reversed {
                members.reverse();
            }
            corpus.push(Hostile {
                what: format!("chain of {length} links, reversed: {reversed}"),
                members,
                entry: "b".into(),
                link: format!("l{length}"),
            });
        }
    }
    for reversed in [false, true] {
        let mut members = vec![
            ("d/keep".to_string(), Member::File),
            ("d/up".to_string(), Member::Symlink("..".into())),
            (
                "b".to_string(),
                Member::Symlink("d/up/d/up/../outside".into()),
            ),
        ];
        if reversed {
            members.reverse();
        }
        corpus.push(Hostile {
            what: format!("d/up -> .., reversed: {reversed}"),
            members,
            entry: "b".into(),
            link: "d/up".into(),
        });
    }
    // A link that dangles when it is checked, through a folder still to be made.
    corpus.push(Hostile {
        what: "b -> a/m/../../outside before a -> .".into(),
        members: vec![
            ("b".into(), Member::Symlink("a/m/../../outside".into())),
            ("a".into(), Member::Symlink(".".into())),
        ],
        entry: "b".into(),
        link: "a".into(),
    });
}

fn clone_member((name, member): &(String, Member)) -> (String, Member) {
    let member = match member {
        Member::File => Member::File,
        Member::Symlink(target) => Member::Symlink(target.clone()),
        Member::HardLink(target) => Member::HardLink(target.clone()),
    };
    (name.clone(), member)
}

fn hostile_archive(members: &[(String, Member)]) -> Vec<u8> {
    let entries: Vec<Entry> = members
        .iter()
        .map(|(name, member)| match member {
            Member::File => Entry::File(name, b"planted\n"),
            Member::Symlink(target) => Entry::Symlink(name, target),
            Member::HardLink(target) => Entry::HardLink(name, target),
        })
        .collect();
    tarball(&entries, Compression::None)
}

/// Every file below `root` (links not followed), for a before/after comparison.
fn everything_below(root: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.symlink_metadata().unwrap().is_dir() {
                pending.push(path.clone());
            }
            found.push(path.display().to_string());
        }
    }
    found.sort();
    found
}

#[test]
fn symlink_chains_never_lead_out_and_are_refused_by_name() {
    let mut corpus = Vec::new();
    self_link_chains(&mut corpus);
    longer_chains(&mut corpus);
    for hostile in corpus {
        let mut compare = Compare::new();
        let sandbox = compare.dir();
        std::fs::create_dir_all(sandbox.join("outside")).unwrap();
        std::fs::write(sandbox.join("outside/secret"), "secret\n").unwrap();
        std::fs::write(compare.archive(), hostile_archive(&hostile.members)).unwrap();
        let temp = compare.test.dir.path().to_path_buf();
        let before: Vec<String> = everything_below(&temp)
            .into_iter()
            .filter(|path| !path.contains("/sandbox/serpent"))
            .collect();
        let (dest, stderr) = compare.serpent(&hostile_archive(&hostile.members), 1);
        let what = &hostile.what;
        let names = |name: &str| stderr.contains(&format!("\"{name}\""));
        assert!(
            names(&hostile.entry) && names(&hostile.link),
            "{what}: the refusal does not name entry {} and link {}:\n{stderr}",
            hostile.entry,
            hostile.link
        );
        let after: Vec<String> = everything_below(&temp)
            .into_iter()
            .filter(|path| !path.starts_with(&dest.display().to_string()))
            .collect();
        assert_eq!(
            after, before,
            "{what}: something was written outside the destination"
        );
        let secret = sandbox.join("outside/secret");
        let links = std::fs::metadata(secret).unwrap().nlink();
        assert_eq!(links, 1, "{what}: the secret outside was linked");
        for path in everything_below(&dest) {
            if let Ok(real) = std::fs::canonicalize(&path) {
                assert!(
                    real.starts_with(dest.canonicalize().unwrap()),
                    "{what}: {path} was left leading to {}",
                    real.display()
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Property: random trees with random links, archived by GNU tar in a random order, unpack to
// GNU tar's tree, or are refused because a link leads out; nothing is written outside.

mod property {
    use std::collections::VecDeque;
    use std::path::{Path, PathBuf};

    use proptest::prelude::*;

    use crate::tarball::{gnu_extract, gnu_tar, listing};

    const NAMES: [&str; 3] = ["a", "b", "c"];

    /// What one generated path becomes.
    #[derive(Debug, Clone)]
    enum Node {
        Dir,
        File(u8, u32),
        /// A relative target made of these components, or an absolute one.
        Symlink(Vec<&'static str>, bool),
        /// Another name for the n-th file made before it (if any).
        HardLink(usize),
    }

    fn node() -> impl Strategy<Value = Node> {
        let component = prop::sample::select(vec![".", "..", "a", "b", "c"]);
        prop_oneof![
            2 => Just(Node::Dir),
            2 => (any::<u8>(), prop::sample::select(vec![0o644u32, 0o755, 0o600]))
                .prop_map(|(byte, mode)| Node::File(byte, mode)),
            3 => (prop::collection::vec(component, 1..6), prop::bool::weighted(0.1))
                .prop_map(|(target, absolute)| Node::Symlink(target, absolute)),
            1 => (0usize..8).prop_map(Node::HardLink),
        ]
    }

    /// Paths of up to three components over a small alphabet, so that links often meet.
    fn path() -> impl Strategy<Value = Vec<&'static str>> {
        prop::collection::vec(prop::sample::select(NAMES.to_vec()), 1..4)
    }

    /// Makes the tree under `src`, skipping a node whose folder is not a folder; returns the
    /// paths made.
    fn make_tree(src: &Path, nodes: &[(Vec<&'static str>, Node)]) -> Vec<String> {
        let mut sorted = nodes.to_vec();
        sorted.sort_by_key(|(path, _)| path.len());
        let mut made: Vec<String> = Vec::new();
        let mut files: Vec<String> = Vec::new();
        for (path, node) in sorted {
            let rel = path.join("/");
            let full = src.join(&rel);
            // A real folder, reached through no link: a tree on disk has nothing below a link.
            let parent = full.parent().unwrap();
            let parent_is_dir =
                parent.is_dir() && parent.canonicalize().is_ok_and(|real| real == parent);
            if !parent_is_dir || full.symlink_metadata().is_ok() {
                continue;
            }
            match node {
                Node::Dir => std::fs::create_dir(&full).unwrap(),
                Node::File(byte, mode) => {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::write(&full, [byte; 3]).unwrap();
                    let permissions = std::fs::Permissions::from_mode(mode);
                    std::fs::set_permissions(&full, permissions).unwrap();
                    files.push(rel.clone());
                }
                Node::Symlink(target, absolute) => {
                    let target = target.join("/");
                    let target = if absolute {
                        format!("/tmp/{target}")
                    } else {
                        target
                    };
                    std::os::unix::fs::symlink(target, &full).unwrap();
                }
                Node::HardLink(n) => {
                    let Some(existing) = files.get(n % files.len().max(1)) else {
                        continue;
                    };
                    std::fs::hard_link(src.join(existing), &full).unwrap();
                }
            }
            made.push(rel);
        }
        made
    }

    /// Where the link at `rel` below `root` leads, walked component by component in user
    /// space: outside (`Some(true)`), inside (`Some(false)`), or nowhere (a loop, `None`).
    /// Once a component is missing, the rest is taken as folders still to be made.
    fn leads_out(root: &Path, rel: &str) -> Option<bool> {
        let mut at: Vec<String> = rel.split('/').map(String::from).collect();
        at.pop();
        let target = std::fs::read_link(root.join(rel)).unwrap();
        let target = target.to_str().unwrap().to_string();
        if target.starts_with('/') {
            return Some(true);
        }
        let mut steps: VecDeque<String> = target.split('/').map(String::from).collect();
        let (mut hops, mut missing) = (0, false);
        while let Some(step) = steps.pop_front() {
            match step.as_str() {
                "" | "." => continue,
                ".." if at.pop().is_none() => return Some(true),
                ".." => continue,
                _ => {}
            }
            let here = root.join(at.join("/")).join(&step);
            let meta = if missing {
                None
            } else {
                here.symlink_metadata().ok()
            };
            match meta {
                Some(meta) if meta.file_type().is_symlink() => {
                    hops += 1;
                    if hops > 40 {
                        return None;
                    }
                    let next = std::fs::read_link(&here).unwrap();
                    let next = next.to_str().unwrap().to_string();
                    if next.starts_with('/') {
                        return Some(true);
                    }
                    for part in next.split('/').rev() {
                        steps.push_front(part.to_string());
                    }
                }
                found => {
                    missing |= found.is_none_or(|meta| !meta.is_dir());
                    at.push(step);
                }
            }
        }
        Some(false)
    }

    /// The links below `root` that lead outside it.
    fn links_leading_out(root: &Path) -> Vec<String> {
        listing(root)
            .iter()
            .filter_map(|line| line.strip_prefix("l "))
            .map(|line| line.split(" -> ").next().unwrap().to_string())
            .filter(|link| leads_out(root, link) == Some(true))
            .collect()
    }

    fn everything_below(root: &Path, skip: &[PathBuf]) -> Vec<String> {
        let mut found = super::everything_below(root);
        found.retain(|path| !skip.iter().any(|s| Path::new(path).starts_with(s)));
        found
    }

    fn check(
        nodes: Vec<(Vec<&'static str>, Node)>,
        order: Vec<usize>,
    ) -> Result<(), TestCaseError> {
        let temp = tempfile::Builder::new()
            .prefix("serpent-prop")
            .tempdir()
            .unwrap();
        let (src, gnu, ours) = (
            temp.path().join("src"),
            temp.path().join("gnu"),
            temp.path().join("sandbox/dest"),
        );
        std::fs::create_dir_all(&src).unwrap();
        std::fs::create_dir_all(temp.path().join("sandbox/outside")).unwrap();
        let made = make_tree(&src, &nodes);
        prop_assume!(!made.is_empty());
        // Members in a random order: a folder may come after what it holds.
        let mut members: Vec<(usize, &String)> = made
            .iter()
            .enumerate()
            .map(|(i, m)| (order[i % order.len()], m))
            .collect();
        members.sort();
        let archive = temp.path().join("archive.tar");
        let mut args = vec!["-c", "--no-recursion", "-f", archive.to_str().unwrap()];
        args.extend(members.iter().map(|(_, m)| m.as_str()));
        let (ok, said) = gnu_tar(&src, &args);
        prop_assert!(ok, "GNU tar cannot archive: {}", said);
        let skip = [gnu.clone(), ours.clone()];
        let before = everything_below(temp.path(), &skip);
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_serpent"))
            .arg("unpack")
            .args([&archive, &ours])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        prop_assert_eq!(
            everything_below(temp.path(), &skip),
            before,
            "written outside: {}",
            stderr
        );
        prop_assert!(
            links_leading_out(&ours).is_empty(),
            "serpent left a link leading out"
        );
        if !gnu_extract(&archive, &gnu) {
            return Ok(());
        }
        let out_of_gnu = links_leading_out(&gnu);
        if out_of_gnu.is_empty() {
            prop_assert!(
                output.status.success(),
                "serpent refused what GNU tar extracts: {}",
                stderr
            );
            prop_assert_eq!(listing(&ours), listing(&gnu));
        } else {
            prop_assert!(
                !output.status.success(),
                "serpent kept a link leading out: {:?}",
                out_of_gnu
            );
            let named = out_of_gnu
                .iter()
                .any(|link| stderr.contains(&format!("\"{link}\"")));
            prop_assert!(
                named,
                "the refusal names none of {:?}: {}",
                out_of_gnu,
                stderr
            );
        }
        Ok(())
    }

    fn cases() -> u32 {
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(24)
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: cases(),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn property_unpack_matches_gnu_tar_and_stays_inside(
            nodes in prop::collection::vec((path(), node()), 1..14),
            order in prop::collection::vec(any::<usize>(), 1..14),
        ) {
            check(nodes, order)?;
        }
    }
}
