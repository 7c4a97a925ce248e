use std::path::PathBuf;

use serde::Serialize;

/// Something a build did, as `--message-format json` prints it: one object a line, its kind
/// in `reason` (as cargo's messages).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Event {
    /// An instance took a job slot and starts its build. `estimate_seconds` is how long its
    /// last recorded build took.
    Started {
        id: String,
        version: String,
        slot: usize,
        estimate_seconds: Option<f64>,
    },
    /// A phase of the instance starts; its output goes to `log`.
    Phase {
        id: String,
        phase: String,
        log: PathBuf,
    },
    /// The instance was built and merged; `seconds` counts from when it took its slot.
    Finished { id: String, seconds: f64 },
    /// The instance's package came from the remote cache and was merged as if built here.
    Pulled { id: String, seconds: f64 },
    /// The instance failed; `log` is the log of the command that failed, or the newest log of
    /// its build.
    Failed {
        id: String,
        seconds: f64,
        phase: Option<String>,
        log: Option<PathBuf>,
        message: String,
    },
    /// Nothing to do: built already. `fresh` when its record matched the plan's key; else its
    /// dependencies were rebuilt to the outputs it was built on (`why` says so).
    UpToDate {
        id: String,
        fresh: bool,
        why: String,
    },
    /// Not built because something it needs failed.
    Skipped { id: String },
    /// The last line: what the build did.
    BuildFinished {
        success: bool,
        built: usize,
        pulled: usize,
        up_to_date: usize,
        failed: usize,
        skipped: usize,
    },
}
