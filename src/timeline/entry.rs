use serde::{Deserialize, Serialize};

/// One line of a work dir's timeline. Every line names its run (the time it began, in
/// milliseconds since the epoch), so the runs that resumed an interrupted build stay apart.
/// Times are seconds since the epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Entry {
    /// A run that had something to build began, with this many job slots.
    Run { run: u64, start: f64, jobs: usize },
    /// An instance took a job slot. `ready` is when its dependencies were done, so the time
    /// until `start` is time it waited for a slot. `deps` are its dependencies' ids.
    Instance {
        run: u64,
        id: String,
        slot: usize,
        ready: f64,
        start: f64,
        deps: Vec<String>,
    },
    /// One step of an instance's build on its slot: `sources` (unpack and patch), a phase, or
    /// `merge`; `ok` is false for the step that failed.
    Span {
        run: u64,
        id: String,
        phase: String,
        slot: usize,
        start: f64,
        end: f64,
        ok: bool,
    },
}

impl Entry {
    pub fn run(&self) -> u64 {
        match self {
            Entry::Run { run, .. } | Entry::Instance { run, .. } | Entry::Span { run, .. } => *run,
        }
    }
}
