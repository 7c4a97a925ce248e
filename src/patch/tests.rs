//! Unit tests of the patcher on small trees; comparisons with GNU patch are in the
//! integration tests.

use std::fs;
use std::path::Path;

use super::*;

fn apply(patch: &str, name: &str, dir: &Path, strip: usize) -> Result<PatchSummary, PatchError> {
    apply_patch(patch.as_bytes(), name, dir, strip)
}

/// (file, hunk, offset) of every hunk that applied at an offset.
fn offsets(summary: &PatchSummary) -> Vec<(String, usize, isize)> {
    summary
        .offsets
        .iter()
        .map(|(path, offset)| (path.clone(), offset.hunk, offset.offset))
        .collect()
}

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in files {
        let p = dir.path().join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }
    dir
}

fn read(dir: &tempfile::TempDir, path: &str) -> String {
    fs::read_to_string(dir.path().join(path)).unwrap()
}

/// Names of all entries under `dir`, to check no temp files are left behind.
fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().unwrap().is_dir() {
            for sub in listing(&e.path()) {
                out.push(format!("{name}/{sub}"));
            }
        } else {
            out.push(name);
        }
    }
    out.sort();
    out
}

const FOO: &str = "one\ntwo\nthree\nfour\nfive\nsix\nseven\n";
const BAR: &str = "alpha\nbeta\ngamma\n";

const GIT_PATCH: &str = "\
From 1234567890abcdef Mon Sep 17 00:00:00 2001
From: Some One <someone@example.com>
Date: Tue, 1 Apr 2025 12:00:00 +0000
Subject: [PATCH] fix things

This changes --- things.
---
 src/foo.c | 3 ++-
 bar.h     | 2 +-
 2 files changed, 3 insertions(+), 2 deletions(-)

diff --git a/src/foo.c b/src/foo.c
index 1111111..2222222 100644
--- a/src/foo.c
+++ b/src/foo.c
@@ -2,3 +2,4 @@ int main(void)
 two
-three
+THREE
+three and a half
 four
Only in b/: generated.txt
diff --git a/bar.h b/bar.h
index 3333333..4444444 100644
--- a/bar.h
+++ b/bar.h
@@ -1,3 +1,3 @@
 alpha
-beta
+BETA
 gamma
-- 
2.40.0
";

#[test]
fn multi_file_git_patch() {
    let dir = tree(&[("src/foo.c", FOO), ("bar.h", BAR)]);
    let s = apply(GIT_PATCH, "fix.patch", dir.path(), 1).unwrap();
    assert_eq!(s.files, 2);
    assert_eq!(s.hunks, 2);
    assert!(s.offsets.is_empty());
    assert_eq!(
        read(&dir, "src/foo.c"),
        "one\ntwo\nTHREE\nthree and a half\nfour\nfive\nsix\nseven\n"
    );
    assert_eq!(read(&dir, "bar.h"), "alpha\nBETA\ngamma\n");
    assert_eq!(listing(dir.path()), ["bar.h", "src/foo.c"]);
}

#[test]
fn strip_levels() {
    let p0 = "--- bar.h\n+++ bar.h\n@@ -2 +2 @@\n-beta\n+BETA\n";
    let dir = tree(&[("bar.h", BAR)]);
    apply(p0, "p0.patch", dir.path(), 0).unwrap();
    assert_eq!(read(&dir, "bar.h"), "alpha\nBETA\ngamma\n");

    // With -p1 "bar.h" has no component to strip.
    let dir = tree(&[("bar.h", BAR)]);
    let err = apply(p0, "p0.patch", dir.path(), 1).unwrap_err();
    assert!(
        matches!(
            err,
            PatchError::BadStrip {
                strip: 1,
                line: 2,
                ..
            }
        ),
        "{err:?}"
    );

    // A -p1 patch applied with -p0 looks for b/bar.h.
    let dir = tree(&[("bar.h", BAR)]);
    let p1 = "--- a/bar.h\n+++ b/bar.h\n@@ -2 +2 @@\n-beta\n+BETA\n";
    let err = apply(p1, "p1.patch", dir.path(), 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "patch p1.patch, line 1: b/bar.h does not exist (strip level 0; is -p0 right?)"
    );
    apply(p1, "p1.patch", dir.path(), 1).unwrap();
    assert_eq!(read(&dir, "bar.h"), "alpha\nBETA\ngamma\n");

    // -p2 on a deeper path; repeated slashes count as one separator.
    let dir = tree(&[("src/bar.h", BAR)]);
    let p2 = "--- x//y/src/bar.h\n+++ x//y/src/bar.h\n@@ -2 +2 @@\n-beta\n+BETA\n";
    apply(p2, "p2.patch", dir.path(), 2).unwrap();
    assert_eq!(read(&dir, "src/bar.h"), "alpha\nBETA\ngamma\n");
}

#[test]
fn offsets_are_found_and_reported() {
    // Three lines were inserted at the top since the patch was made.
    let shifted = format!("x\ny\nz\n{FOO}");
    let dir = tree(&[("src/foo.c", &shifted)]);
    let patch = "\
--- a/src/foo.c
+++ b/src/foo.c
@@ -2,3 +2,3 @@
 two
-three
+THREE
 four
@@ -5,3 +5,3 @@
 five
-six
+SIX
 seven
";
    let s = apply(patch, "off.patch", dir.path(), 1).unwrap();
    assert_eq!(
        offsets(&s),
        [
            ("src/foo.c".to_string(), 1, 3),
            ("src/foo.c".to_string(), 2, 3)
        ]
    );
    assert_eq!(
        read(&dir, "src/foo.c"),
        "x\ny\nz\none\ntwo\nTHREE\nfour\nfive\nSIX\nseven\n"
    );

    // Negative offset: lines were removed before the hunk.
    let dir = tree(&[("src/foo.c", "three\nfour\nfive\nsix\nseven\n")]);
    let s = apply(patch, "off.patch", dir.path(), 1).unwrap_err();
    // The first hunk needs "two", which is gone.
    assert!(matches!(s, PatchError::HunkFailed { hunk: 1, .. }));
    let only_second = "--- a/f\n+++ b/f\n@@ -5,3 +5,3 @@\n five\n-six\n+SIX\n seven\n";
    let dir = tree(&[("f", "three\nfour\nfive\nsix\nseven\n")]);
    let s = apply(only_second, "off.patch", dir.path(), 1).unwrap();
    assert_eq!(offsets(&s), [("f".to_string(), 1, -2)]);
    assert_eq!(read(&dir, "f"), "three\nfour\nfive\nSIX\nseven\n");
}

#[test]
fn nearest_match_wins_and_hunks_do_not_go_backwards() {
    // "a" then "b" occurs at lines 1, 5 and 9; stated at line 6 -> nearest is 5.
    let content = "a\nb\nc\nd\na\nb\nc\nd\na\nb\n";
    let dir = tree(&[("f", content)]);
    let patch = "--- a/f\n+++ b/f\n@@ -6,3 +6,3 @@\n a\n-b\n+B\n c\n";
    let s = apply(patch, "n.patch", dir.path(), 1).unwrap();
    assert_eq!(offsets(&s), [("f".to_string(), 1, -1)]);
    assert_eq!(read(&dir, "f"), "a\nb\nc\nd\na\nB\nc\nd\na\nb\n");

    // With less trailing than leading context the hunk belongs at the end of the file, as
    // GNU patch reads it: lines 9-10, not the nearer 5-6.
    let dir = tree(&[("f", content)]);
    let patch = "--- a/f\n+++ b/f\n@@ -6,2 +6,2 @@\n a\n-b\n+B\n";
    let s = apply(patch, "n.patch", dir.path(), 1).unwrap();
    assert_eq!(offsets(&s), [("f".to_string(), 1, 3)]);
    assert_eq!(read(&dir, "f"), "a\nb\nc\nd\na\nb\nc\nd\na\nB\n");

    // Second hunk's only match lies before the first hunk: must fail.
    let dir = tree(&[("f", "p\nq\nr\ns\n")]);
    let patch = "--- a/f\n+++ b/f\n@@ -3 +3 @@\n-r\n+R\n@@ -4 +4 @@\n-p\n+P\n";
    let err = apply(patch, "back.patch", dir.path(), 1).unwrap_err();
    assert!(
        matches!(err, PatchError::HunkFailed { hunk: 2, .. }),
        "{err:?}"
    );
    assert_eq!(read(&dir, "f"), "p\nq\nr\ns\n");
}

#[test]
fn failing_second_file_changes_nothing() {
    let dir = tree(&[
        ("src/foo.c", FOO),
        ("bar.h", "alpha\nbeta (changed)\ngamma\n"),
    ]);
    let err = apply(GIT_PATCH, "fix.patch", dir.path(), 1).unwrap_err();
    assert!(matches!(err, PatchError::HunkFailed { ref path, .. } if path == "bar.h"));
    assert_eq!(read(&dir, "src/foo.c"), FOO);
    assert_eq!(read(&dir, "bar.h"), "alpha\nbeta (changed)\ngamma\n");
    assert_eq!(listing(dir.path()), ["bar.h", "src/foo.c"]);

    // Same when the second file is missing, and a file the patch creates is not created.
    let dir = tree(&[("src/foo.c", FOO)]);
    let patch = format!(
        "--- /dev/null\n+++ b/new/file.txt\n@@ -0,0 +1 @@\n+hello\n{}",
        &GIT_PATCH[GIT_PATCH.find("diff --git").unwrap()..]
    );
    let err = apply(&patch, "fix.patch", dir.path(), 1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "patch fix.patch, line 16: bar.h does not exist (strip level 1; is -p1 right?)"
    );
    assert_eq!(read(&dir, "src/foo.c"), FOO);
    assert_eq!(listing(dir.path()), ["src/foo.c"]);
}

#[test]
fn hunk_failure_message() {
    let dir = tree(&[("src/foo.c", FOO)]);
    let patch = "\
--- a/src/foo.c
+++ b/src/foo.c
@@ -1,2 +1,2 @@ first
-one
+ONE
 two
@@ -5,3 +5,3 @@ second
 five
-SIX
+6
 seven
";
    let err = apply(patch, "fix-foo.patch", dir.path(), 1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "patch fix-foo.patch, line 7: hunk #2 (@@ -5,3 +5,3 @@) of src/foo.c does not apply (looked for at line 5 of src/foo.c)"
    );
    match err {
        PatchError::HunkFailed {
            hunk,
            line,
            expected_at,
            ..
        } => {
            assert_eq!(hunk, 2);
            assert_eq!(line, 7);
            assert_eq!(expected_at, 5);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(read(&dir, "src/foo.c"), FOO);
}

#[test]
fn git_creation_and_deletion() {
    let dir = tree(&[("old.txt", "bye\nnow\n"), ("keep", "k\n")]);
    let patch = "\
diff --git a/dir/new.sh b/dir/new.sh
new file mode 100755
index 0000000..1111111
--- /dev/null
+++ b/dir/new.sh
@@ -0,0 +1,2 @@
+#!/bin/sh
+echo hi
diff --git a/old.txt b/old.txt
deleted file mode 100644
index 2222222..0000000
--- a/old.txt
+++ /dev/null
@@ -1,2 +0,0 @@
-bye
-now
";
    let s = apply(patch, "cd.patch", dir.path(), 1).unwrap();
    assert_eq!(s.created, ["dir/new.sh"]);
    assert_eq!(s.deleted, ["old.txt"]);
    assert_eq!(read(&dir, "dir/new.sh"), "#!/bin/sh\necho hi\n");
    assert!(!dir.path().join("old.txt").exists());
    assert_eq!(listing(dir.path()), ["dir/new.sh", "keep"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.path().join("dir/new.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }

    // Applying again: the file to create exists (and nothing changes).
    let err = apply(patch, "cd.patch", dir.path(), 1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "patch cd.patch, line 1: cannot create dir/new.sh: it already exists (already applied?)"
    );
}

#[test]
fn diff_n_style_creation_and_deletion() {
    // `diff -ruN` marks absent files with an epoch timestamp instead of /dev/null.
    let dir = tree(&[("gone/old.txt", "bye\n"), ("keep", "k\n")]);
    let patch = "\
diff -ruN a/gone/old.txt b/gone/old.txt
--- a/gone/old.txt\t2024-05-01 10:00:00.000000000 +0200
+++ b/gone/old.txt\t1970-01-01 01:00:00.000000000 +0100
@@ -1 +0,0 @@
-bye
diff -ruN a/new.txt b/new.txt
--- a/new.txt\t1969-12-31 19:00:00.000000000 -0500
+++ b/new.txt\t2024-05-01 10:00:00.123456789 +0200
@@ -0,0 +1 @@
+hello
";
    let s = apply(patch, "n.patch", dir.path(), 1).unwrap();
    assert_eq!(s.deleted, ["gone/old.txt"]);
    assert_eq!(s.created, ["new.txt"]);
    assert_eq!(listing(dir.path()), ["keep", "new.txt"]);
    assert!(
        !dir.path().join("gone").exists(),
        "emptied directory is removed"
    );

    // A real (non-epoch) timestamp on an emptied file keeps it, empty.
    let dir = tree(&[("f", "x\n")]);
    let patch = "--- a/f\t2024-05-01 10:00:00 +0000\n+++ b/f\t2024-05-01 11:00:00 +0000\n@@ -1 +0,0 @@\n-x\n";
    apply(patch, "e.patch", dir.path(), 1).unwrap();
    assert_eq!(read(&dir, "f"), "");

    // Deleting a file that has more content than the patch removes fails.
    let dir = tree(&[("f", "x\ny\n")]);
    let patch = "--- a/f\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n";
    let err = apply(patch, "d.patch", dir.path(), 1).unwrap_err();
    assert!(matches!(err, PatchError::DeleteNotEmpty { .. }), "{err:?}");
    assert_eq!(read(&dir, "f"), "x\ny\n");
}

#[test]
fn no_newline_at_eof() {
    // Remove the trailing newline.
    let dir = tree(&[("f", "a\nb\n")]);
    let patch = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n+b\n\\ No newline at end of file\n";
    apply(patch, "p", dir.path(), 1).unwrap();
    assert_eq!(read(&dir, "f"), "a\nb");

    // Add it back.
    let patch = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n";
    apply(patch, "p", dir.path(), 1).unwrap();
    assert_eq!(read(&dir, "f"), "a\nb\n");

    // Change the last line of a file that has no trailing newline on either side.
    let dir = tree(&[("f", "a\nb")]);
    let patch = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n";
    apply(patch, "p", dir.path(), 1).unwrap();
    assert_eq!(read(&dir, "f"), "a\nc");

    // Context line without newline (both sides), change earlier in the file.
    let dir = tree(&[("f", "a\nb")]);
    let patch = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n-a\n+A\n b\n\\ No newline at end of file\n";
    apply(patch, "p", dir.path(), 1).unwrap();
    assert_eq!(read(&dir, "f"), "A\nb");

    // A file without trailing newline, patched away from the end, keeps that.
    let dir = tree(&[("f", "a\nb\nc\nd\ne")]);
    let patch = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n-a\n+A\n b\n";
    apply(patch, "p", dir.path(), 1).unwrap();
    assert_eq!(read(&dir, "f"), "A\nb\nc\nd\ne");

    // Creating a file without trailing newline.
    let dir = tree(&[]);
    let patch = "--- /dev/null\n+++ b/n\n@@ -0,0 +1,2 @@\n+x\n+y\n\\ No newline at end of file\n";
    apply(patch, "p", dir.path(), 1).unwrap();
    assert_eq!(read(&dir, "n"), "x\ny");

    // A no-newline hunk must match at the end of the file.
    let dir = tree(&[("f", "a\nb\na\nb\nc\n")]);
    let patch = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n+B\n\\ No newline at end of file\n";
    assert!(apply(patch, "p", dir.path(), 1).is_err());
}

#[test]
fn malformed_patches_report_line_numbers() {
    let dir = tree(&[("bar.h", BAR)]);
    let patch = "junk\n--- a/bar.h\n+++ b/bar.h\n@@ -1,3 +1,3 @@\n alpha\n-beta\n+BETA\n gamma\n@@ -x +1 @@\n";
    let err = apply(patch, "bad.patch", dir.path(), 1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "patch bad.patch, line 9: malformed hunk header"
    );

    let patch = "--- a/bar.h\n+++ b/bar.h\n@@ -1,3 +1,3 @@\n alpha\n*beta\n";
    let err = apply(patch, "bad.patch", dir.path(), 1).unwrap_err();
    assert!(
        matches!(err, PatchError::Malformed { line: 5, .. }),
        "{err:?}"
    );

    let patch = "--- a/bar.h\n+++ b/bar.h\n@@ -1,3 +1,3 @@\n alpha\n-beta\n";
    let err = apply(patch, "bad.patch", dir.path(), 1).unwrap_err();
    assert!(
        matches!(err, PatchError::Malformed { line: 5, .. }),
        "{err:?}"
    );

    let patch = "--- a/bar.h\n+++ b/bar.h\nnot a hunk\n";
    let err = apply(patch, "bad.patch", dir.path(), 1).unwrap_err();
    assert!(
        matches!(err, PatchError::Malformed { line: 3, .. }),
        "{err:?}"
    );

    let err = apply("just some text\n", "empty.patch", dir.path(), 1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "patch empty.patch: no diffs found (is it a unified diff?)"
    );
    assert_eq!(read(&dir, "bar.h"), BAR);
}

#[test]
fn unsafe_paths_are_refused() {
    let dir = tree(&[]);
    for name in ["a/../../etc/passwd", "/etc/passwd", "a/"] {
        let patch = format!("--- /dev/null\n+++ {name}\n@@ -0,0 +1 @@\n+x\n");
        let strip = usize::from(!name.starts_with('/'));
        let err = apply(&patch, "evil.patch", dir.path(), strip).unwrap_err();
        assert!(
            matches!(err, PatchError::UnsafePath { line: 2, .. }),
            "{name}: {err:?}"
        );
    }
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn crlf_counts_and_empty_context_lines() {
    // CRLF content: the \r is part of each line and must match the file.
    let dir = tree(&[("w.txt", "one\r\ntwo\r\n\r\nthree\r\n")]);
    let patch =
        "--- a/w.txt\r\n+++ b/w.txt\r\n@@ -1,4 +1,4 @@\r\n one\r\n-two\r\n+TWO\r\n\r\n three\r\n";
    apply(patch, "crlf.patch", dir.path(), 1).unwrap();
    assert_eq!(read(&dir, "w.txt"), "one\r\nTWO\r\n\r\nthree\r\n");

    // Empty context line emitted as a bare empty line; omitted counts mean 1.
    let dir = tree(&[("f", "a\n\nb\n")]);
    let patch = "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n\n-b\n+B\n";
    apply(patch, "e.patch", dir.path(), 1).unwrap();
    assert_eq!(read(&dir, "f"), "a\n\nB\n");

    let patch = "--- a/f\n+++ b/f\n@@ -3 +3,2 @@\n-B\n+b\n+c\n";
    apply(patch, "e.patch", dir.path(), 1).unwrap();
    assert_eq!(read(&dir, "f"), "a\n\nb\nc\n");

    // Pure insertion with no context (diff -U0).
    let patch = "--- a/f\n+++ b/f\n@@ -1,0 +2 @@\n+inserted\n";
    apply(patch, "e.patch", dir.path(), 1).unwrap();
    assert_eq!(read(&dir, "f"), "a\ninserted\n\nb\nc\n");
}

#[test]
fn timestamps_quoted_names_and_old_name_fallback() {
    let dir = tree(&[("my file.txt", "x\n"), ("foo.c", "old\n")]);
    let patch = "\
--- \"a/my file.txt\"
+++ \"b/my file.txt\"
@@ -1 +1 @@
-x
+y
--- foo.c\t2024-01-01 00:00:00.000000000 +0000
+++ foo.c.new\t2024-01-02 00:00:00.000000000 +0000
@@ -1 +1 @@
-old
+new
";
    let s = apply(patch, "q.patch", dir.path(), 1).unwrap_err();
    // foo.c has no component to strip at -p1.
    assert!(matches!(s, PatchError::BadStrip { line: 7, .. }), "{s:?}");
    let (first, second) = patch.split_at(patch.find("--- foo.c").unwrap());
    apply(first, "q.patch", dir.path(), 1).unwrap();
    assert_eq!(read(&dir, "my file.txt"), "y\n");
    apply(second, "q.patch", dir.path(), 0).unwrap();
    assert_eq!(read(&dir, "foo.c"), "new\n");
    assert!(!dir.path().join("foo.c.new").exists());
}

#[cfg(unix)]
#[test]
fn permissions_are_preserved() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tree(&[("run.sh", "#!/bin/sh\necho a\n")]);
    let p = dir.path().join("run.sh");
    fs::set_permissions(&p, fs::Permissions::from_mode(0o750)).unwrap();
    let patch = "--- a/run.sh\n+++ b/run.sh\n@@ -2 +2 @@\n-echo a\n+echo b\n";
    apply(patch, "x.patch", dir.path(), 1).unwrap();
    assert_eq!(read(&dir, "run.sh"), "#!/bin/sh\necho b\n");
    assert_eq!(
        fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o750
    );
}

#[test]
fn same_file_twice_and_non_utf8_content() {
    let mut content = b"caf\xe9\nline\n".to_vec();
    content.extend_from_slice(b"end\n");
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("l1"), &content).unwrap();
    let patch = "--- a/l1\n+++ b/l1\n@@ -2,2 +2,2 @@\n-line\n+LINE\n end\n--- a/l1\n+++ b/l1\n@@ -2 +2 @@\n-LINE\n+Line\n";
    let s = apply(patch, "t.patch", dir.path(), 1).unwrap();
    assert_eq!(s.files, 2);
    assert_eq!(
        fs::read(dir.path().join("l1")).unwrap(),
        b"caf\xe9\nLine\nend\n"
    );
}
