use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rhai::{CallFnOptions, Dynamic, Map, Scope};

use crate::config::Config;
use crate::context::{Context, Inner};
use crate::error::{Error, Result};
use crate::fetch::{Fetcher, Origin, Warn};
use crate::file_conflict::FileConflict;
use crate::isolation::Isolation;
use crate::key::Inputs;
use crate::layout::Layout;
use crate::merge;
use crate::plan::{Instance, Plan, Status};
use crate::progress::{Event, Progress};
use crate::recipe::Recipe;
use crate::record::Record;
use crate::remove::remove_all;
use crate::reproducible;
use crate::resume::{self, BuildState};
use crate::sandbox::{Bind, Emulator, Sandbox};
use crate::script_error::{ScriptError, Snippet};
use crate::scripts::{Scripts, PHASES};
use crate::source_tree;
use crate::stage::Roots;
use crate::target::Target;
use crate::timeline::{self, Entry, Timeline};
use crate::undeclared;
use crate::usage;
use crate::view;

mod cached;
mod eta;
mod executed;
mod schedule;
mod turns;
use schedule::Schedule;

/// How many sources are downloaded at once before building.
const PARALLEL_FETCHES: usize = 4;

/// Runs planned recipe instances: fetches what is missing, then builds ready instances in
/// parallel under one jobserver, committing each package only when all its phases succeeded.
pub struct Builder<'a> {
    pub scripts: &'a Scripts,
    pub config: &'a Config,
    pub fetcher: &'a Fetcher,
    pub plan: &'a Plan,
    pub progress: Arc<Progress>,
    pub jobserver: jobserver::Client,
    pub keep_going: bool,
    /// Held while a package is merged, so that two packages of one stage never check their
    /// files against the root at the same time.
    pub merging: Mutex<()>,
    /// The output hash of each instance built or found built in this run, which its
    /// dependents are keyed on.
    pub outputs: Mutex<BTreeMap<usize, String>>,
    /// Where each instance's job slot and steps are written down as they happen.
    pub timeline: Timeline,
    /// Which job slots are taken: an instance holding a job token takes the lowest free one,
    /// so the timeline can show the slots as lanes.
    pub slots: Mutex<Vec<bool>>,
    /// The instances under way: when each took its job slot (none yet while it waits for
    /// one) and how long its last build took, for the time the build has left.
    pub running: Mutex<BTreeMap<usize, UnderWay>>,
    /// The order in which instances waiting for a job token get one.
    pub turns: turns::Turns<jobserver::Acquired>,
    /// The job token of each instance that finished, kept until the instances its end made
    /// ready are queued for one: handed back earlier, it would go to one that waited longer,
    /// whatever its priority.
    pub returning: Mutex<BTreeMap<usize, jobserver::Acquired>>,
    /// The shared cache instances are pulled from (and, when it allows, pushed to).
    pub remote: Option<Arc<crate::remote_cache::RemoteCache>>,
    /// The execution service instances are built on instead of here, when one is given.
    pub executor: Option<crate::remote_exec::RemoteExecutor>,
}

/// When an instance under way took its job slot, and how long its last build took.
type UnderWay = (Option<Instant>, Option<f64>);

/// Builds `selection` of `plan` in `config`'s work dir, with progress on the terminal (or JSON
/// events), every recipe's sources known to the fetcher for its errors.
pub fn build_selection(
    session: &crate::session::Session,
    config: &Config,
    plan: &Plan,
    selection: &[usize],
) -> Result<()> {
    for recipe in &plan.recipes {
        session
            .fetcher
            .know_sources(recipe.sources.iter().map(crate::recipe::Source::declared));
    }
    let progress = Arc::new(Progress::new(
        config.quiet,
        session.cli.message_format == crate::cli::MessageFormat::Json,
    ));
    let builder = Builder::new(session, config, plan, progress.clone())?;
    builder.build(selection)?;
    drop::<Arc<Progress>>(progress);
    Ok(())
}

/// `build`'s outcome, or an error naming `id` if it panicked: the scheduler waits for every
/// builder thread's answer, so a panic must become one rather than a hang.
fn unless_panicked(id: &str, build: impl FnOnce() -> (Result<Done>, f64)) -> (Result<Done>, f64) {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(build)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|text| text.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_string());
        (Err(Error::Crashed(id.to_string(), what)), 0.0)
    })
}

/// How one instance of a build ended.
enum Done {
    Built,
    /// Its dependencies were rebuilt to the outputs it was built on: nothing to do.
    CutOff,
    /// Its package came from the remote cache.
    Pulled,
}

/// What a build did.
#[derive(Debug, Default)]
pub struct Summary {
    pub built: Vec<String>,
    pub pulled: Vec<String>,
    pub reused: usize,
    pub failed: Vec<String>,
    pub skipped: Vec<String>,
}

impl<'a> Builder<'a> {
    /// A builder for `plan` in `config`'s work dir, with a job pool of `config.jobs`.
    pub fn new(
        session: &'a crate::session::Session,
        config: &'a Config,
        plan: &'a Plan,
        progress: Arc<Progress>,
    ) -> Result<Builder<'a>> {
        let jobserver = jobserver::Client::new(config.jobs)
            .map_err(|error| Error::io("cannot create the job pool in", &config.work_dir, error))?;
        // The session's cache, unless this configuration leaves it out (verify's second build).
        let remote = match config.remote_cache {
            None if !config.remote_cache_write => None,
            _ => session.remote_cache(progress_warns(&progress))?,
        };
        Ok(Builder {
            scripts: &session.scripts,
            config,
            fetcher: &session.fetcher,
            plan,
            progress,
            jobserver,
            keep_going: session.cli.keep_going,
            merging: Mutex::new(()),
            outputs: Default::default(),
            timeline: Timeline::new(&config.work_dir),
            slots: Default::default(),
            running: Default::default(),
            turns: Default::default(),
            returning: Default::default(),
            remote,
            executor: crate::remote_exec::open(config)?,
        })
    }
}

impl Builder<'_> {
    /// The calls that cannot work in the recipes of `todo`, all reported before anything
    /// builds, so a typo in an install phase does not wait for a long build to fail.
    fn check_calls(&self, todo: &[usize]) -> Result<()> {
        let recipes: std::collections::BTreeSet<usize> = todo
            .iter()
            .map(|index| self.plan.instances[*index].recipe)
            .collect();
        let problems = recipes
            .into_iter()
            .filter_map(|recipe| self.plan.recipes[recipe].check_calls(self.scripts).err())
            .collect();
        Error::from_all(problems)
    }

    /// Builds `selection` and everything it depends on that is not built already.
    pub fn build(&self, selection: &[usize]) -> Result<Summary> {
        // A merge a killed serpent left half done is undone before anything looks at a root.
        for package in merge::recover(&self.config.work_dir)? {
            self.progress
                .message(&format!("{package}: rolled back its unfinished merge"));
        }
        let plan = self.plan;
        let wanted = plan.closure(selection);
        let todo: Vec<usize> = wanted
            .iter()
            .copied()
            .filter(|index| plan.instances[*index].status != Status::Built)
            .collect();
        self.check_calls(&todo)?;
        let mut summary = Summary {
            reused: wanted.len() - todo.len(),
            ..Summary::default()
        };
        for index in wanted.iter().filter(|index| !todo.contains(index)) {
            self.progress.event(Event::UpToDate {
                id: plan.instances[*index].id.clone(),
                fresh: true,
                why: "its record matches its inputs".into(),
            });
        }
        self.outputs.lock().unwrap().extend(
            wanted
                .iter()
                .filter_map(|index| Some((*index, plan.instances[*index].output.clone()?))),
        );
        let result = self.build_todo(&todo, &mut summary);
        self.progress.event(Event::BuildFinished {
            success: result.is_ok(),
            built: summary.built.len(),
            pulled: summary.pulled.len(),
            up_to_date: summary.reused,
            failed: summary.failed.len(),
            skipped: summary.skipped.len(),
        });
        result.map(|()| summary)
    }

    /// Builds the instances not built yet, in dependency order, noting them in the timeline.
    fn build_todo(&self, todo: &[usize], summary: &mut Summary) -> Result<()> {
        if todo.is_empty() {
            return Ok(());
        }
        self.fetch_before_building(todo)?;
        self.timeline.begin(self.config.jobs)?;
        self.progress.total(todo.len());
        let mut schedule = Schedule::new(todo, |index| &self.plan.instances[index].deps);
        // A build that failed left no record, but the timeline still has its last success.
        let earlier = Timeline::read(&self.config.work_dir)
            .map(|entries| timeline::build_times(&entries))
            .unwrap_or_default();
        let estimates: BTreeMap<usize, f64> = todo
            .iter()
            .filter_map(|index| {
                let instance = &self.plan.instances[*index];
                let seconds = Record::read(&instance.layout.record())
                    .map(|record| record.seconds)
                    .or_else(|| earlier.get(&instance.id).copied())?;
                Some((*index, seconds))
            })
            .collect();
        self.turns.prioritize(turns::chain_lengths(
            todo,
            |index| &self.plan.instances[index].deps,
            &self.with_builds_elsewhere(todo, &estimates),
        ));
        let errors = self.run_schedule(&mut schedule, summary, &estimates);
        self.progress.clear();
        if !errors.is_empty() {
            return Err(self.failure(summary, &schedule, errors));
        }
        Ok(())
    }

    /// The estimates for ordering the build: an instance never built here counts as long as
    /// the same package's last build in another stage or for another target of the plan (a
    /// stage3 package as its stage2 build), which says more than no figure at all. The time
    /// left shown while building keeps to the instances' own builds.
    fn with_builds_elsewhere(
        &self,
        todo: &[usize],
        estimates: &BTreeMap<usize, f64>,
    ) -> BTreeMap<usize, f64> {
        let mut elsewhere: BTreeMap<&str, f64> = BTreeMap::new();
        for instance in &self.plan.instances {
            let name = self.plan.recipe_of(instance).name.as_str();
            if !elsewhere.contains_key(name) {
                if let Some(record) = Record::read(&instance.layout.record()) {
                    elsewhere.insert(name, record.seconds);
                }
            }
        }
        todo.iter()
            .filter_map(|index| {
                let name = self
                    .plan
                    .recipe_of(&self.plan.instances[*index])
                    .name
                    .as_str();
                let seconds = estimates.get(index).or_else(|| elsewhere.get(name))?;
                Some((*index, *seconds))
            })
            .collect()
    }

    /// Fetches every missing source before any build starts. With --keep-going a source that
    /// cannot be fetched stops nothing: the recipes that need it fail when their turn comes,
    /// with the fetch's own error, and everything else is still built.
    fn fetch_before_building(&self, todo: &[usize]) -> Result<()> {
        match self.fetch_all(todo) {
            Err(error) if self.keep_going => self.progress.message(&format!(
                "{}; with --keep-going, the recipes that need them fail and the rest are built",
                match &error {
                    Error::Many(errors) => format!("{} sources could not be fetched", errors.len()),
                    _ => "a source could not be fetched".to_string(),
                }
            )),
            other => other?,
        }
        Ok(())
    }

    /// Builds the scheduled instances, each on its own thread as soon as its dependencies are
    /// done, and returns the errors of those that failed. Without --keep-going the first
    /// failure starts nothing more, but what already runs is let finish and is reported.
    fn run_schedule(
        &self,
        schedule: &mut Schedule,
        summary: &mut Summary,
        estimates: &BTreeMap<usize, f64>,
    ) -> Vec<Error> {
        let mut errors: Vec<Error> = Vec::new();
        let (sender, receiver) = mpsc::channel::<(usize, Result<Done>, f64)>();
        let mut ended = None;
        std::thread::scope(|scope| {
            scope.spawn(|| self.turns.dispatch(|| self.jobserver.acquire()));
            loop {
                let stop = !errors.is_empty() && !self.keep_going;
                if !stop {
                    let ready: Vec<usize> = std::iter::from_fn(|| schedule.ready()).collect();
                    self.turns.enqueue(&ready);
                    for index in ready {
                        let estimate = estimates.get(&index).copied();
                        self.running.lock().unwrap().insert(index, (None, estimate));
                        let sender = sender.clone();
                        let id = &self.plan.instances[index].id;
                        scope.spawn(move || {
                            let (result, seconds) =
                                unless_panicked(id, || self.build_one(index, timeline::now()));
                            let _ = sender.send((index, result, seconds));
                        });
                    }
                }
                // The ended instance's token goes back only now that what it made ready waits.
                if let Some(index) = ended.take() {
                    self.returning.lock().unwrap().remove(&index);
                }
                if schedule.running() == 0 {
                    break;
                }
                let (index, result, seconds) = receiver.recv().expect("a builder thread reports");
                ended = Some(index);
                self.running.lock().unwrap().remove(&index);
                self.progress.left(self.time_left(schedule, estimates));
                if let Err(error) = self.note_end(index, result, seconds, summary) {
                    errors.push(error);
                    schedule.failed(index);
                } else {
                    schedule.done(index);
                }
            }
            self.turns.close();
        });
        errors
    }

    /// Reports how an instance's build ended and notes it in the summary; a failure is
    /// handed back.
    fn note_end(
        &self,
        index: usize,
        result: Result<Done>,
        seconds: f64,
        summary: &mut Summary,
    ) -> Result<()> {
        let id = self.plan.instances[index].id.clone();
        match result {
            Ok(Done::CutOff) => {
                self.progress.event(Event::UpToDate {
                    id,
                    fresh: false,
                    why: "its dependencies' outputs did not change".into(),
                });
                summary.reused += 1;
            }
            Ok(Done::Pulled) => {
                self.progress.event(Event::Pulled {
                    id: id.clone(),
                    seconds,
                });
                summary.pulled.push(id);
            }
            Ok(Done::Built) => {
                self.progress.event(Event::Finished {
                    id: id.clone(),
                    seconds,
                });
                summary.built.push(id);
            }
            Err(error) => {
                self.progress.event(self.failed(index, &error, seconds));
                summary.failed.push(id);
                return Err(error);
            }
        }
        Ok(())
    }

    /// How long the rest of the build takes if each instance takes as long as its last build;
    /// unknown while one of them was never built.
    fn time_left(&self, schedule: &Schedule, estimates: &BTreeMap<usize, f64>) -> Option<f64> {
        let mut running = BTreeMap::new();
        let mut waiting = BTreeMap::new();
        for (index, (took_slot, estimate)) in self.running.lock().unwrap().iter() {
            let estimate = (*estimate)?;
            // One waiting for a job slot needs nothing more, but a slot.
            match took_slot {
                Some(at) => {
                    running.insert(*index, (estimate - at.elapsed().as_secs_f64()).max(0.0));
                }
                None => {
                    waiting.insert(*index, (estimate, Vec::new()));
                }
            }
        }
        for (index, needs) in schedule.unstarted() {
            waiting.insert(index, (*estimates.get(&index)?, needs.to_vec()));
        }
        Some(eta::remaining(self.config.jobs, &running, &waiting))
    }

    /// The error of a build that had failures. When one error alone does not tell what
    /// happened (several failed, some were not built because of them, or some were built),
    /// says so first, listing what was not built.
    fn failure(&self, summary: &mut Summary, schedule: &Schedule, mut errors: Vec<Error>) -> Error {
        summary.skipped.extend(
            schedule
                .not_built()
                .map(|index| self.plan.instances[index].id.clone()),
        );
        summary.skipped.sort();
        summary.skipped.dedup();
        for id in &summary.skipped {
            self.progress.event(Event::Skipped { id: id.clone() });
        }
        if !summary.skipped.is_empty() || summary.failed.len() > 1 || !summary.built.is_empty() {
            self.progress.message(&format!(
                "failed: {}\nnot built because of that: {}\nbuilt: {}",
                summary.failed.join(", "),
                if summary.skipped.is_empty() {
                    "none".to_string()
                } else {
                    summary.skipped.join(", ")
                },
                summary.built.len()
            ));
        }
        if errors.len() == 1 {
            errors.remove(0)
        } else {
            Error::Many(errors)
        }
    }

    /// Every missing source of the instances, fetched in parallel before any build starts;
    /// every one, when they are uploaded to a remote cache.
    fn fetch_all(&self, todo: &[usize]) -> Result<()> {
        let uploads = self.fetcher.uploads();
        let mut sources: Vec<(String, String)> = todo
            .iter()
            .flat_map(|index| {
                self.plan
                    .recipe_of(&self.plan.instances[*index])
                    .sources
                    .iter()
            })
            .filter(|source| uploads || !self.fetcher.store().contains(&source.sha256))
            .map(|source| (source.url.clone(), source.sha256.clone()))
            .collect();
        sources.sort();
        sources.dedup_by(|a, b| a.1 == b.1);
        if sources.is_empty() {
            return Ok(());
        }
        let missing = sources
            .iter()
            .filter(|(_, sha256)| !self.fetcher.store().contains(sha256))
            .count();
        if missing > 0 {
            self.progress
                .message(&format!("fetching {missing} source(s)"));
        }
        let queue = Mutex::new(sources);
        let errors = Mutex::new(Vec::new());
        let from_cache = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..PARALLEL_FETCHES {
                scope.spawn(|| loop {
                    let Some((url, sha256)) = queue.lock().unwrap().pop() else {
                        break;
                    };
                    match self.fetcher.fetch(&url, &sha256) {
                        Ok(fetched) => {
                            if let Origin::RemoteCache(address) = fetched.origin {
                                from_cache.lock().unwrap().push(address);
                            }
                        }
                        Err(error) => errors.lock().unwrap().push(Error::from(error)),
                    }
                });
            }
        });
        let from_cache = from_cache.into_inner().unwrap();
        if let Some(address) = from_cache.first() {
            self.progress.message(&format!(
                "{} of {missing} source(s) came from the remote cache {address}",
                from_cache.len()
            ));
        }
        let mut errors = errors.into_inner().unwrap();
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(Error::Many(errors)),
        }
    }

    /// The event of an instance that failed: the phase and log of the command that failed, or
    /// else the newest log of its build.
    fn failed(&self, index: usize, error: &Error, seconds: f64) -> Event {
        let instance = &self.plan.instances[index];
        let (phase, log) = match error {
            Error::Command(failure) => (Some(failure.phase.clone()), Some(failure.log.clone())),
            _ => (None, newest_log(&instance.layout.logs())),
        };
        Event::Failed {
            id: instance.id.clone(),
            seconds,
            phase,
            log,
            message: error.to_string(),
        }
    }

    /// Builds one instance while holding one jobserver token and a job slot, unless keying it
    /// on its dependencies' new outputs finds it built already. `ready` is when its
    /// dependencies were done; the seconds returned count from when it took its slot.
    fn build_one(&self, index: usize, ready: f64) -> (Result<Done>, f64) {
        let _in_queue = turns::InQueue {
            turns: &self.turns,
            index,
        };
        let (inputs, key) = self
            .plan
            .rekey(index, |dep| self.outputs.lock().unwrap().get(&dep).cloned());
        let instance = &self.plan.instances[index];
        let record = Record::read(&instance.layout.record());
        match self.cut_off(index, record.clone(), &key) {
            Ok(false) => {}
            cut_off => return (cut_off.map(|_| Done::CutOff), 0.0),
        }
        let token = match self.turns.take(index) {
            Ok(token) => token,
            Err(error) => {
                let error = Error::io(
                    "cannot take a job token from",
                    self.config.work_dir.clone(),
                    error,
                );
                return (Err(error), 0.0);
            }
        };
        let slot = self.take_slot();
        let started = Instant::now();
        let mut estimate = None;
        if let Some((took_slot, last)) = self.running.lock().unwrap().get_mut(&index) {
            (*took_slot, estimate) = (Some(started), *last);
        }
        let result = self
            .timeline
            .write(|run| Entry::Instance {
                run,
                id: instance.id.clone(),
                slot,
                ready,
                start: timeline::now(),
                deps: instance
                    .deps
                    .iter()
                    .map(|dep| self.plan.instances[*dep].id.clone())
                    .collect(),
            })
            .and_then(|()| {
                self.progress.event(Event::Started {
                    id: instance.id.clone(),
                    version: self.plan.recipe_of(instance).version.clone(),
                    slot,
                    estimate_seconds: estimate,
                });
                self.build_on_slot(index, slot, started, (&inputs, &key))
            });
        let seconds = started.elapsed().as_secs_f64();
        self.slots.lock().unwrap()[slot] = false;
        self.returning.lock().unwrap().insert(index, token);
        if let Ok(Done::Built) = result {
            self.push(index, &key);
        }
        (result, seconds)
    }

    /// Whether the record says the instance is built with this key already (its dependencies
    /// were rebuilt to the outputs it was built on); it notes so in the record.
    fn cut_off(&self, index: usize, record: Option<Record>, key: &str) -> Result<bool> {
        let instance = &self.plan.instances[index];
        let Some(mut record) = record else {
            return Ok(false);
        };
        let Some(output) = record.output.clone() else {
            return Ok(false);
        };
        if record.key != key || !instance.layout.package().is_dir() {
            return Ok(false);
        }
        self.outputs.lock().unwrap().insert(index, output);
        // Said by `serpent explain`: which rebuilt dependencies changed nothing.
        record.cut_off = instance
            .deps
            .iter()
            .filter(|dep| self.plan.instances[**dep].status != Status::Built)
            .map(|dep| self.plan.instances[*dep].id.clone())
            .collect();
        record.write(&instance.layout.record())?;
        Ok(true)
    }

    /// The lowest job slot not taken, taken.
    fn take_slot(&self) -> usize {
        let mut slots = self.slots.lock().unwrap();
        let slot = slots.iter().position(|taken| !taken).unwrap_or(slots.len());
        if slot == slots.len() {
            slots.push(true);
        } else {
            slots[slot] = true;
        }
        slot
    }

    /// Runs `step` of an instance's build on its job slot and writes it into the timeline.
    fn span<T>(
        &self,
        (id, slot): (&str, usize),
        phase: &str,
        step: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let start = timeline::now();
        let result = step();
        let end = timeline::now();
        self.timeline.write(|run| Entry::Span {
            run,
            id: id.to_string(),
            phase: phase.to_string(),
            slot,
            start,
            end,
            ok: result.is_ok(),
        })?;
        result
    }

    /// Builds the instance on its job slot: resumes or prepares its sources, assembles its
    /// view, runs its phases, then merges and records the package.
    fn build_on_slot(
        &self,
        index: usize,
        slot: usize,
        started: Instant,
        (inputs, key): (&Inputs, &str),
    ) -> Result<Done> {
        let instance = &self.plan.instances[index];
        let recipe = self.plan.recipe_of(instance);
        let layout = &instance.layout;
        // A record that no longer matches is removed first: from here until the new one is
        // written, the instance is not built, whatever happens to this process.
        let _ = std::fs::remove_file(layout.record());
        if self.pull(index, (inputs, key))? {
            return Ok(Done::Pulled);
        }
        if let Some(done) = self.execute_remotely(index, started, (inputs, key))? {
            return Ok(done);
        }
        let mut state = self.start_or_resume(recipe, instance, key, slot)?;
        let in_view = self.plan.view_of(index);
        let packages: Vec<PathBuf> = in_view
            .iter()
            .map(|dep| self.plan.instances[*dep].layout.package())
            .collect();
        let assembling = Instant::now();
        let seal = view::assemble(&layout.view(), &packages)?;
        if self.config.verbose {
            self.progress.message(&format!(
                "{}: its view of the stage is {} package(s), {} file(s), assembled in {} ms",
                instance.id,
                packages.len(),
                seal.files(),
                assembling.elapsed().as_millis()
            ));
        }
        usage::take();
        let phases = self.run_phases(recipe, instance, &mut state, slot);
        self.refuse_changed_dependencies(instance, &in_view, &seal)?;
        phases?;
        let destdir = layout.destdir();
        self.refuse_links_into_work_dir(instance)?;
        reproducible::clamp_times(&destdir, state.source_date_epoch)
            .map_err(|error| Error::io("cannot set the times of", &destdir, error))?;
        self.span((&instance.id, slot), "merge", || {
            let seconds = started.elapsed().as_secs_f64();
            self.commit(index, (inputs, key), seconds, state.usage, None)
        })?;
        remove_all(&layout.view())?;
        Ok(Done::Built)
    }

    /// Runs the phases that have not finished yet, noting each as it finishes.
    fn run_phases(
        &self,
        recipe: &Recipe,
        instance: &Instance,
        state: &mut BuildState,
        slot: usize,
    ) -> Result<()> {
        let layout = &instance.layout;
        let context = self.context(recipe, instance, state.source_date_epoch)?;
        context.restore_env(&state.env);
        for phase in PHASES {
            // install always runs again: a build killed during its install or its merge has
            // no whole destination left to use.
            if phase != "install" && state.finished(phase) {
                continue;
            }
            if phase == "install" {
                let destdir = layout.destdir();
                remove_all(&destdir)?;
                std::fs::create_dir_all(&destdir)
                    .map_err(|error| Error::io("cannot create", &destdir, error))?;
            }
            if self.has_phase(recipe, phase) {
                self.span((&instance.id, slot), phase, || {
                    self.run_phase(recipe, &context, instance, phase)
                })?;
            }
            state.usage = state.usage.and(usage::take());
            state.env = context.env();
            state.finish(phase, &layout.build_state())?;
        }
        Ok(())
    }

    /// Fails a package with a link into the work dir: it would lead nowhere once the stage is
    /// used elsewhere (another machine, a cache, `qemu -L`), and its output would differ for
    /// every work dir.
    fn refuse_links_into_work_dir(&self, instance: &Instance) -> Result<()> {
        let destdir = instance.layout.destdir();
        let links = reproducible::links_into(&destdir, &self.config.work_dir)
            .map_err(|error| Error::io("cannot read", &destdir, error))?;
        if links.is_empty() {
            return Ok(());
        }
        let named: Vec<String> = links
            .iter()
            .map(|(link, target)| format!("/{link} -> {target}"))
            .collect();
        Err(Error::LinkIntoWorkDir(format!(
            "{} installs links into the work dir: {}",
            instance.id,
            named.join(", ")
        )))
    }

    /// Fails a build that wrote into files of the packages it was built on (through its
    /// view, which shares their files) and sends those packages back to be rebuilt.
    fn refuse_changed_dependencies(
        &self,
        instance: &Instance,
        in_view: &[usize],
        seal: &view::Seal,
    ) -> Result<()> {
        let broken = seal.broken();
        if broken.is_empty() {
            return Ok(());
        }
        let mut damaged = BTreeSet::new();
        let mut files = Vec::new();
        for (position, file) in &broken {
            let owner = &self.plan.instances[in_view[*position]];
            let _ = std::fs::remove_file(owner.layout.record());
            damaged.insert(owner.id.clone());
            let rel = file.strip_prefix(owner.layout.package()).unwrap_or(file);
            files.push(format!("/{} of {}", rel.display(), owner.id));
        }
        Err(Error::ChangedDependency(format!(
            "{} wrote into files of the packages it is built on: {}; {} will be built again",
            instance.id,
            files.join(", "),
            damaged.into_iter().collect::<Vec<_>>().join(", ")
        )))
    }

    /// Picks up an interrupted build of the same key where it stopped (unless `--fresh`), or
    /// starts from an empty scratch folder with the sources unpacked and patched.
    fn start_or_resume(
        &self,
        recipe: &Recipe,
        instance: &Instance,
        key: &str,
        slot: usize,
    ) -> Result<BuildState> {
        let layout = &instance.layout;
        if !self.config.fresh {
            if let Some(state) = BuildState::resumable(&layout.build_state(), key) {
                self.progress.message(&format!(
                    "{}: resuming after {}",
                    instance.id,
                    state.last().unwrap_or(resume::SOURCES)
                ));
                return Ok(state);
            }
        }
        remove_all(&layout.scratch())?;
        remove_all(&layout.logs())?;
        for dir in [
            layout.srcdir(),
            layout.builddir(),
            layout.destdir(),
            layout.logs(),
            layout.root(),
        ] {
            std::fs::create_dir_all(&dir)
                .map_err(|error| Error::io("cannot create", &dir, error))?;
        }
        if let Some(worker) = &self.config.worker {
            let log = layout.logs().join("worker.log");
            let text = format!(
                "{}: built on worker {worker} by serpent {}, as a remote action\n",
                instance.id,
                env!("CARGO_PKG_VERSION")
            );
            std::fs::write(&log, text).map_err(|error| Error::io("cannot write", &log, error))?;
            // Logs travel through the cache with whole-second times: dated a second back, this
            // one stays older than every phase's, so `serpent log` still shows the last phase.
            let earlier = std::time::SystemTime::now() - std::time::Duration::from_secs(1);
            std::fs::File::options()
                .write(true)
                .open(&log)
                .and_then(|file| file.set_modified(earlier))
                .map_err(|error| Error::io("cannot date", &log, error))?;
        }
        let mut state = BuildState::new(key);
        state.source_date_epoch = self.span((&instance.id, slot), resume::SOURCES, || {
            self.prepare_sources(recipe, instance)
        })?;
        state.finish(resume::SOURCES, &layout.build_state())?;
        Ok(state)
    }

    /// Unpacks and patches the sources; returns the newest time the archives recorded, which
    /// the build gets as `SOURCE_DATE_EPOCH`. What the patches did goes to
    /// `logs/<name>/patch.log`, and hunks that applied at an offset are also shown.
    fn prepare_sources(&self, recipe: &Recipe, instance: &Instance) -> Result<i64> {
        let srcdir = instance.layout.srcdir();
        let prepared =
            source_tree::prepare(self.fetcher, self.scripts, recipe, &instance.id, &srcdir)?;
        for offset in &prepared.offsets {
            self.progress.message(&format!("{}: {offset}", instance.id));
        }
        if !recipe.patches.is_empty() {
            let log_path = instance.layout.logs().join("patch.log");
            std::fs::write(&log_path, &prepared.patch_log)
                .map_err(|error| Error::io("cannot write", &log_path, error))?;
        }
        Ok(prepared.source_date_epoch)
    }

    /// The context a recipe's phases get: where its folders are, its tools and flags, the
    /// sandbox its commands run in, and the environment they start with.
    pub fn context(
        &self,
        recipe: &Recipe,
        instance: &Instance,
        source_date_epoch: i64,
    ) -> Result<Context> {
        let plan = self.plan;
        let target = &plan.targets[instance.target];
        let stage = &plan.stages[instance.stage];
        let layout = &instance.layout;
        // The build sees its own view of the stage (see crate::view), never the whole root.
        let root = layout.view();
        let previous = plan.previous_root(instance);
        let tools = self.toolchain(recipe, instance, &root, previous.as_deref())?;
        let flags = target_flags(target);
        let builddir = builddir(recipe, layout);
        let sandbox = self.sandbox(recipe, instance, previous.as_deref(), &builddir)?;
        let env = self.environment(
            instance,
            sandbox.is_some(),
            source_date_epoch,
            &tools,
            &flags,
        );
        let progress = self.progress.clone();
        let id = instance.id.clone();
        let logs = layout.logs();
        Ok(Context::new(Inner {
            name: recipe.name.clone(),
            version: recipe.version.clone(),
            stage: stage.name.clone(),
            target: target.data.clone(),
            // Inside the chroot the target is the machine that runs the build.
            host: if sandbox.is_some() {
                target.text("triple")
            } else {
                host_triple()
            },
            work_dir: self.config.work_dir.clone(),
            srcdir: layout.srcdir(),
            builddir,
            destdir: layout.destdir(),
            prefix: stage.prefix.clone(),
            sysroot: root,
            previous: previous.unwrap_or_default(),
            jobs: self.config.jobs as i64,
            jobserver: Some(self.jobserver.clone()),
            sandbox,
            tools,
            flags,
            declarations: recipe.declarations.clone(),
            logs: layout.logs(),
            env: Mutex::new(env),
            phase: Mutex::new(String::new()),
            on_phase: Some(Box::new(move |phase| {
                progress.event(Event::Phase {
                    id: id.clone(),
                    phase: phase.to_string(),
                    log: logs.join(format!("{phase}.log")),
                })
            })),
            verbose: self.config.verbose,
            failure: Mutex::new(None),
            recorded: None,
        }))
    }

    /// The tools the stage script picks for this build. It is shown the build's view as the
    /// stage's root (in the list of every stage's root too), since that view is all the
    /// build sees of its stage.
    fn toolchain(
        &self,
        recipe: &Recipe,
        instance: &Instance,
        root: &Path,
        previous: Option<&Path>,
    ) -> Result<Map> {
        let plan = self.plan;
        let stage = &plan.stages[instance.stage];
        let mut stage_roots = plan.stage_roots(instance);
        for (name, stage_root) in &mut stage_roots {
            if *name == stage.name {
                *stage_root = root.to_path_buf();
            }
        }
        stage.toolchain(
            self.scripts,
            &plan.targets[instance.target],
            &Roots {
                root,
                previous,
                stages: &stage_roots,
                isolation: stage.isolation_for(recipe),
            },
        )
    }

    /// The environment a build's commands start with: a fixed locale, time zone and
    /// terminal and the sources' SOURCE_DATE_EPOCH, so that the output does not depend on
    /// who builds, plus the tools and flags in the variables build systems read. Outside a
    /// sandbox it keeps the host's PATH and maps the work dir out of what compilers write.
    fn environment(
        &self,
        instance: &Instance,
        in_sandbox: bool,
        source_date_epoch: i64,
        tools: &Map,
        flags: &Map,
    ) -> BTreeMap<String, String> {
        let stage = &self.plan.stages[instance.stage];
        let layout = &instance.layout;
        let mut env = BTreeMap::new();
        if in_sandbox {
            env = stage.chroot_env();
        } else {
            env.insert(
                "PATH".to_string(),
                std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
            );
            env.insert(
                "HOME".to_string(),
                layout.scratch().to_string_lossy().into_owned(),
            );
            env.insert(
                "TMPDIR".to_string(),
                std::env::temp_dir().to_string_lossy().into_owned(),
            );
        }
        env.insert(
            "SOURCE_DATE_EPOCH".to_string(),
            source_date_epoch.to_string(),
        );
        if !in_sandbox {
            // Inside a chroot the paths are the same for every build; on the host, stage1's
            // compiler wrappers map the work dir out of what they write.
            env.insert(
                reproducible::PREFIX_MAP_VARIABLE.to_string(),
                reproducible::prefix_map(&self.config.work_dir),
            );
        }
        for (name, value) in [("LC_ALL", "C"), ("TZ", "UTC"), ("TERM", "dumb")] {
            env.entry(name.to_string())
                .or_insert_with(|| value.to_string());
        }
        for (tool, variable) in [
            ("cc", "CC"),
            ("cxx", "CXX"),
            ("ar", "AR"),
            ("ranlib", "RANLIB"),
            ("nm", "NM"),
            ("strip", "STRIP"),
            ("ld", "LD"),
        ] {
            env.insert(variable.to_string(), tools[tool].to_string());
        }
        for (flag, variable) in [
            ("cflags", "CFLAGS"),
            ("cxxflags", "CXXFLAGS"),
            ("ldflags", "LDFLAGS"),
        ] {
            env.insert(variable.to_string(), flags[flag].to_string());
        }
        env
    }

    /// The sandbox commands run in, for a recipe of a chroot stage (unless the recipe says
    /// `ISOLATION = "host"`): the stage's root as `/`, the previous stage's root read-only at
    /// `/serpent`, the source, build and install folders under `/build`, and qemu through a
    /// private binfmt_misc when the target is not the host's architecture.
    fn sandbox(
        &self,
        recipe: &Recipe,
        instance: &Instance,
        previous: Option<&Path>,
        builddir: &Path,
    ) -> Result<Option<Arc<Sandbox>>> {
        let stage = &self.plan.stages[instance.stage];
        if stage.isolation_for(recipe) == Isolation::Host {
            return Ok(None);
        }
        let layout = &instance.layout;
        let mut binds = Vec::new();
        if let Some(previous) = previous {
            binds.push(Bind {
                source: previous.to_path_buf(),
                target: "/serpent".into(),
                read_only: true,
            });
        }
        binds.push(Bind {
            source: layout.srcdir(),
            target: "/build/src".into(),
            read_only: false,
        });
        if builddir != layout.srcdir() {
            binds.push(Bind {
                source: builddir.to_path_buf(),
                target: "/build/build".into(),
                read_only: false,
            });
        }
        binds.push(Bind {
            source: layout.destdir(),
            target: "/build/dest".into(),
            read_only: false,
        });
        let target = &self.plan.targets[instance.target];
        let emulator = emulator_for(target)?;
        Ok(Some(Arc::new(Sandbox {
            root: layout.view(),
            read_only_root: true,
            binds,
            emulator,
        })))
    }

    /// Whether the recipe or its build style has the phase.
    fn has_phase(&self, recipe: &Recipe, phase: &str) -> bool {
        recipe.phases.iter().any(|name| name == phase)
            || recipe.style.as_ref().is_some_and(|style| {
                self.scripts
                    .module(style)
                    .is_some_and(|module| module.phases.iter().any(|name| name == phase))
            })
    }

    /// Runs one phase: the recipe's own function, else its build style's, else nothing.
    pub fn run_phase(
        &self,
        recipe: &Recipe,
        context: &Context,
        instance: &Instance,
        phase: &str,
    ) -> Result<()> {
        let engine = &self.scripts.engine;
        let own = recipe.phases.iter().any(|name| name == phase);
        let result = if own {
            context.set_phase(phase);
            engine
                .call_fn_with_options::<Dynamic>(
                    CallFnOptions::new().eval_ast(true),
                    &mut recipe.scope(),
                    &recipe.script.ast,
                    phase,
                    (context.clone(),),
                )
                .map(drop)
        } else if let Some(style) = &recipe.style {
            let offers = self
                .scripts
                .module(style)
                .is_some_and(|module| module.phases.iter().any(|name| name == phase));
            if !offers {
                return Ok(());
            }
            context.set_phase(phase);
            // A one-line script calls the style's phase, so errors carry the stdlib positions.
            // It has no name: the recipe's STYLE declaration stands for it in errors.
            let script = format!("import \"{style}\" as style; style::{phase}(ctx);");
            let mut scope = Scope::new();
            scope.push("ctx", context.clone());
            let ast = engine
                .compile_with_scope(&scope, &script)
                .map_err(|error| ScriptError::message(format!("internal: {error}")))?;
            engine.run_ast_with_scope(&mut scope, &ast)
        } else {
            return Ok(());
        };
        result.map_err(|error| {
            let location = if own {
                ScriptError::eval(&self.scripts.root, &recipe.script.name, &error, false)
            } else {
                style_phase_error(&self.scripts.root, recipe, phase, &error)
            };
            match context.take_failure() {
                Some(mut failure) => {
                    failure.recipe = instance.id.clone();
                    failure.location = Some(location.into_location());
                    let layout = &instance.layout;
                    failure.undeclared = undeclared::explain(
                        recipe,
                        &instance.id,
                        (&layout.view(), &[layout.srcdir(), layout.builddir()]),
                        &failure.log,
                        &installed_by_others(&instance.layout),
                    );
                    Error::from(failure)
                }
                None => Error::from(location),
            }
        })
    }

    /// Merges the installed files into the stage's root in place of the previous version's
    /// (all or nothing, see [`crate::merge`]), keeps them as the package, and only then writes
    /// the record. Files another package of the stage already put in the root are refused
    /// unless one of the two is built after the other.
    fn commit(
        &self,
        index: usize,
        (inputs, key): (&Inputs, &str),
        seconds: f64,
        used: usage::Usage,
        remote: Option<&str>,
    ) -> Result<()> {
        let instance = &self.plan.instances[index];
        let recipe = self.plan.recipe_of(instance);
        let layout = &instance.layout;
        let _merging = self
            .merging
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let files = merge::list_files(&layout.destdir());
        let others = installed_by_others(layout);
        self.refuse_conflicts(index, &files, &others)?;
        let previous = merge::merged_files(layout);
        // A file another package installs too goes back to that package's copy.
        let restore = |file: &str| {
            others
                .iter()
                .filter(|(_, owned)| owned.contains(file))
                .map(|(owner, _)| owned_copy(layout, owner, file))
                .find(|copy| copy.symlink_metadata().is_ok())
        };
        merge::merge(layout, &files, &previous, &restore)?;
        let package = layout.package();
        let output = crate::tree::digest(&package)
            .map_err(|error| Error::io("cannot hash the package", &package, error))?;
        self.outputs.lock().unwrap().insert(index, output.clone());
        let record = Record {
            id: instance.id.clone(),
            name: recipe.name.clone(),
            version: recipe.version.clone(),
            recipe: recipe.script.name.clone(),
            key: key.to_string(),
            inputs: inputs.values.clone(),
            details: inputs.details.clone(),
            seconds: (seconds * 10.0).round() / 10.0,
            output: Some(output),
            cut_off: Vec::new(),
            usage: Some(used),
            bytes: crate::tree::size(&package).ok(),
            remote: remote.map(str::to_string),
        };
        record.write(&layout.record())?;
        remove_all(&layout.scratch())
    }

    /// Fails for each other package of the stage that installed some of `files` and has no
    /// build order with this one; a package may replace what it was built on, and a package
    /// built on it replaces its files again when it is rebuilt.
    fn refuse_conflicts(
        &self,
        index: usize,
        files: &[String],
        others: &BTreeMap<String, BTreeSet<String>>,
    ) -> Result<()> {
        let plan = self.plan;
        let instance = &plan.instances[index];
        let below = plan.closure(&[index]);
        let mut conflicts = Vec::new();
        for (owner, owned) in others {
            let paths: Vec<String> = files
                .iter()
                .filter(|file| owned.contains(*file))
                .cloned()
                .collect();
            if paths.is_empty() {
                continue;
            }
            let planned = plan.instances.iter().position(|other| {
                other.layout.stage_dir == instance.layout.stage_dir && other.layout.name == *owner
            });
            if let Some(other) = planned {
                if below.contains(&other) || plan.closure(&[other]).contains(&index) {
                    continue;
                }
            }
            let stage = instance.id.rsplit_once('/').map_or("", |(stage, _)| stage);
            conflicts.push(Error::Conflict(Box::new(FileConflict {
                package: instance.id.clone(),
                owner: planned.map_or_else(
                    || format!("{stage}/{owner}"),
                    |other| plan.instances[other].id.clone(),
                ),
                owner_planned: planned.is_some(),
                stage_dir: instance.layout.stage_dir.clone(),
                paths,
            })));
        }
        match conflicts.len() {
            0 => Ok(()),
            1 => Err(conflicts.remove(0)),
            _ => Err(Error::Many(conflicts)),
        }
    }
}

/// The files each other package of the stage put into its root, by package name, from the
/// lists written when they were merged (kept while a package is rebuilt, since its files
/// stay in the root until then).
fn installed_by_others(layout: &Layout) -> BTreeMap<String, BTreeSet<String>> {
    let mut others = BTreeMap::new();
    let record = layout.record();
    let Some(Ok(entries)) = record.parent().map(std::fs::read_dir) else {
        return others;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path.file_stem().and_then(|stem| stem.to_str()) else {
            continue;
        };
        if path
            .extension()
            .is_none_or(|extension| extension != "files")
            || name == layout.name
        {
            continue;
        }
        if let Ok(text) = std::fs::read_to_string(&path) {
            others.insert(
                name.to_string(),
                text.lines().map(str::to_string).collect::<BTreeSet<_>>(),
            );
        }
    }
    others
}

/// Warnings told the way the build tells everything else.
fn progress_warns(progress: &Arc<Progress>) -> Warn {
    let progress = Arc::clone(progress);
    Arc::new(move |warning: &str| progress.message(warning))
}

/// The target's compiler and linker flags, by the names recipes use.
fn target_flags(target: &Target) -> Map {
    let mut flags = Map::new();
    for flag in ["cflags", "cxxflags", "ldflags"] {
        flags.insert(flag.into(), Dynamic::from(target.flags(flag)));
    }
    flags
}

/// Where a recipe builds: its own build folder, or the source tree for a recipe that says
/// `BUILD_IN_SOURCE`, since some build systems cannot build anywhere else.
fn builddir(recipe: &Recipe, layout: &Layout) -> PathBuf {
    if recipe.build_in_source {
        layout.srcdir()
    } else {
        layout.builddir()
    }
}

/// The log last written in a build's log folder.
fn newest_log(logs: &Path) -> Option<PathBuf> {
    std::fs::read_dir(logs)
        .ok()?
        .flatten()
        .filter_map(|entry| Some((entry.metadata().ok()?.modified().ok()?, entry.path())))
        .max()
        .map(|(_, path)| path)
}

/// Where another package of the stage keeps its own copy of `file`.
fn owned_copy(layout: &Layout, owner: &str, file: &str) -> PathBuf {
    let owner = Layout {
        name: owner.to_string(),
        ..layout.clone()
    };
    owner.package().join(file)
}

/// How to run a target's programs on this host: nothing when the architectures match,
/// otherwise the target script's qemu-user emulator and binfmt_misc pattern.
/// The error of a phase the recipe's build style supplies: where in the style it failed, called
/// from the recipe's STYLE declaration, with how to replace the phase.
fn style_phase_error(
    root: &Path,
    recipe: &Recipe,
    phase: &str,
    error: &rhai::EvalAltResult,
) -> ScriptError {
    let style = recipe.style.as_deref().unwrap_or_default();
    let declaration = recipe.script.locate("STYLE", None).map(|span| {
        let label = format!("phase {phase} of this STYLE");
        Snippet::from_text(
            &recipe.script.name,
            recipe.script.text.to_string(),
            span,
            label,
        )
    });
    ScriptError::eval(root, "", error, false)
        .called_from(declaration)
        .with_help(format!(
            "phase {phase} comes from STYLE \"{style}\"; define `fn {phase}(ctx)` in the recipe to replace it"
        ))
}

pub fn emulator_for(target: &Target) -> Result<Option<Emulator>> {
    if target.text("arch") == std::env::consts::ARCH {
        return Ok(None);
    }
    let qemu = target.text("qemu");
    let (magic, mask) = (target.text("binfmt_magic"), target.text("binfmt_mask"));
    if qemu.is_empty() || magic.is_empty() || mask.is_empty() {
        return Err(Error::Usage(format!(
            "target {} is not the host's architecture, so its programs run through qemu-user: {} must give qemu, binfmt_magic and binfmt_mask",
            target.name,
            target.path.display()
        )));
    }
    let interpreter = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join(&qemu))
        .find(|path| path.is_file())
        .ok_or_else(|| {
            Error::Usage(format!(
                "{qemu} (the emulator target {} names) is not installed: install qemu-user-static",
                target.name
            ))
        })?;
    Ok(Some(Emulator {
        name: qemu.trim_end_matches("-static").to_string(),
        interpreter,
        magic,
        mask,
    }))
}

/// The triple of the machine running serpent, for `--build=` in cross builds.
pub fn host_triple() -> String {
    format!("{}-linux-gnu", std::env::consts::ARCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_builder_that_panics_answers_with_an_error_naming_the_instance() {
        let (result, _) = unless_panicked("x86_64/stage1/demo", || panic!("index out of bounds"));
        let message = result.err().expect("a panic is an error").to_string();
        assert!(message.contains("x86_64/stage1/demo"), "{message}");
        assert!(message.contains("index out of bounds"), "{message}");
        let (result, seconds) = unless_panicked("x86_64/stage1/demo", || (Ok(Done::Built), 1.5));
        assert!(matches!(result, Ok(Done::Built)) && seconds == 1.5);
    }
}
