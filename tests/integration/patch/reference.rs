//! Trees on disk, and the reference tools (git, GNU patch, diff) that make and apply patches.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::test::{Output, Test};

/// Writes `files` (path, content) beneath `root`, creating folders.
pub fn write_files(root: &Path, files: &[(&[u8], &[u8])]) {
    for (path, content) in files {
        let path = root.join(OsStr::from_bytes(path));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
}

/// Everything beneath `root` but `.git`: each file with its mode and content, each folder and
/// each link with its target, so two trees compare equal exactly when they are the same.
pub fn listing(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut found = BTreeMap::new();
    list_into(root, Path::new(""), &mut found);
    found
}

fn list_into(root: &Path, rel: &Path, found: &mut BTreeMap<PathBuf, String>) {
    let mut entries: Vec<_> = std::fs::read_dir(root.join(rel))
        .unwrap()
        .map(|entry| entry.unwrap())
        .collect();
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        if entry.file_name() == ".git" {
            continue;
        }
        let rel = rel.join(entry.file_name());
        let meta = std::fs::symlink_metadata(entry.path()).unwrap();
        let description = if meta.is_dir() {
            list_into(root, &rel, found);
            "folder".to_string()
        } else if meta.file_type().is_symlink() {
            format!(
                "link to {}",
                std::fs::read_link(entry.path()).unwrap().display()
            )
        } else {
            let content = std::fs::read(entry.path()).unwrap();
            format!(
                "file {:o} {:?}",
                meta.permissions().mode() & 0o7777,
                String::from_utf8_lossy(&content)
            )
        };
        found.insert(rel, description);
    }
}

/// Runs a command that must succeed; returns its stdout.
pub fn run(command: &mut Command) -> Vec<u8> {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

pub fn git(repo: &Path, args: &[&str]) -> Vec<u8> {
    run(Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(["-c", "core.autocrlf=false", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(repo))
}

/// A git repository holding `before`, committed, then changed by `change` (run in the work
/// tree); returns the staged change as `git diff --binary` with renames and copies found.
pub fn git_patch(repo: &Path, before: &[(&[u8], &[u8])], change: &str) -> Vec<u8> {
    std::fs::create_dir_all(repo).unwrap();
    write_files(repo, before);
    git(repo, &["init", "-q"]);
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", "before"]);
    run(Command::new("sh").args(["-ec", change]).current_dir(repo));
    git(repo, &["add", "-A"]);
    git(
        repo,
        &[
            "diff",
            "--cached",
            "--binary",
            "-M",
            "-C",
            "--find-copies-harder",
        ],
    )
}

/// GNU patch's run on `dir` without fuzz: whether it applied, and what it said.
pub fn gnu_patch(dir: &Path, patch: &Path, strip: usize) -> (bool, String) {
    let output = Command::new("patch")
        .arg(format!("-p{strip}"))
        .args(["--fuzz=0", "--no-backup-if-mismatch", "--force", "-i"])
        .arg(patch)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// `serpent patch DIR PATCH... -pSTRIP`, expecting `status`.
pub fn serpent_patch(dir: &Path, patches: &[&Path], strip: usize, status: i32) -> Output {
    let mut args = vec!["patch".to_string(), dir.display().to_string()];
    args.extend(patches.iter().map(|patch| patch.display().to_string()));
    args.push(format!("-p{strip}"));
    Test::new().args(args).status(status).run()
}

/// `diff -ruN old new` run in `parent`: the patch between two trees as GNU diff writes it.
pub fn diff_trees(parent: &Path, old: &str, new: &str) -> Vec<u8> {
    let output = Command::new("diff")
        .args(["-ruN", old, new])
        .current_dir(parent)
        .output()
        .unwrap();
    assert!(output.status.code() == Some(1) || output.status.success());
    output.stdout
}

/// What serpent wrote to stderr, with the line breaks of its error box undone.
pub fn said(output: &Output) -> String {
    output
        .stderr
        .split_whitespace()
        .filter(|word| !["│", "·"].contains(word))
        .collect::<Vec<_>>()
        .join(" ")
}
