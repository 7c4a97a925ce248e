//! The build's timeline: every run that builds something appends to `<work>/timeline.jsonl`
//! which instance took which job slot and when each of its steps ran. One line is written
//! with one `write` on a file opened for appending, so lines of a resumed run follow those of
//! the interrupted one whole. `serpent report --trace` reads it (see [`crate::trace`]).

mod entry;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

pub use entry::Entry;

use crate::error::{Error, Result};

/// The file name of the timeline in the work dir.
pub const FILE: &str = "timeline.jsonl";

/// The writer of one run's timeline, opened when the run finds something to build.
pub struct Timeline {
    path: PathBuf,
    open: Mutex<Option<(File, u64)>>,
}

impl Timeline {
    pub fn new(work_dir: &Path) -> Timeline {
        Timeline {
            path: work_dir.join(FILE),
            open: Mutex::new(None),
        }
    }

    /// Opens the timeline for appending and writes the run's first line.
    pub fn begin(&self, jobs: usize) -> Result<()> {
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&self.path)
            .map_err(|error| Error::io("cannot open the timeline", &self.path, error))?;
        // A line a killed run left half written is ended, so this run's first line stays whole.
        if !ends_a_line(&mut file) {
            file.write_all(b"\n")
                .map_err(|error| Error::io("cannot write the timeline", &self.path, error))?;
        }
        let start = now();
        let run = (start * 1000.0) as u64;
        *self.open.lock().unwrap() = Some((file, run));
        self.write(|run| Entry::Run { run, start, jobs })
    }

    /// Appends the entry `make` builds from the run's id; nothing before [`Timeline::begin`].
    pub fn write(&self, make: impl FnOnce(u64) -> Entry) -> Result<()> {
        let mut open = self.open.lock().unwrap();
        let Some((file, run)) = open.as_mut() else {
            return Ok(());
        };
        let line = serde_json::to_string(&make(*run)).expect("an entry serializes") + "\n";
        file.write_all(line.as_bytes())
            .map_err(|error| Error::io("cannot write the timeline", &self.path, error))
    }

    /// Every entry of the timeline in `work_dir`; lines that do not read (the end of a line a
    /// killed serpent left half written) are passed over.
    pub fn read(work_dir: &Path) -> Result<Vec<Entry>> {
        let path = work_dir.join(FILE);
        let text = std::fs::read_to_string(&path).map_err(|error| {
            Error::io(
                "no timeline (a build writes it when it builds something) at",
                &path,
                error,
            )
        })?;
        Ok(text
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect())
    }
}

/// How long each instance's last successful build in the timeline took: from taking its job
/// slot to the end of its merge.
pub fn build_times(entries: &[Entry]) -> BTreeMap<String, f64> {
    let mut took_slot = BTreeMap::new();
    let mut times = BTreeMap::new();
    for entry in entries {
        match entry {
            Entry::Instance { run, id, start, .. } => {
                took_slot.insert((*run, id.as_str()), *start);
            }
            Entry::Span {
                run,
                id,
                phase,
                end,
                ok: true,
                ..
            } if phase == "merge" => {
                if let Some(start) = took_slot.get(&(*run, id.as_str())) {
                    times.insert(id.clone(), end - start);
                }
            }
            _ => {}
        }
    }
    times
}

/// Whether the file is empty or its last byte ends a line.
fn ends_a_line(file: &mut File) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let mut last = [b'\n'];
    if file.seek(SeekFrom::End(-1)).is_ok() {
        let _ = file.read_exact(&mut last);
    }
    last[0] == b'\n'
}

/// Now, in seconds since the epoch.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_append_and_a_torn_line_is_passed_over() {
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..2 {
            let timeline = Timeline::new(dir.path());
            timeline.begin(2).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let mut file = OpenOptions::new()
            .append(true)
            .open(dir.path().join(FILE))
            .unwrap();
        file.write_all(b"{\"event\":\"span\",\"run\":1,").unwrap();
        Timeline::new(dir.path()).begin(1).unwrap();
        let entries = Timeline::read(dir.path()).unwrap();
        assert_eq!(entries.len(), 3);
        assert_ne!(entries[0].run(), entries[1].run());
        assert!(matches!(entries[2], Entry::Run { jobs: 1, .. }));
    }

    #[test]
    fn a_build_time_is_the_last_merged_build_of_the_instance() {
        let instance = |run, start| Entry::Instance {
            run,
            id: "x86_64/stage2/make".into(),
            slot: 0,
            ready: start,
            start,
            deps: Vec::new(),
        };
        let merge = |run, end, ok| Entry::Span {
            run,
            id: "x86_64/stage2/make".into(),
            phase: "merge".into(),
            slot: 0,
            start: end - 0.5,
            end,
            ok,
        };
        let entries = [
            instance(1, 10.0),
            merge(1, 40.0, true),
            instance(2, 100.0),
            merge(2, 150.0, false),
        ];
        let times = build_times(&entries);
        assert_eq!(times["x86_64/stage2/make"], 30.0);
    }

    #[test]
    fn nothing_is_written_before_the_run_begins() {
        let dir = tempfile::tempdir().unwrap();
        let timeline = Timeline::new(dir.path());
        timeline
            .write(|run| Entry::Run {
                run,
                start: 0.0,
                jobs: 1,
            })
            .unwrap();
        assert!(!dir.path().join(FILE).exists());
    }
}
