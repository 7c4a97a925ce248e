use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// How a build tells the person at the terminal what is going on: live bars on a terminal,
/// plain one-line events elsewhere, nothing but errors with `--quiet`.
pub enum Progress {
    Quiet,
    Lines(Mutex<Counts>),
    Bars(Bars),
}

#[derive(Default)]
pub struct Counts {
    done: usize,
    total: usize,
}

pub struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    running: Mutex<BTreeMap<String, ProgressBar>>,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        if quiet {
            Progress::Quiet
        } else if std::io::stderr().is_terminal() {
            let multi = MultiProgress::new();
            let overall = multi.add(ProgressBar::new(0));
            overall.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} recipes, {elapsed}").unwrap(),
            );
            Progress::Bars(Bars {
                multi,
                overall,
                running: Mutex::new(BTreeMap::new()),
            })
        } else {
            Progress::Lines(Mutex::new(Counts::default()))
        }
    }

    pub fn total(&self, total: usize) {
        match self {
            Progress::Quiet => {}
            Progress::Lines(counts) => counts.lock().unwrap().total = total,
            Progress::Bars(bars) => bars.overall.set_length(total as u64),
        }
    }

    pub fn started(&self, id: &str, version: &str) {
        match self {
            Progress::Quiet => {}
            Progress::Lines(counts) => {
                let counts = counts.lock().unwrap();
                eprintln!("[{}/{}] {id} {version}: started", counts.done, counts.total);
            }
            Progress::Bars(bars) => {
                let bar = bars
                    .multi
                    .insert_before(&bars.overall, ProgressBar::new_spinner());
                bar.set_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").unwrap());
                bar.set_message(format!("{id} {version}"));
                bar.enable_steady_tick(Duration::from_millis(200));
                bars.running.lock().unwrap().insert(id.to_string(), bar);
            }
        }
    }

    pub fn phase(&self, id: &str, phase: &str) {
        match self {
            Progress::Quiet => {}
            Progress::Lines(_) => eprintln!("    {id}: {phase}"),
            Progress::Bars(bars) => {
                if let Some(bar) = bars.running.lock().unwrap().get(id) {
                    bar.set_message(format!("{id}: {phase}"));
                }
            }
        }
    }

    /// `outcome` is a short word: built, failed, skipped.
    pub fn finished(&self, id: &str, outcome: &str, seconds: f64) {
        match self {
            Progress::Quiet => {}
            Progress::Lines(counts) => {
                let mut counts = counts.lock().unwrap();
                counts.done += 1;
                eprintln!(
                    "[{}/{}] {id}: {outcome} in {seconds:.1}s",
                    counts.done, counts.total
                );
            }
            Progress::Bars(bars) => {
                if let Some(bar) = bars.running.lock().unwrap().remove(id) {
                    bar.finish_and_clear();
                }
                bars.overall.inc(1);
                bars.multi
                    .suspend(|| eprintln!("{id}: {outcome} in {seconds:.1}s"));
            }
        }
    }

    pub fn message(&self, text: &str) {
        match self {
            Progress::Quiet => {}
            Progress::Lines(_) => eprintln!("{text}"),
            Progress::Bars(bars) => bars.multi.suspend(|| eprintln!("{text}")),
        }
    }

    pub fn clear(&self) {
        if let Progress::Bars(bars) = self {
            bars.overall.finish_and_clear();
        }
    }
}
