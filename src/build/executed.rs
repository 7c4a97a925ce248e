//! The builder's side of remote execution (see [`crate::remote_exec`]): an instance is sent
//! to the executor with what its build reads, built there by serpent itself, and pulled from
//! the executor's cache into its place here. An executor that cannot be used means building
//! here; a build that fails there fails here, with the worker's report.

use std::path::Path;
use std::time::Instant;

use super::{Builder, Done};
use crate::error::{Error, Result};
use crate::isolation::Isolation;
use crate::key::Inputs;
use crate::remote_cache::Failure;
use crate::remote_exec::input_root::InputRoot;
use crate::remote_exec::{Executed, Request, SERPENT};
use crate::remove::remove_all;

impl Builder<'_> {
    /// Builds the instance on the remote executor, or pulls it from the executor's cache when
    /// it was built there before, and commits it; how, or None to build it here.
    pub(super) fn execute_remotely(
        &self,
        index: usize,
        started: Instant,
        (inputs, key): (&Inputs, &str),
    ) -> Result<Option<Done>> {
        let Some(executor) = self.executor.as_ref() else {
            return Ok(None);
        };
        let request = self.request(index, key);
        if !executor.usable(&request.isa) {
            return Ok(None);
        }
        if self.pull_from(&executor.cache, index, (inputs, key))? {
            return Ok(Some(Done::Pulled));
        }
        let instance = &self.plan.instances[index];
        let sent = self
            .input_root(index)
            .and_then(|root| executor.execute(&request, root));
        let executed = match sent {
            Ok(executed) => executed,
            Err(failure) => {
                self.warn(executor.give_up(&failure));
                return Ok(None);
            }
        };
        match executed {
            Executed::NoWorker(answer) => {
                self.warn(executor.no_worker_for(&request.isa, &answer));
                Ok(None)
            }
            Executed::Built { worker } => {
                self.progress.message(&format!(
                    "{}: built on worker {worker} of {} in {:.1} s",
                    instance.id,
                    executor.address(),
                    started.elapsed().as_secs_f64()
                ));
                if self.pull_from(&executor.cache, index, (inputs, key))? {
                    return Ok(Some(Done::Built));
                }
                Err(Error::RemoteBuild(format!(
                    "{}: worker {worker} built it, but {} does not serve its package",
                    instance.id,
                    executor.address()
                )))
            }
            Executed::Failed {
                worker,
                exit_code,
                stderr,
                logs,
            } => {
                let here = instance.layout.logs();
                remove_all(&here)?;
                let came_back = match logs {
                    Some(logs) => executor.fetch_tree(&logs, &here),
                    None => Err("the worker sent no logs".into()),
                };
                let stderr = match came_back {
                    Ok(()) => local_paths(&stderr, &self.config.work_dir),
                    Err(failure) => format!("{stderr}\n(its logs could not be fetched: {failure})"),
                };
                Err(Error::RemoteBuild(format!(
                    "{}: its build on worker {worker} of {} failed with exit status {exit_code}:\n{}",
                    instance.id,
                    executor.address(),
                    stderr.trim_end()
                )))
            }
        }
    }

    /// serpent's own command for the worker, and the platform the build needs: the target's
    /// instruction set for a build inside its chroot, the host's for one on the host.
    fn request(&self, index: usize, key: &str) -> Request {
        let instance = &self.plan.instances[index];
        let target = &self.plan.targets[instance.target];
        let stage = &self.plan.stages[instance.stage];
        let isa = match stage.isolation {
            Isolation::Chroot => target.isa(),
            Isolation::Host => self
                .plan
                .targets
                .iter()
                .find(|target| target.text("arch") == std::env::consts::ARCH)
                .map(|target| target.isa())
                .unwrap_or_else(|| std::env::consts::ARCH.to_string()),
        };
        let mut arguments: Vec<&str> = vec![
            SERPENT,
            "--root",
            ".",
            "--work-dir",
            "work",
            "--store",
            "store",
            "--target",
            &target.name,
            "--remote-cache-write",
            // Errors only: the worker's stderr is what a failure shows here.
            "--quiet",
        ];
        // A spin without a script (none named, no default.rhai) is the worker's too.
        if self.plan.spin.path.is_some() {
            arguments.extend(["--spin", &self.plan.spin.name]);
        }
        arguments.extend(["remote-build", "--expect-key", key, &instance.id]);
        let logs = relative(&instance.layout.logs(), &self.config.work_dir)
            .map(|logs| format!("work/{logs}"))
            .unwrap_or_default();
        Request {
            arguments: arguments.iter().map(|text| text.to_string()).collect(),
            environment: Vec::new(),
            isa,
            logs,
        }
    }

    /// What the build reads: the project's scripts, its sources, and the records and packages
    /// of everything it comes after, with the earlier stages' roots, at the places the work
    /// dir and the store have them.
    fn input_root(&self, index: usize) -> Result<InputRoot, Failure> {
        let instance = &self.plan.instances[index];
        let mut root = InputRoot::default();
        let project = &self.config.root;
        for folder in ["recipes", "stdlib"] {
            if project.join(folder).is_dir() {
                root.add_folder(folder, &project.join(folder))?;
            }
        }
        let store = crate::store::Store::new(self.config.store_dir.clone());
        for source in &self.plan.recipe_of(instance).sources {
            let path = store.path_of(&source.sha256);
            let within = relative(&path, &self.config.store_dir)?;
            root.add_file(&format!("store/{within}"), &path)?;
        }
        let work = &self.config.work_dir;
        for dep in self.plan.closure(&[index]) {
            if dep == index {
                continue;
            }
            let layout = &self.plan.instances[dep].layout;
            root.add_file(
                &format!("work/{}", relative(&layout.record(), work)?),
                &layout.record(),
            )?;
            root.add_folder(
                &format!("work/{}", relative(&layout.package(), work)?),
                &layout.package(),
            )?;
        }
        let earlier = self
            .plan
            .stage_roots(instance)
            .into_iter()
            .take(instance.stage);
        for (_, stage_root) in earlier {
            if stage_root.is_dir() {
                root.add_folder(
                    &format!("work/{}", relative(&stage_root, work)?),
                    &stage_root,
                )?;
            }
        }
        Ok(root)
    }
}

/// The worker's report with the paths into its staged work dir (`.../serpent-action-*/input/work/`)
/// turned into this work dir's, where the logs now are.
fn local_paths(report: &str, work_dir: &Path) -> String {
    const STAGED: &str = "/input/work/";
    let mut out = String::with_capacity(report.len());
    let mut rest = report;
    while let Some(at) = rest.find(STAGED) {
        let start = rest[..at]
            .rfind(|c: char| c.is_whitespace())
            .map_or(0, |space| space + 1);
        out.push_str(&rest[..start]);
        if rest[start..at].contains("serpent-action-") {
            out.push_str(&format!("{}/", work_dir.display()));
        } else {
            out.push_str(&rest[start..at + STAGED.len()]);
        }
        rest = &rest[at + STAGED.len()..];
    }
    out.push_str(rest);
    out
}

fn relative(path: &Path, base: &Path) -> Result<String, Failure> {
    path.strip_prefix(base)
        .ok()
        .and_then(|rest| rest.to_str())
        .map(str::to_string)
        .ok_or_else(|| format!("{} is not below {}", path.display(), base.display()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_into_the_workers_staged_work_dir_become_this_work_dirs() {
        let report =
            "full log: /tmp/serpent-action-Ab12/input/work/x86_64/stage1/logs/a/build.log\n\
                      not this: /srv/input/work/x";
        assert_eq!(
            super::local_paths(report, std::path::Path::new("/home/me/build")),
            "full log: /home/me/build/x86_64/stage1/logs/a/build.log\n\
             not this: /srv/input/work/x"
        );
    }
}
