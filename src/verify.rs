//! `serpent verify`: builds what is recorded once more, from nothing, in a second work dir at
//! another path, and compares the packages file by file, as `nix-build --check` does. A
//! package that differs names its files, and diffoscope shows how where it is installed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::key::hash;
use crate::plan::{Plan, Status};

/// What one entry of a package is, for comparing two builds of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir { mode: u32 },
    File { mode: u32, sha256: String },
    Link { target: PathBuf },
}

/// Every entry below `root`, by relative path.
pub fn entries(root: &Path) -> std::io::Result<BTreeMap<PathBuf, Entry>> {
    let mut found = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let meta = path.symlink_metadata()?;
            let mode = meta.permissions().mode() & 0o7777;
            let relative = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            let kind = if meta.file_type().is_symlink() {
                Entry::Link {
                    target: std::fs::read_link(&path)?,
                }
            } else if meta.is_dir() {
                pending.push(path.clone());
                Entry::Dir { mode }
            } else {
                Entry::File {
                    mode,
                    sha256: hash(&std::fs::read(&path)?),
                }
            };
            found.insert(relative, kind);
        }
    }
    Ok(found)
}

/// The paths whose entries differ between two trees, each with how.
pub fn differences(
    first: &BTreeMap<PathBuf, Entry>,
    second: &BTreeMap<PathBuf, Entry>,
) -> Vec<(PathBuf, &'static str)> {
    let mut found = Vec::new();
    for (path, entry) in first {
        match second.get(path) {
            None => found.push((path.clone(), "only in the first build")),
            Some(other) if other == entry => {}
            Some(other) => found.push((path.clone(), how_they_differ(entry, other))),
        }
    }
    for path in second.keys() {
        if !first.contains_key(path) {
            found.push((path.clone(), "only in the second build"));
        }
    }
    found
}

fn how_they_differ(first: &Entry, second: &Entry) -> &'static str {
    match (first, second) {
        (Entry::File { sha256: a, .. }, Entry::File { sha256: b, .. }) if a != b => "content",
        (Entry::File { .. }, Entry::File { .. }) | (Entry::Dir { .. }, Entry::Dir { .. }) => "mode",
        (Entry::Link { .. }, Entry::Link { .. }) => "link target",
        _ => "kind",
    }
}

/// How one instance's two builds compare.
pub struct Outcome {
    pub id: String,
    pub differences: Vec<(PathBuf, &'static str)>,
}

/// The instances of `selection` that are not built with their current inputs; verifying
/// compares a recorded build with a new one, so there must be a recorded one.
pub fn unbuilt(plan: &Plan, selection: &[usize]) -> Vec<String> {
    selection
        .iter()
        .filter(|index| plan.instances[**index].status != Status::Built)
        .map(|index| plan.instances[*index].id.clone())
        .collect()
}

/// Compares the packages of `selection` in the recorded plan with the rebuilt one.
pub fn compare(
    recorded: &Plan,
    rebuilt: &Plan,
    selection: &[usize],
) -> std::io::Result<Vec<Outcome>> {
    let mut outcomes = Vec::new();
    for index in selection {
        let first = &recorded.instances[*index];
        let second = &rebuilt.instances[*index];
        let differences = differences(
            &entries(&first.layout.package())?,
            &entries(&second.layout.package())?,
        );
        outcomes.push(Outcome {
            id: first.id.clone(),
            differences,
        });
    }
    Ok(outcomes)
}

/// The report a person reads: a line per package, the differing files below it, and
/// diffoscope's account of each differing file when it is installed.
pub fn report(
    outcomes: &[Outcome],
    recorded: &Plan,
    rebuilt: &Plan,
    selection: &[usize],
) -> String {
    let mut text = String::new();
    let diffoscope = which("diffoscope");
    for (outcome, index) in outcomes.iter().zip(selection) {
        if outcome.differences.is_empty() {
            let _ = writeln!(text, "identical  {}", outcome.id);
            continue;
        }
        let _ = writeln!(text, "DIFFERS    {}", outcome.id);
        for (path, how) in &outcome.differences {
            let _ = writeln!(text, "    {} ({how})", path.display());
            if let (Some(diffoscope), "content") = (&diffoscope, *how) {
                let first = recorded.instances[*index].layout.package().join(path);
                let second = rebuilt.instances[*index].layout.package().join(path);
                text.push_str(&run_diffoscope(diffoscope, &first, &second));
            }
        }
    }
    let same = outcomes.iter().filter(|o| o.differences.is_empty()).count();
    let _ = writeln!(
        text,
        "{same} of {} package(s) identical{}",
        outcomes.len(),
        if diffoscope.is_none() && same < outcomes.len() {
            " (install diffoscope to see how files differ)"
        } else {
            ""
        }
    );
    text
}

/// diffoscope's text report for two files, indented under the file's line; at most 60 lines.
fn run_diffoscope(program: &Path, first: &Path, second: &Path) -> String {
    let output = std::process::Command::new(program)
        .args(["--text", "-", "--max-report-size", "65536"])
        .arg(first)
        .arg(second)
        .output();
    let Ok(output) = output else {
        return String::new();
    };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .take(60)
        .map(|line| format!("        {line}\n"))
        .collect()
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// The default second work dir: beside the first, with `-verify` added to its name.
pub fn default_dir(work_dir: &Path) -> PathBuf {
    let mut name = work_dir.file_name().unwrap_or_default().to_os_string();
    name.push("-verify");
    work_dir.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_each_path_and_how() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        for root in [&a, &b] {
            std::fs::create_dir_all(root.join("bin")).unwrap();
            std::fs::write(root.join("bin/same"), b"same").unwrap();
        }
        std::fs::write(a.join("bin/tool"), b"built at /one").unwrap();
        std::fs::write(b.join("bin/tool"), b"built at /two").unwrap();
        std::os::unix::fs::symlink("tool", a.join("bin/alias")).unwrap();
        std::os::unix::fs::symlink("/abs/tool", b.join("bin/alias")).unwrap();
        std::fs::write(b.join("extra"), b"").unwrap();
        let found = differences(&entries(&a).unwrap(), &entries(&b).unwrap());
        assert_eq!(
            found,
            vec![
                (PathBuf::from("bin/alias"), "link target"),
                (PathBuf::from("bin/tool"), "content"),
                (PathBuf::from("extra"), "only in the second build"),
            ]
        );
    }
}
