//! How a build tells what it is doing: live bars on a terminal, plain lines elsewhere,
//! nothing but errors with `--quiet`, or one JSON object a line on stdout with
//! `--message-format json`. The builder hands every [`Event`] here.

mod event;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

pub use event::Event;

pub enum Progress {
    Quiet,
    Lines(Mutex<Counts>),
    Bars(Bars),
    Json,
}

#[derive(Default)]
pub struct Counts {
    done: usize,
    total: usize,
    /// How long the rest of the build takes, by the last builds' times.
    left: Option<f64>,
}

/// The running instances' spinners, each with its phase, that phase's log (whose last line a
/// ticker shows) and how long its last build took.
type Running = Arc<Mutex<BTreeMap<String, (ProgressBar, String, PathBuf, Option<f64>)>>>;

pub struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    running: Running,
}

impl Progress {
    pub fn new(quiet: bool, json: bool) -> Progress {
        if json {
            Progress::Json
        } else if quiet {
            Progress::Quiet
        } else if std::io::stderr().is_terminal() {
            let multi = MultiProgress::new();
            let overall = multi.add(ProgressBar::new(0));
            overall.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} recipes, {elapsed}{msg}")
                    .unwrap(),
            );
            let running = Running::default();
            show_log_steps(running.clone());
            Progress::Bars(Bars {
                multi,
                overall,
                running,
            })
        } else {
            Progress::Lines(Mutex::new(Counts::default()))
        }
    }

    pub fn total(&self, total: usize) {
        match self {
            Progress::Quiet | Progress::Json => {}
            Progress::Lines(counts) => counts.lock().unwrap().total = total,
            Progress::Bars(bars) => bars.overall.set_length(total as u64),
        }
    }

    /// How long the rest of the build takes, if known; shown with the next event that ends an
    /// instance.
    pub fn left(&self, seconds: Option<f64>) {
        match self {
            Progress::Quiet | Progress::Json => {}
            Progress::Lines(counts) => counts.lock().unwrap().left = seconds,
            Progress::Bars(bars) => bars.overall.set_message(match seconds {
                Some(seconds) if seconds > 0.0 => format!(", about {} left", about(seconds)),
                _ => String::new(),
            }),
        }
    }

    pub fn event(&self, event: Event) {
        match self {
            Progress::Quiet => {}
            Progress::Json => println!(
                "{}",
                serde_json::to_string(&event).expect("an event serializes")
            ),
            Progress::Lines(counts) => {
                let mut counts = counts.lock().unwrap();
                if let Some(line) = line_of(&event) {
                    let mut count = String::new();
                    if counted(&event) {
                        counts.done += 1;
                        if let Some(left) = counts.left.filter(|_| counts.done < counts.total) {
                            count = format!(", about {} left", about(left));
                        }
                    }
                    eprintln!("[{}/{}{count}] {line}", counts.done, counts.total);
                } else if let Event::Phase { id, phase, .. } = &event {
                    eprintln!("    {id}: {phase}");
                }
                summarize(&event);
            }
            Progress::Bars(bars) => bars.show(&event),
        }
    }

    pub fn message(&self, text: &str) {
        match self {
            Progress::Quiet => {}
            Progress::Lines(_) | Progress::Json => eprintln!("{text}"),
            Progress::Bars(bars) => bars.multi.suspend(|| eprintln!("{text}")),
        }
    }

    pub fn clear(&self) {
        if let Progress::Bars(bars) = self {
            bars.overall.finish_and_clear();
        }
    }
}

impl Bars {
    fn show(&self, event: &Event) {
        let mut running = self.running.lock().unwrap();
        match event {
            Event::Started {
                id,
                version,
                estimate_seconds,
                ..
            } => {
                let bar = self
                    .multi
                    .insert_before(&self.overall, ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {prefix} {msg} {elapsed}").unwrap(),
                );
                bar.set_prefix(match estimate_seconds {
                    Some(seconds) => format!("{id} {version} (last build {seconds:.0} s)"),
                    None => format!("{id} {version}"),
                });
                bar.enable_steady_tick(Duration::from_millis(200));
                running.insert(
                    id.clone(),
                    (
                        bar,
                        "starting".to_string(),
                        PathBuf::new(),
                        *estimate_seconds,
                    ),
                );
            }
            Event::Phase { id, phase, log } => {
                if let Some((bar, shown, shown_log, _)) = running.get_mut(id) {
                    bar.set_message(phase.clone());
                    (*shown, *shown_log) = (phase.clone(), log.clone());
                }
            }
            _ => {
                if let Some(line) = line_of(event) {
                    if let Some((bar, ..)) = running.remove(event_id(event)) {
                        bar.finish_and_clear();
                    }
                    if counted(event) {
                        self.overall.inc(1);
                    }
                    self.multi.suspend(|| eprintln!("{line}"));
                }
                summarize(event);
            }
        }
    }
}

/// The line a person reads for an event that starts or ends an instance.
fn line_of(event: &Event) -> Option<String> {
    match event {
        Event::Started {
            id,
            version,
            estimate_seconds,
            ..
        } => Some(match estimate_seconds {
            Some(seconds) => format!("{id} {version}: started, its last build took {seconds:.1}s"),
            None => format!("{id} {version}: started"),
        }),
        Event::Finished { id, seconds } => Some(format!("{id}: built in {seconds:.1}s")),
        Event::Pulled { id, seconds } => Some(format!(
            "{id}: pulled from the remote cache in {seconds:.1}s"
        )),
        Event::Failed { id, seconds, .. } => Some(format!("{id}: FAILED in {seconds:.1}s")),
        Event::UpToDate { id, why, fresh } if !fresh => Some(format!("{id}: up to date: {why}")),
        _ => None,
    }
}

/// `12 s`, `5 min`, `2 h 5 min`, rounded up to the second.
fn about(seconds: f64) -> String {
    let seconds = seconds.ceil().max(1.0) as u64;
    match seconds {
        0..90 => format!("{seconds} s"),
        90..5400 => format!("{} min", (seconds + 30) / 60),
        _ => format!("{} h {} min", seconds / 3600, (seconds % 3600) / 60),
    }
}

/// Whether the event ends one of the instances the build counts.
fn counted(event: &Event) -> bool {
    !matches!(event, Event::Started { .. })
}

fn event_id(event: &Event) -> &str {
    match event {
        Event::Started { id, .. }
        | Event::Phase { id, .. }
        | Event::Finished { id, .. }
        | Event::Pulled { id, .. }
        | Event::Failed { id, .. }
        | Event::UpToDate { id, .. }
        | Event::Skipped { id } => id,
        Event::BuildFinished { .. } => "",
    }
}

/// The last line on stdout, for a build that succeeded.
fn summarize(event: &Event) {
    if let Event::BuildFinished {
        success: true,
        built,
        pulled,
        up_to_date,
        ..
    } = event
    {
        if *built == 0 && *pulled == 0 {
            println!("nothing to do: {up_to_date} recipe instance(s) up to date");
        } else if *pulled == 0 {
            println!("built {built} recipe instance(s), {up_to_date} up to date");
        } else {
            println!("built {built} recipe instance(s), {pulled} pulled from the remote cache, {up_to_date} up to date");
        }
    }
}

/// Shows, every second, how far each running phase got, by its log, until the bars are gone.
fn show_log_steps(running: Running) {
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(1));
        if Arc::strong_count(&running) == 1 {
            break;
        }
        for (bar, phase, log, estimate) in running.lock().unwrap().values() {
            let step = last_line(log).as_deref().and_then(step_of);
            let left = estimate.map(|seconds| seconds - bar.elapsed().as_secs_f64());
            bar.set_message(status(phase, step, left));
        }
    });
}

/// What a running instance's spinner says: its phase, how far the log says it got, and how
/// long it has left if it takes as long as its last build.
fn status(phase: &str, step: Option<String>, left: Option<f64>) -> String {
    let mut status = phase.to_string();
    if let Some(step) = step {
        status += &format!(": {step}");
    }
    match left {
        Some(left) if left >= 1.0 => status += &format!(", about {left:.0} s left"),
        Some(_) => status += ", taking longer than last time",
        None => {}
    }
    status
}

/// The last line of a log, from its last 4 KiB, not counting the folder of a command.
fn last_line(log: &Path) -> Option<String> {
    let mut file = std::fs::File::open(log).ok()?;
    let _ = file.seek(SeekFrom::End(-4096));
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).ok()?;
    let text = String::from_utf8_lossy(&tail);
    // Below the command a log starts with is the folder it runs in: the command says more.
    let line = text.lines().rev().find(|line| {
        let line = line.trim();
        !line.is_empty() && !line.starts_with("(in /")
    })?;
    Some(line.trim().to_string())
}

/// How far a log's last line says the phase is: ninja's `[n/m]` step or cmake's `[ 45%]`
/// when the line has one, else the line itself, shortened.
fn step_of(line: &str) -> Option<String> {
    if let Some(step) = bracketed_step(line) {
        return Some(step);
    }
    let short: String = line.chars().take(60).collect();
    (!short.is_empty()).then_some(short)
}

fn bracketed_step(line: &str) -> Option<String> {
    let inside = line.strip_prefix('[')?.split_once(']')?.0.trim();
    let is_step = match inside.split_once('/') {
        Some((done, total)) => [done, total]
            .iter()
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
        None => inside
            .strip_suffix('%')
            .is_some_and(|n| n.trim().parse::<u8>().is_ok()),
    };
    is_step.then(|| format!("[{inside}]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logged_step_count_is_the_phase_progress() {
        assert_eq!(
            step_of("[12/345] Building C object lib/CMakeFiles/x.dir/a.c.o").as_deref(),
            Some("[12/345]")
        );
        assert_eq!(
            step_of("[ 45%] Building CXX object foo.o").as_deref(),
            Some("[45%]")
        );
        assert_eq!(
            step_of("[option] not a step").as_deref(),
            Some("[option] not a step")
        );
        assert_eq!(step_of("").as_deref(), None);
    }

    #[test]
    fn a_spinner_says_the_phase_the_step_and_the_time_left() {
        assert_eq!(
            status("build", Some("[3/7]".into()), Some(42.4)),
            "build: [3/7], about 42 s left"
        );
        assert_eq!(
            status("check", None, Some(0.2)),
            "check, taking longer than last time"
        );
        assert_eq!(status("install", None, None), "install");
    }

    #[test]
    fn the_time_left_reads_the_way_people_say_it() {
        assert_eq!(about(0.2), "1 s");
        assert_eq!(about(41.3), "42 s");
        assert_eq!(about(400.0), "7 min");
        assert_eq!(about(7500.0), "2 h 5 min");
    }

    #[test]
    fn the_last_line_of_a_log_is_read_from_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("build.log");
        let mut text = "x".repeat(10_000);
        text += "\n[3/7] Linking\n\n";
        std::fs::write(&log, &text).unwrap();
        assert_eq!(last_line(&log).as_deref(), Some("[3/7] Linking"));
        text += "$ make -j2\n  (in /build/build)\n";
        std::fs::write(&log, &text).unwrap();
        assert_eq!(last_line(&log).as_deref(), Some("$ make -j2"));
    }
}
