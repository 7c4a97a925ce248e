//! Properties of the patcher over random trees and patches: `diff -ruN` output between random
//! trees, applied as a series, reproduces the last tree exactly; on random files drifted from
//! the patch's base, serpent applies exactly where GNU patch (without fuzz) applies and
//! refuses where it fails; git diffs of random renames, copies, mode changes and binary edits
//! give git's tree; and random patches through random links never write outside the tree.
//!
//! Each property runs `PROPTEST_CASES` cases (a few by default, for CI); scripts/proptest-long
//! runs them for longer.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use proptest::prelude::*;
use proptest::sample::select;
use serpent::patch::{apply_patch, apply_series, SeriesPatch};

use super::reference::{gnu_patch, write_files};

fn config() -> ProptestConfig {
    config_with(32)
}

/// `PROPTEST_CASES` cases, or `default` for CI.
fn config_with(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Lines that repeat often, so hunks can match in several places.
const LINES: &[&[u8]] = &[
    b"{\n",
    b"}\n",
    b"\n",
    b"int x;\n",
    b"return 0;\n",
    b"a\n",
    b"b\n",
    b"caf\xe9\n",
    b"crlf\r\n",
    b"// comment\n",
];

fn lines(range: std::ops::Range<usize>) -> impl Strategy<Value = Vec<&'static [u8]>> {
    prop::collection::vec(select(LINES), range)
}

/// Files as (path, content); paths are leaves only, so no file is another's folder.
type Files = BTreeMap<Vec<u8>, Vec<u8>>;

const PATHS: &[&[u8]] = &[
    b"main.c",
    b"README",
    b"src/util.h",
    b"src/deep/er/x.c",
    b"doc/caf\xe9.txt",
    b"new/a",
    b"new/b",
];

/// One change to a tree; indices are taken modulo what is there.
#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, usize, &'static [u8]),
    Delete(usize, usize),
    Replace(usize, usize, &'static [u8]),
    DropLastNewline(usize),
    RemoveFile(usize),
    AddFile(usize, Vec<&'static [u8]>),
}

fn edit() -> impl Strategy<Value = Edit> {
    let index = || 0usize..64;
    prop_oneof![
        4 => (index(), index(), select(LINES)).prop_map(|(f, at, l)| Edit::Insert(f, at, l)),
        3 => (index(), index()).prop_map(|(f, at)| Edit::Delete(f, at)),
        3 => (index(), index(), select(LINES)).prop_map(|(f, at, l)| Edit::Replace(f, at, l)),
        1 => index().prop_map(Edit::DropLastNewline),
        1 => index().prop_map(Edit::RemoveFile),
        1 => (index(), lines(0..8)).prop_map(|(p, content)| Edit::AddFile(p, content)),
    ]
}

fn initial_tree() -> impl Strategy<Value = Files> {
    prop::collection::btree_map(select(PATHS), lines(0..30), 1..5).prop_map(|files| {
        files
            .into_iter()
            .map(|(path, content)| (path.to_vec(), content.concat()))
            .collect()
    })
}

fn split_lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn apply_edit(files: &mut Files, edit: &Edit) {
    let names: Vec<Vec<u8>> = files.keys().cloned().collect();
    let pick = |n: usize| names.get(n % names.len().max(1)).cloned();
    let change = |files: &mut Files, n: usize, f: &dyn Fn(&mut Vec<Vec<u8>>)| {
        if let Some(name) = pick(n) {
            let mut content = split_lines(&files[&name]);
            f(&mut content);
            files.insert(name, content.concat());
        }
    };
    match edit {
        Edit::Insert(n, at, line) => change(files, *n, &|c| {
            let at = at % (c.len() + 1);
            c.insert(at, line.to_vec());
        }),
        Edit::Delete(n, at) => change(files, *n, &|c| {
            if !c.is_empty() {
                let at = at % c.len();
                c.remove(at);
            }
        }),
        Edit::Replace(n, at, line) => change(files, *n, &|c| {
            if !c.is_empty() {
                let at = at % c.len();
                c[at] = line.to_vec();
            }
        }),
        Edit::DropLastNewline(n) => change(files, *n, &|c| {
            if let Some(last) = c.last_mut() {
                if last.ends_with(b"\n") {
                    last.pop();
                }
            }
        }),
        Edit::RemoveFile(n) => {
            if let Some(name) = pick(*n) {
                files.remove(&name);
            }
        }
        Edit::AddFile(p, content) => {
            files
                .entry(PATHS[p % PATHS.len()].to_vec())
                .or_insert_with(|| content.concat());
        }
    }
}

fn write_tree(root: &Path, files: &Files) {
    std::fs::create_dir_all(root).unwrap();
    let pairs: Vec<(&[u8], &[u8])> = files
        .iter()
        .map(|(path, content)| (path.as_slice(), content.as_slice()))
        .collect();
    write_files(root, &pairs);
}

/// The regular files beneath `root`; empty folders do not count, as diff does not see them.
fn read_tree(root: &Path) -> Files {
    let mut files = Files::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                pending.push(entry.path());
            } else {
                let rel = entry.path().strip_prefix(root).unwrap().to_path_buf();
                files.insert(
                    rel.as_os_str().as_bytes().to_vec(),
                    std::fs::read(entry.path()).unwrap(),
                );
            }
        }
    }
    files
}

fn diff(parent: &Path, context: usize, old: &str, new: &str) -> Vec<u8> {
    let output = Command::new("diff")
        .arg(format!(
            "-ruN{}",
            if context == 3 {
                String::new()
            } else {
                format!("U{context}")
            }
        ))
        .args([old, new])
        .current_dir(parent)
        .output()
        .unwrap();
    assert!(output.status.code().is_some_and(|code| code <= 1));
    output.stdout
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn diff_output_applied_as_a_series_reproduces_the_last_tree(
        initial in initial_tree(),
        steps in prop::collection::vec(prop::collection::vec(edit(), 1..8), 1..4),
        context in 0usize..4,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut trees = vec![initial];
        for step in &steps {
            let mut next = trees.last().unwrap().clone();
            for edit in step {
                apply_edit(&mut next, edit);
            }
            trees.push(next);
        }
        for (n, tree) in trees.iter().enumerate() {
            write_tree(&dir.path().join(format!("t{n}")), tree);
        }
        let patches: Vec<Vec<u8>> = (1..trees.len())
            .map(|n| diff(dir.path(), context, &format!("t{}", n - 1), &format!("t{n}")))
            .collect();
        let names: Vec<String> = (1..trees.len()).map(|n| format!("step{n}.patch")).collect();
        let series: Vec<SeriesPatch> = patches
            .iter()
            .zip(&names)
            .filter(|(bytes, _)| !bytes.is_empty())
            .map(|(bytes, name)| SeriesPatch { name, bytes, strip: 1 })
            .collect();
        let target = dir.path().join("t0");
        if let Err(failure) = apply_series(&series, &target) {
            prop_assert!(false, "{:?}", failure.error);
        }
        // diff -N sees an empty file and a missing one as the same, so neither side has them.
        let non_empty = |files: Files| -> Files {
            files.into_iter().filter(|(_, content)| !content.is_empty()).collect()
        };
        prop_assert_eq!(
            non_empty(read_tree(&target)),
            non_empty(trees.last().unwrap().clone())
        );
    }

    #[test]
    fn serpent_applies_where_gnu_patch_applies_without_fuzz_and_refuses_elsewhere(
        base in lines(0..40),
        change in prop::collection::vec(edit(), 1..6),
        drift in prop::collection::vec(edit(), 0..6),
        context in 0usize..4,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let base: Files = [(b"f".to_vec(), base.concat())].into();
        let (mut changed, mut drifted) = (base.clone(), base.clone());
        for edit in change.iter().filter(|e| !matches!(e, Edit::RemoveFile(_) | Edit::AddFile(..))) {
            apply_edit(&mut changed, edit);
        }
        for edit in drift.iter().filter(|e| !matches!(e, Edit::RemoveFile(_) | Edit::AddFile(..))) {
            apply_edit(&mut drifted, edit);
        }
        write_tree(&dir.path().join("old"), &base);
        write_tree(&dir.path().join("new"), &changed);
        let patch = diff(dir.path(), context, "old", "new");
        prop_assume!(!patch.is_empty());
        let patch_file = dir.path().join("change.patch");
        std::fs::write(&patch_file, &patch).unwrap();
        let (gnu, ours) = (dir.path().join("gnu"), dir.path().join("ours"));
        write_tree(&gnu, &drifted);
        write_tree(&ours, &drifted);
        let (gnu_applied, gnu_said) = gnu_patch(&gnu, &patch_file, 1);
        let gnu_fuzzless = gnu_applied && !gnu_said.contains("fuzz");
        let result = apply_patch(&patch, "change.patch", &ours, 1);
        if gnu_fuzzless {
            prop_assert!(result.is_ok(), "GNU patch applied, serpent said {:?}", result.err());
            prop_assert_eq!(read_tree(&ours), read_tree(&gnu));
        } else {
            prop_assert!(result.is_err(), "GNU patch failed ({gnu_said}), serpent applied");
            prop_assert_eq!(read_tree(&ours), drifted);
        }
    }
}

/// Names a random patch may use: links out (absolute, `..`, chained), links that stay in,
/// folders, files and `..`.
const COMPONENTS: &[&str] = &[
    "evil", "up", "a", "b", "c", "inside", "dir", "keep.txt", "x", "..",
];

#[derive(Debug, Clone)]
enum Section {
    Create(Vec<&'static str>),
    Modify(Vec<&'static str>),
    Delete(Vec<&'static str>),
    RenameTo(Vec<&'static str>),
    RenameFrom(Vec<&'static str>),
}

fn section() -> impl Strategy<Value = Section> {
    let path = || prop::collection::vec(select(COMPONENTS), 1..4);
    prop_oneof![
        path().prop_map(Section::Create),
        path().prop_map(Section::Modify),
        path().prop_map(Section::Delete),
        path().prop_map(Section::RenameTo),
        path().prop_map(Section::RenameFrom),
    ]
}

fn section_text(section: &Section) -> String {
    match section {
        Section::Create(path) => {
            format!(
                "--- /dev/null\n+++ b/{}\n@@ -0,0 +1 @@\n+planted\n",
                path.join("/")
            )
        }
        Section::Modify(path) => {
            let path = path.join("/");
            format!("--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-host\n+changed\n")
        }
        Section::Delete(path) => {
            format!(
                "--- a/{}\n+++ /dev/null\n@@ -1 +0,0 @@\n-host\n",
                path.join("/")
            )
        }
        Section::RenameTo(path) => {
            let path = path.join("/");
            format!("diff --git a/keep.txt b/{path}\nrename from keep.txt\nrename to {path}\n")
        }
        Section::RenameFrom(path) => {
            let path = path.join("/");
            format!("diff --git a/{path} b/taken\nrename from {path}\nrename to taken\n")
        }
    }
}

/// Every entry beneath `root` with its content or link target, not following links.
fn entries(root: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let rel = entry
                .path()
                .strip_prefix(root)
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec();
            let kind = entry.file_type().unwrap();
            let value = if kind.is_dir() {
                pending.push(entry.path());
                b"folder".to_vec()
            } else if kind.is_symlink() {
                std::fs::read_link(entry.path())
                    .unwrap()
                    .as_os_str()
                    .as_bytes()
                    .to_vec()
            } else {
                std::fs::read(entry.path()).unwrap()
            };
            found.insert(rel, value);
        }
    }
    found
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_patches_through_random_links_never_write_outside_the_tree(
        series in prop::collection::vec(prop::collection::vec(section(), 1..4), 1..4),
    ) {
        let sandbox = tempfile::tempdir().unwrap();
        let outside = sandbox.path().join("outside");
        let tree = sandbox.path().join("mid/tree");
        write_files(&outside, &[(b"keep.txt", b"host\n"), (b"x", b"host\n"), (b"dir/x", b"host\n")]);
        write_files(&tree, &[(b"keep.txt", b"host\n"), (b"dir/x", b"host\n"), (b"inside/x", b"host\n")]);
        write_files(&sandbox.path().join("mid"), &[(b"x", b"host\n")]);
        symlink(&outside, tree.join("evil")).unwrap();
        symlink("..", tree.join("up")).unwrap();
        symlink(".", tree.join("a")).unwrap();
        symlink("a/a/../..", tree.join("b")).unwrap();
        symlink("b/../outside", tree.join("c")).unwrap();
        symlink("../dir", tree.join(OsStr::new("inside/dir"))).unwrap();
        let outside_only = |all: BTreeMap<Vec<u8>, Vec<u8>>| -> BTreeMap<Vec<u8>, Vec<u8>> {
            all.into_iter().filter(|(path, _)| !path.starts_with(b"mid/tree/")).collect()
        };
        let before = outside_only(entries(sandbox.path()));
        let texts: Vec<String> = series
            .iter()
            .map(|patch| patch.iter().map(section_text).collect())
            .collect();
        let names: Vec<String> = (0..texts.len()).map(|n| format!("{n}.patch")).collect();
        let patches: Vec<SeriesPatch> = texts
            .iter()
            .zip(&names)
            .map(|(text, name)| SeriesPatch { name, bytes: text.as_bytes(), strip: 1 })
            .collect();
        let _ = apply_series(&patches, &tree);
        prop_assert_eq!(outside_only(entries(sandbox.path())), before);
    }
}

/// One change made in a git work tree; indices are taken modulo what is there.
#[derive(Debug, Clone)]
enum GitChange {
    Edit(usize, Vec<Edit>),
    Rename(usize, usize, Vec<Edit>),
    Copy(usize, usize, Vec<Edit>),
    ToggleExecutable(usize),
    Remove(usize),
    Binary(usize, Vec<u8>),
}

/// Names a change may move or copy a file to.
const NEW_PATHS: &[&[u8]] = &[b"moved.c", b"src/moved.h", b"fresh/dir/copy.c", b"x y.txt"];

fn git_change() -> impl Strategy<Value = GitChange> {
    let index = || 0usize..64;
    let edits = || prop::collection::vec(edit(), 0..4);
    prop_oneof![
        (index(), edits()).prop_map(|(f, e)| GitChange::Edit(f, e)),
        (index(), index(), edits()).prop_map(|(f, to, e)| GitChange::Rename(f, to, e)),
        (index(), index(), edits()).prop_map(|(f, to, e)| GitChange::Copy(f, to, e)),
        index().prop_map(GitChange::ToggleExecutable),
        index().prop_map(GitChange::Remove),
        (index(), prop::collection::vec(any::<u8>(), 1..200))
            .prop_map(|(f, bytes)| GitChange::Binary(f, bytes)),
    ]
}

/// Makes `change` in the work tree `repo`, whose files are `files`.
fn make_git_change(repo: &Path, files: &mut Files, change: &GitChange) {
    use std::os::unix::fs::PermissionsExt;
    let names: Vec<Vec<u8>> = files.keys().cloned().collect();
    let Some(name) = names.first().map(|_| {
        let n = match change {
            GitChange::Edit(n, _)
            | GitChange::Rename(n, ..)
            | GitChange::Copy(n, ..)
            | GitChange::ToggleExecutable(n)
            | GitChange::Remove(n)
            | GitChange::Binary(n, _) => *n,
        };
        names[n % names.len()].clone()
    }) else {
        return;
    };
    let path = |rel: &[u8]| repo.join(OsStr::from_bytes(rel));
    let edited = |content: &[u8], edits: &[Edit]| {
        let mut one: Files = [(b"f".to_vec(), content.to_vec())].into();
        for edit in edits
            .iter()
            .filter(|e| !matches!(e, Edit::RemoveFile(_) | Edit::AddFile(..)))
        {
            apply_edit(&mut one, edit);
        }
        one.remove(b"f".as_slice()).unwrap()
    };
    match change {
        GitChange::Edit(_, edits) => {
            let content = edited(&files[&name], edits);
            std::fs::write(path(&name), &content).unwrap();
            files.insert(name, content);
        }
        GitChange::Rename(_, to, edits) | GitChange::Copy(_, to, edits) => {
            let to = NEW_PATHS[to % NEW_PATHS.len()].to_vec();
            if files.contains_key(&to) {
                return;
            }
            let content = edited(&files[&name], edits);
            std::fs::create_dir_all(path(&to).parent().unwrap()).unwrap();
            std::fs::write(path(&to), &content).unwrap();
            let mode = std::fs::metadata(path(&name)).unwrap().permissions();
            std::fs::set_permissions(path(&to), mode).unwrap();
            if matches!(change, GitChange::Rename(..)) {
                std::fs::remove_file(path(&name)).unwrap();
                files.remove(&name);
            }
            files.insert(to, content);
        }
        GitChange::ToggleExecutable(_) => {
            let mode = std::fs::metadata(path(&name)).unwrap().permissions().mode();
            let toggled = if mode & 0o100 == 0 { 0o755 } else { 0o644 };
            std::fs::set_permissions(path(&name), std::fs::Permissions::from_mode(toggled))
                .unwrap();
        }
        GitChange::Remove(_) => {
            std::fs::remove_file(path(&name)).unwrap();
            files.remove(&name);
        }
        GitChange::Binary(_, bytes) => {
            let content = [&b"\0bin"[..], bytes].concat();
            std::fs::write(path(&name), &content).unwrap();
            files.insert(name, content);
        }
    }
}

proptest! {
    // Each case makes a git repository, so CI runs fewer.
    #![proptest_config(config_with(8))]

    #[test]
    fn git_diffs_with_renames_copies_modes_and_binaries_give_gits_tree(
        initial in initial_tree(),
        changes in prop::collection::vec(git_change(), 1..6),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        let pairs: Vec<(&[u8], &[u8])> = initial
            .iter()
            .map(|(path, content)| (path.as_slice(), content.as_slice()))
            .collect();
        super::reference::git_patch(&repo, &pairs, ":");
        let mut files = initial.clone();
        for change in &changes {
            make_git_change(&repo, &mut files, change);
        }
        super::reference::git(&repo, &["add", "-A"]);
        let patch = super::reference::git(
            &repo,
            &["diff", "--cached", "--binary", "-M", "-C", "--find-copies-harder"],
        );
        prop_assume!(!patch.is_empty());
        let tree = dir.path().join("tree");
        write_tree(&tree, &initial);
        if let Err(error) = apply_patch(&patch, "git.patch", &tree, 1) {
            prop_assert!(false, "{}\n{}", error, String::from_utf8_lossy(&patch));
        }
        // A work tree keeps the folders a removal empties; patches, like GNU patch, do not.
        let files = |root: &Path| {
            let mut listing = super::reference::listing(root);
            listing.retain(|_, entry| entry != "folder");
            listing
        };
        prop_assert_eq!(files(&tree), files(&repo));
    }
}
