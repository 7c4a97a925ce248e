//! A patch never writes outside the tree it patches, whatever links the tree holds: each is
//! refused naming the link, and neither the tree nor anything outside it changes.

use std::os::unix::fs::symlink;
use std::path::Path;

use super::reference::{listing, said, serpent_patch, write_files};

/// Patches that each write through `link`: create, modify, rename into and delete.
fn patches_through(link: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "create",
            format!("--- /dev/null\n+++ b/{link}/new.txt\n@@ -0,0 +1 @@\n+planted\n"),
        ),
        (
            "modify",
            format!("--- a/{link}/target.txt\n+++ b/{link}/target.txt\n@@ -1 +1 @@\n-host\n+changed\n"),
        ),
        (
            "rename",
            format!(
                "diff --git a/keep.txt b/{link}/moved.txt\nsimilarity index 100%\nrename from keep.txt\nrename to {link}/moved.txt\n"
            ),
        ),
        (
            "delete",
            format!("--- a/{link}/target.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-host\n"),
        ),
    ]
}

/// Applies each patch through `link` to `tree`; every one must be refused naming `link`,
/// leaving `tree` and `outside` as they were.
fn refused_through(dir: &Path, tree: &Path, outside: &Path, link: &str) {
    let (tree_before, outside_before) = (listing(tree), listing(outside));
    for (what, patch) in patches_through(link) {
        let patch_file = dir.join(format!("{what}.patch"));
        std::fs::write(&patch_file, patch).unwrap();
        let said = said(&serpent_patch(tree, &[&patch_file], 1, 1));
        assert!(said.contains(&format!("{what}.patch")), "{what}: {said}");
        assert!(said.contains("leads outside"), "{what}: {said}");
        assert!(
            said.contains(&format!("symlink {link} ->")),
            "{what}: {said}"
        );
        assert_eq!(listing(outside), outside_before, "{what} wrote outside");
        assert_eq!(listing(tree), tree_before, "{what} changed the tree");
    }
}

#[test]
fn a_link_to_a_folder_outside_cannot_be_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let (tree, outside) = (dir.path().join("tree"), dir.path().join("somewhere"));
    write_files(&tree, &[(b"keep.txt", b"keep\n")]);
    write_files(&outside, &[(b"target.txt", b"host\n")]);
    symlink(&outside, tree.join("evil")).unwrap();
    refused_through(dir.path(), &tree, &outside, "evil");
}

#[test]
fn a_chain_of_links_leading_out_cannot_be_written_through() {
    let dir = tempfile::tempdir().unwrap();
    // `a/a` is the tree itself, and `..` twice from there climbs two folders above it.
    let outside = dir.path().join("outside");
    let tree = outside.join("middle/tree");
    write_files(&tree, &[(b"keep.txt", b"keep\n")]);
    write_files(&outside, &[(b"target.txt", b"host\n")]);
    symlink(".", tree.join("a")).unwrap();
    symlink("a/a/../..", tree.join("b")).unwrap();
    assert!(
        tree.join("b/target.txt").exists(),
        "the chain does not lead out"
    );
    // The outside listing includes the tree; it must not change either.
    refused_through(dir.path(), &tree, &outside, "b");
}

/// A small tmpfs, unmounted when dropped.
struct SmallDisk {
    path: std::path::PathBuf,
}

impl SmallDisk {
    fn mount(path: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(path).unwrap();
        super::reference::run(
            std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(path),
        );
        SmallDisk {
            path: path.to_path_buf(),
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(&self.path)
            .status();
    }
}

#[test]
fn a_full_disk_while_writing_a_series_leaves_the_tree_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let disk = SmallDisk::mount(&dir.path().join("disk"), "64k");
    let tree = disk.path.join("tree");
    write_files(&tree, &[(b"a.txt", b"one\ntwo\n")]);
    let edit = "--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n-one\n+ONE\n two\n";
    let lines = 2000;
    let big: String = std::iter::once(format!(
        "--- /dev/null\n+++ b/big.txt\n@@ -0,0 +1,{lines} @@\n"
    ))
    .chain((0..lines).map(|n| format!("+{n:0>60}\n")))
    .collect();
    let (first, second) = (dir.path().join("1.patch"), dir.path().join("2.patch"));
    std::fs::write(&first, edit).unwrap();
    std::fs::write(&second, big).unwrap();
    let before = listing(&tree);
    let said = said(&serpent_patch(&tree, &[&first, &second], 1, 1));
    assert!(said.contains("big.txt"), "{said}");
    assert!(said.contains("no file was changed"), "{said}");
    assert_eq!(
        listing(&tree),
        before,
        "a file changed, or a temporary one was left"
    );
}
