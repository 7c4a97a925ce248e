//! `serpent report --trace`: the work dir's timeline as Chrome trace-event JSON (which Perfetto
//! and chrome://tracing open: a process per run, a thread per job slot, a complete event per
//! step of each instance), and in words: per run, how busy the job slots were and the chain of
//! dependent instances that bounded its wall time.

use std::collections::BTreeMap;

use std::path::Path;

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::timeline::{Entry, Timeline};

/// Writes the work dir's timeline to `file` as trace events and returns the summary.
pub fn export(work_dir: &Path, file: &Path) -> Result<String> {
    let entries = Timeline::read(work_dir)?;
    let text = serde_json::to_string(&chrome(&entries)).expect("a trace serializes");
    std::fs::write(file, text + "\n").map_err(|error| Error::io("cannot write", file, error))?;
    Ok(summary(&entries))
}

/// One instance built in a run: when it was ready, took its slot and ended its last step.
struct Built<'a> {
    id: &'a str,
    ready: f64,
    start: f64,
    end: f64,
    deps: &'a [String],
}

/// The trace-event document: times in microseconds from the first run's start.
pub fn chrome(entries: &[Entry]) -> Value {
    let runs = run_numbers(entries);
    let origin = entries
        .iter()
        .find_map(|entry| match entry {
            Entry::Run { start, .. } => Some(*start),
            _ => None,
        })
        .unwrap_or(0.0);
    let micros = |seconds: f64| ((seconds - origin) * 1e6).round() as i64;
    let mut events = Vec::new();
    for entry in entries {
        match entry {
            Entry::Run { run, jobs, .. } => {
                let pid = runs[run];
                events.push(
                    json!({"name": "process_name", "ph": "M", "pid": pid, "tid": 0,
                    "args": {"name": format!("serpent run {pid} (-j{jobs})")}}),
                );
                for slot in 0..*jobs {
                    events.push(json!({"name": "thread_name", "ph": "M", "pid": pid,
                        "tid": slot + 1, "args": {"name": format!("job slot {}", slot + 1)}}));
                }
            }
            Entry::Span {
                run,
                id,
                phase,
                slot,
                start,
                end,
                ok,
            } => events.push(json!({
                "name": format!("{id} {phase}"),
                "cat": phase,
                "ph": "X",
                "ts": micros(*start),
                "dur": micros(*end) - micros(*start),
                "pid": runs[run],
                "tid": slot + 1,
                "args": {"instance": id, "phase": phase, "ok": ok},
            })),
            Entry::Instance { .. } => {}
        }
    }
    json!({"traceEvents": events, "displayTimeUnit": "ms"})
}

/// Each run's number, 1 for the oldest.
fn run_numbers(entries: &[Entry]) -> BTreeMap<u64, usize> {
    let mut runs = BTreeMap::new();
    for entry in entries {
        let next = runs.len() + 1;
        runs.entry(entry.run()).or_insert(next);
    }
    runs
}

/// Per run: its instances, wall time, how busy each job slot was, and the critical path.
pub fn summary(entries: &[Entry]) -> String {
    let runs = run_numbers(entries);
    let mut out = String::new();
    for (run, number) in &runs {
        let of_run: Vec<&Entry> = entries.iter().filter(|e| e.run() == *run).collect();
        out += &run_summary(*number, runs.len(), &of_run);
    }
    out
}

fn run_summary(number: usize, runs: usize, entries: &[&Entry]) -> String {
    let (start, jobs) = entries
        .iter()
        .find_map(|entry| match entry {
            Entry::Run { start, jobs, .. } => Some((*start, *jobs)),
            _ => None,
        })
        .unwrap_or((0.0, 1));
    let built = instances(entries);
    let end = built.values().map(|b| b.end).fold(start, f64::max);
    let wall = end - start;
    let mut busy = vec![0.0; jobs];
    for entry in entries {
        if let Entry::Span {
            slot, start, end, ..
        } = entry
        {
            if *slot >= busy.len() {
                busy.resize(slot + 1, 0.0);
            }
            busy[*slot] += end - start;
        }
    }
    let share = |seconds: f64| {
        if wall > 0.0 {
            (100.0 * seconds / wall).round()
        } else {
            0.0
        }
    };
    let mut out = format!(
        "run {number} of {runs}: {} instance(s) built on {jobs} job slot(s) in {wall:.1} s\n",
        built.len()
    );
    let per_slot: Vec<String> = busy
        .iter()
        .enumerate()
        .map(|(slot, seconds)| format!("slot {} {}%", slot + 1, share(*seconds)))
        .collect();
    out += &format!(
        "  job slots busy {}%: {}\n",
        share(busy.iter().sum::<f64>() / busy.len().max(1) as f64),
        per_slot.join(", ")
    );
    let path = critical_path(&built);
    if let (Some(first), Some(last)) = (path.first(), path.last()) {
        out += &format!(
            "  critical path, {:.1} s of the {wall:.1} s:\n",
            last.end - first.ready.min(first.start)
        );
        for link in path {
            let waited = link.start - link.ready;
            let wait = if waited >= 0.05 {
                format!(" (after waiting {waited:.1} s for a job slot)")
            } else {
                String::new()
            };
            out += &format!("    {} {:.1} s{wait}\n", link.id, link.end - link.start);
        }
    }
    out
}

/// The run's instances that took a slot, by id, with the end of their last step.
fn instances<'a>(entries: &[&'a Entry]) -> BTreeMap<&'a str, Built<'a>> {
    let mut built = BTreeMap::new();
    for entry in entries {
        match entry {
            Entry::Instance {
                id,
                ready,
                start,
                deps,
                ..
            } => {
                built.insert(
                    id.as_str(),
                    Built {
                        id,
                        ready: *ready,
                        start: *start,
                        end: *start,
                        deps,
                    },
                );
            }
            Entry::Span { id, end, .. } => {
                if let Some(instance) = built.get_mut(id.as_str()) {
                    instance.end = instance.end.max(*end);
                }
            }
            Entry::Run { .. } => {}
        }
    }
    built
}

/// The chain that ended last: the instance that finished last, the dependency of it (built
/// in the run) that finished last, and so on down, listed from the first.
fn critical_path<'a, 'b>(built: &'b BTreeMap<&'a str, Built<'a>>) -> Vec<&'b Built<'a>> {
    let latest = |candidates: &mut dyn Iterator<Item = &'b Built<'a>>| {
        candidates.max_by(|a, b| a.end.total_cmp(&b.end))
    };
    let mut path = Vec::new();
    let mut next = latest(&mut built.values());
    while let Some(link) = next {
        path.push(link);
        next = latest(&mut link.deps.iter().filter_map(|dep| built.get(dep.as_str())));
    }
    path.reverse();
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(id: &str, ready: f64, start: f64, deps: &[&str]) -> Entry {
        Entry::Instance {
            run: 7,
            id: id.into(),
            slot: 0,
            ready,
            start,
            deps: deps.iter().map(|dep| dep.to_string()).collect(),
        }
    }

    fn span(id: &str, slot: usize, start: f64, end: f64) -> Entry {
        Entry::Span {
            run: 7,
            id: id.into(),
            phase: "build".into(),
            slot,
            start,
            end,
            ok: true,
        }
    }

    /// a and b start together; c needs both and waits for b, the longer; d needs a only.
    #[test]
    fn the_critical_path_follows_the_dependency_that_ended_last() {
        let entries = vec![
            Entry::Run {
                run: 7,
                start: 100.0,
                jobs: 2,
            },
            instance("a", 100.0, 100.0, &[]),
            span("a", 0, 100.0, 101.0),
            instance("b", 100.0, 100.0, &[]),
            span("b", 1, 100.0, 103.0),
            instance("d", 101.0, 101.0, &["a"]),
            span("d", 0, 101.0, 102.0),
            instance("c", 103.0, 103.0, &["a", "b"]),
            span("c", 0, 103.0, 104.0),
        ];
        let text = summary(&entries);
        assert!(
            text.contains("critical path, 4.0 s of the 4.0 s:\n    b 3.0 s\n    c 1.0 s\n"),
            "{text}"
        );
        assert!(
            text.contains("job slots busy 75%: slot 1 75%, slot 2 75%"),
            "{text}"
        );
    }
}
