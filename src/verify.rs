//! `serpent verify`: builds what is recorded once more, from nothing, in a second work dir at
//! another path, and compares the packages file by file, as `nix-build --check` does. A
//! package that differs names its files, and diffoscope shows how where it is installed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::plan::{Plan, Status};
use crate::tree::{differences, entries};

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
