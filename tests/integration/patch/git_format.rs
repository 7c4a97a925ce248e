//! git's extensions through `serpent patch`: renames, copies, modes, empty files and binary
//! patches, compared with the tree git itself made and with GNU patch's.

use std::path::Path;

use super::reference::{git_patch, gnu_patch, listing, said, serpent_patch, write_files};

const NUMBERS: &[u8] = b"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n17\n18\n19\n20\n";

/// Files that every scenario starts from.
fn before() -> Vec<(&'static [u8], &'static [u8])> {
    vec![
        (b"old.txt", NUMBERS),
        (b"src.txt", NUMBERS),
        (b"ren-only", b"moved as it is\n"),
        (b"copy-only", b"copied as it is\n"),
        (b"modeonly", b"#!/bin/sh\n"),
        (b"gone.txt", b"bye\n"),
        (b"sub/keep", b"k\n"),
    ]
}

/// Makes the patch for `change` in a repository under `dir`, applies it with serpent to a
/// copy of the original tree and returns (serpent's tree, git's tree, the copy's path).
fn scenario(dir: &Path, change: &str) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
    let repo = dir.join("repo");
    let patch = git_patch(&repo, &before(), change);
    let tree = dir.join("tree");
    write_files(&tree, &before());
    std::fs::write(dir.join("change.patch"), &patch).unwrap();
    (tree, repo, patch)
}

#[test]
fn renames_and_copies_with_edits_modes_and_empty_files_give_gits_tree() {
    let dir = tempfile::tempdir().unwrap();
    let (tree, repo, patch) = scenario(
        dir.path(),
        "mkdir -p moved/deeper
         git mv old.txt moved/deeper/new.txt
         sed -i 's/^10$/TEN/' moved/deeper/new.txt
         cp src.txt copied.txt && sed -i 's/^5$/FIVE/' copied.txt
         git mv ren-only renamed-only
         cp copy-only copy-dest
         chmod +x modeonly
         : > empty-new
         git rm -q gone.txt
         mkdir -p brand/new && printf 'int x;\\n' > brand/new/file.c",
    );
    let text = String::from_utf8_lossy(&patch);
    for header in [
        "rename from old.txt",
        "copy from src.txt",
        "rename from ren-only",
        "copy from copy-only",
        "new mode 100755",
        "new file mode 100644",
    ] {
        assert!(text.contains(header), "git did not write {header}:\n{text}");
    }
    serpent_patch(&tree, &[&dir.path().join("change.patch")], 1, 0);
    assert_eq!(listing(&tree), listing(&repo));
    // The copy's source is untouched, the rename's is gone.
    assert_eq!(std::fs::read(tree.join("src.txt")).unwrap(), NUMBERS);
    assert!(!tree.join("old.txt").exists());

    // GNU patch makes the same tree.
    let gnu = dir.path().join("gnu");
    write_files(&gnu, &before());
    let (applied, _) = gnu_patch(&gnu, &dir.path().join("change.patch"), 1);
    assert!(applied);
    assert_eq!(listing(&tree), listing(&gnu));
}

#[test]
fn sections_with_headers_only_are_applied_alone() {
    for change in [
        "chmod +x modeonly",
        "git mv ren-only renamed-only",
        "cp copy-only copy-dest",
        ": > empty-new",
        "chmod +x modeonly && git mv ren-only renamed-only",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (tree, repo, _) = scenario(dir.path(), change);
        serpent_patch(&tree, &[&dir.path().join("change.patch")], 1, 0);
        assert_eq!(listing(&tree), listing(&repo), "after `{change}`");
    }
}

#[test]
fn header_only_sections_next_to_text_diffs_are_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (tree, repo, _) = scenario(
        dir.path(),
        "chmod +x modeonly && git mv ren-only renamed-only && sed -i 's/^3$/three/' src.txt",
    );
    serpent_patch(&tree, &[&dir.path().join("change.patch")], 1, 0);
    assert_eq!(listing(&tree), listing(&repo));
}

/// 64 KiB that compress badly, so git writes a delta for a small change.
fn noise(seed: u32) -> Vec<u8> {
    let mut state = seed;
    (0..65536)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (state >> 16) as u8
        })
        .collect()
}

#[test]
fn binary_patches_literal_and_delta_give_gits_tree() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let big = noise(7);
    let files: Vec<(&[u8], &[u8])> =
        vec![(b"small.bin", b"\x00\x01binary\x00"), (b"big.bin", &big)];
    let patch = git_patch(
        &repo,
        &files,
        "printf '\\000\\002changed\\000' > small.bin
         printf 'XYZ' | dd of=big.bin bs=1 seek=30000 conv=notrunc 2>/dev/null
         mkdir -p data && printf '\\377\\376new\\000' > data/new.bin",
    );
    let text = String::from_utf8_lossy(&patch);
    assert!(text.contains("\nliteral "), "{text}");
    assert!(text.contains("\ndelta "), "git wrote no delta:\n{text}");
    let patch_file = dir.path().join("binary.patch");
    std::fs::write(&patch_file, &patch).unwrap();
    let tree = dir.path().join("tree");
    write_files(&tree, &files);
    serpent_patch(&tree, &[&patch_file], 1, 0);
    assert_eq!(listing(&tree), listing(&repo));
}

#[test]
fn a_binary_patch_for_other_content_is_refused_naming_the_patch_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let files: Vec<(&[u8], &[u8])> = vec![(b"small.bin", b"\x00\x01binary\x00")];
    let patch = git_patch(&repo, &files, "printf '\\000\\002changed\\000' > small.bin");
    let patch_file = dir.path().join("binary.patch");
    std::fs::write(&patch_file, &patch).unwrap();
    let tree = dir.path().join("tree");
    write_files(&tree, &[(b"small.bin", b"\x00\x01other\x00")]);
    let before = listing(&tree);
    let said = said(&serpent_patch(&tree, &[&patch_file], 1, 1));
    assert!(said.contains("binary.patch"), "{said}");
    assert!(said.contains("binary patch of small.bin"), "{said}");
    assert!(
        said.contains("not the one the patch was made from"),
        "{said}"
    );
    assert_eq!(listing(&tree), before);
}

#[test]
fn a_binary_change_without_its_data_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let files: Vec<(&[u8], &[u8])> =
        vec![(b"small.bin", b"\x00\x01binary\x00"), (b"t.txt", b"a\n")];
    git_patch(
        &repo,
        &files,
        "printf '\\000\\002changed\\000' > small.bin; echo b > t.txt",
    );
    // Without --binary git says only that the files differ.
    let patch = super::reference::git(&repo, &["diff", "--cached"]);
    assert!(
        String::from_utf8_lossy(&patch).contains("Binary files a/small.bin and b/small.bin differ")
    );
    let patch_file = dir.path().join("nodata.patch");
    std::fs::write(&patch_file, &patch).unwrap();
    let tree = dir.path().join("tree");
    write_files(&tree, &files);
    let before = listing(&tree);
    let output = serpent_patch(&tree, &[&patch_file], 1, 1);
    assert!(output.stderr.contains("nodata.patch"), "{}", output.stderr);
    assert!(output.stderr.contains("small.bin"), "{}", output.stderr);
    assert_eq!(listing(&tree), before, "t.txt was patched anyway");
}

#[test]
fn a_symbolic_link_in_a_patch_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (tree, _, _) = scenario(dir.path(), "ln -s /etc/passwd evil");
    let before = listing(&tree);
    let output = serpent_patch(&tree, &[&dir.path().join("change.patch")], 1, 1);
    assert!(output.stderr.contains("symbolic link"), "{}", output.stderr);
    assert_eq!(listing(&tree), before);
}
