//! Plain unified diffs through `serpent patch`, compared with GNU patch on the same tree:
//! old-style new and removed files, bytes that are not UTF-8, line endings, offsets.

use std::path::Path;

use super::reference::{diff_trees, gnu_patch, listing, serpent_patch, write_files};

type Files<'a> = [(&'a [u8], &'a [u8])];

/// Writes `old` and `new` as `pkg.orig` and `pkg` under `dir` and returns `diff -ruN` between
/// them, after `edit` (which may rewrite the headers).
fn diff(
    dir: &Path,
    old: &Files,
    new: &Files,
    edit: impl Fn(Vec<u8>) -> Vec<u8>,
) -> std::path::PathBuf {
    write_files(&dir.join("pkg.orig"), old);
    write_files(&dir.join("pkg"), new);
    let patch = dir.join("change.patch");
    std::fs::write(&patch, edit(diff_trees(dir, "pkg.orig", "pkg"))).unwrap();
    patch
}

/// Applies `patch` to `old` with serpent and with GNU patch; both must apply and agree.
fn same_as_gnu(dir: &Path, old: &Files, patch: &Path) -> String {
    let (ours, gnu) = (dir.join("ours"), dir.join("gnu"));
    write_files(&ours, old);
    write_files(&gnu, old);
    let (applied, _) = gnu_patch(&gnu, patch, 1);
    assert!(applied, "GNU patch did not apply {}", patch.display());
    let output = serpent_patch(&ours, &[patch], 1, 0);
    assert_eq!(listing(&ours), listing(&gnu));
    output.stdout
}

/// Drops the timestamps from `---`/`+++` lines, as Debian's 1.0-format diffs have none.
fn without_timestamps(patch: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    for line in patch.split_inclusive(|&b| b == b'\n') {
        match line.iter().position(|&b| b == b'\t') {
            Some(tab) if line.starts_with(b"--- ") || line.starts_with(b"+++ ") => {
                out.extend_from_slice(&line[..tab]);
                out.push(b'\n');
            }
            _ => out.extend_from_slice(line),
        }
    }
    out
}

#[test]
fn old_style_new_files_are_created_and_emptied_files_kept_as_gnu_does() {
    let dir = tempfile::tempdir().unwrap();
    let old: &Files = &[(b"keep", b"k\n"), (b"emptied", b"a\nb\n")];
    let new: &Files = &[
        (b"keep", b"k\n"),
        (b"emptied", b""),
        (b"debian/rules", b"#!/usr/bin/make -f\n%:\n\tdh $@\n"),
        (b"new/folder/file.c", b"int x;\n"),
    ];
    let patch = diff(dir.path(), old, new, without_timestamps);
    let text = String::from_utf8_lossy(&std::fs::read(&patch).unwrap()).into_owned();
    assert!(
        text.contains("--- pkg.orig/debian/rules\n+++ pkg/debian/rules\n@@ -0,0 +1,3 @@"),
        "{text}"
    );
    same_as_gnu(dir.path(), old, &patch);
}

#[test]
fn diff_n_removals_remove_the_file_as_gnu_does() {
    let dir = tempfile::tempdir().unwrap();
    let old: &Files = &[(b"keep", b"k\n"), (b"sub/gone", b"a\nb\n")];
    let new: &Files = &[(b"keep", b"k\n"), (b"added", b"new\n")];
    let patch = diff(dir.path(), old, new, |patch| patch);
    same_as_gnu(dir.path(), old, &patch);
}

#[test]
fn patches_with_bytes_that_are_not_utf8_apply() {
    let dir = tempfile::tempdir().unwrap();
    let old: &Files = &[
        (b"caf\xe9.txt", b"caf\xe9\nna\xefve\nend\n"),
        (b"plain", b"x\n"),
    ];
    let new: &Files = &[
        (b"caf\xe9.txt", b"caf\xe9\nna\xefve \xa9\nend\n"),
        (b"plain", b"\xff\n"),
    ];
    let patch = diff(dir.path(), old, new, |patch| patch);
    same_as_gnu(dir.path(), old, &patch);
}

/// A diff between two versions of one file, `-p1`.
fn file_patch(dir: &Path, old: &[u8], new: &[u8]) -> std::path::PathBuf {
    diff(dir, &[(b"f", old)], &[(b"f", new)], |patch| patch)
}

fn crlf(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for &byte in text {
        if byte == b'\n' {
            out.push(b'\r');
        }
        out.push(byte);
    }
    out
}

#[test]
fn a_crlf_patch_on_an_lf_file_applies_as_gnu_patch_does() {
    let dir = tempfile::tempdir().unwrap();
    let patch = file_patch(dir.path(), b"one\ntwo\nthree\n", b"one\nTWO\nthree\n");
    let converted = crlf(&std::fs::read(&patch).unwrap());
    std::fs::write(&patch, converted).unwrap();
    same_as_gnu(dir.path(), &[(b"f", b"one\ntwo\nthree\n")], &patch);
}

#[test]
fn an_lf_patch_on_a_crlf_file_is_refused_with_a_hint_about_line_endings() {
    let dir = tempfile::tempdir().unwrap();
    let patch = file_patch(dir.path(), b"one\ntwo\nthree\n", b"one\nTWO\nthree\n");
    let tree = dir.path().join("tree");
    write_files(&tree, &[(b"f", &crlf(b"one\ntwo\nthree\n"))]);
    let (gnu_applied, _) = {
        let gnu = dir.path().join("gnu");
        write_files(&gnu, &[(b"f", &crlf(b"one\ntwo\nthree\n"))]);
        gnu_patch(&gnu, &patch, 1)
    };
    assert!(!gnu_applied);
    let output = serpent_patch(&tree, &[&patch], 1, 1);
    assert!(
        output.stderr.contains("CRLF line endings"),
        "{}",
        output.stderr
    );
    assert!(output.stderr.contains("hunk #1"), "{}", output.stderr);
    assert_eq!(
        std::fs::read(tree.join("f")).unwrap(),
        crlf(b"one\ntwo\nthree\n")
    );
}

fn numbered(lines: impl IntoIterator<Item = String>) -> Vec<u8> {
    lines
        .into_iter()
        .flat_map(|line| format!("{line}\n").into_bytes())
        .collect()
}

#[test]
fn offsets_are_reported_as_gnu_patch_reports_them() {
    let dir = tempfile::tempdir().unwrap();
    let old = numbered((1..=60).map(|n| format!("line {n}")));
    let new = numbered((1..=60).map(|n| match n {
        10 => "ten".to_string(),
        40 => "forty".to_string(),
        n => format!("line {n}"),
    }));
    let patch = file_patch(dir.path(), &old, &new);
    // The tree has three more lines at the top and one fewer before the second hunk.
    let shifted = numbered(
        ["a", "b", "c"]
            .into_iter()
            .map(String::from)
            .chain((1..=60).filter(|&n| n != 25).map(|n| format!("line {n}"))),
    );
    let stdout = same_as_gnu(dir.path(), &[(b"f", &shifted)], &patch);
    let (_, gnu_said) = gnu_patch(
        &{
            let again = dir.path().join("again");
            write_files(&again, &[(b"f", &shifted)]);
            again
        },
        &patch,
        1,
    );
    let hunks = |said: &str| -> Vec<String> {
        said.lines()
            .filter(|line| line.starts_with("Hunk #"))
            .map(String::from)
            .collect()
    };
    assert_eq!(
        hunks(&stdout),
        [
            "Hunk #1 succeeded at 10 (offset 3 lines).",
            "Hunk #2 succeeded at 39 (offset 2 lines)."
        ]
    );
    assert_eq!(hunks(&stdout), hunks(&gnu_said));
}

#[test]
fn a_hunk_matching_two_places_at_the_same_distance_goes_where_gnu_puts_it() {
    let dir = tempfile::tempdir().unwrap();
    let block = ["3", "x", "a", "b", "x", "4", "5"].map(String::from);
    let filler = |name: &str, count: usize| vec![name.to_string(); count];
    let old = numbered([filler("f", 10), block.to_vec(), filler("g", 3)].concat());
    let new = numbered(
        [filler("f", 10), block.to_vec(), filler("g", 3)]
            .concat()
            .into_iter()
            .enumerate()
            .map(|(n, line)| if n == 13 { "B".to_string() } else { line }),
    );
    let patch = file_patch(dir.path(), &old, &new);
    let text = String::from_utf8_lossy(&std::fs::read(&patch).unwrap()).into_owned();
    assert!(text.contains("@@ -11,7 +11,7 @@"), "{text}");
    // The block now starts at line 7 and at line 15: four lines before and after line 11.
    let tree = numbered(
        [
            filler("p", 6),
            block.to_vec(),
            filler("q", 1),
            block.to_vec(),
            filler("r", 3),
        ]
        .concat(),
    );
    same_as_gnu(dir.path(), &[(b"f", &tree)], &patch);
}
