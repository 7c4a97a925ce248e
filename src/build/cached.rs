//! The builder's side of the remote cache (see [`crate::remote_cache`]): an instance the cache
//! holds is pulled into its install folder and committed exactly as a local build is; one built
//! here is pushed when writing is allowed. The cache failing only ever means building here.

use std::path::Path;
use std::time::Instant;

use super::Builder;
use crate::error::{Error, Result};
use crate::key::Inputs;
use crate::record::Record;
use crate::remote_cache::RemoteCache;
use crate::remove::remove_all;

impl Builder<'_> {
    /// Pulls the instance from the remote cache and commits it; whether it did. A miss, or a
    /// cache that fails, leaves the instance's scratch folder as it was, so its build can
    /// still resume.
    pub(super) fn pull(&self, index: usize, (inputs, key): (&Inputs, &str)) -> Result<bool> {
        match self.remote.as_ref().filter(|cache| cache.usable()) {
            Some(cache) => self.pull_from(cache, index, (inputs, key)),
            None => Ok(false),
        }
    }

    /// Pulls the instance from `cache` (the remote cache, or the executor's) and commits it.
    pub(super) fn pull_from(
        &self,
        cache: &RemoteCache,
        index: usize,
        (inputs, key): (&Inputs, &str),
    ) -> Result<bool> {
        let instance = &self.plan.instances[index];
        let layout = &instance.layout;
        let pulling = layout.pulling();
        remove_all(&pulling)?;
        let started = Instant::now();
        let pulled = match cache.pull(key, &pulling) {
            Ok(Some(pulled)) if pulled.record.key == key => pulled,
            Ok(Some(_)) => {
                self.warn(cache.give_up("it answered with another key's package"));
                return remove_all(&pulling).map(|()| false);
            }
            Ok(None) => return remove_all(&pulling).map(|()| false),
            Err(failure) => {
                self.warn(cache.give_up(&failure));
                return remove_all(&pulling).map(|()| false);
            }
        };
        // Placed where a local build leaves its install folder and logs, then committed alike.
        remove_all(&layout.scratch())?;
        remove_all(&layout.logs())?;
        for (from, to) in [("package", layout.destdir()), ("logs", layout.logs())] {
            move_dir(&pulling.join(from), &to)?;
        }
        remove_all(&pulling)?;
        if self.config.verbose {
            self.progress.message(&format!(
                "{}: pulled from {} in {} ms",
                instance.id,
                cache.address,
                started.elapsed().as_millis()
            ));
        }
        let record = pulled.record;
        let usage = record.usage.unwrap_or_default();
        self.commit(
            index,
            (inputs, key),
            record.seconds,
            usage,
            Some(&cache.address),
        )?;
        let output = self.outputs.lock().unwrap().get(&index).cloned();
        if output != record.output {
            // The blobs matched their digests, so the tree itself was not what was built.
            let _ = std::fs::remove_file(layout.record());
            self.warn(cache.give_up(&format!(
                "its package of {} does not hash to the output its record names",
                instance.id
            )));
            return Ok(false);
        }
        Ok(true)
    }

    /// Uploads an instance built here, when the cache takes uploads.
    pub(super) fn push(&self, index: usize, key: &str) {
        let Some(cache) = self
            .remote
            .as_ref()
            .filter(|cache| cache.write && cache.usable())
        else {
            return;
        };
        let layout = &self.plan.instances[index].layout;
        let Some(record) = Record::read(&layout.record()) else {
            return;
        };
        if let Err(failure) = cache.push(key, &layout.package(), &layout.logs(), &record) {
            self.warn(cache.give_up(&failure));
        }
    }

    pub(super) fn warn(&self, message: Option<String>) {
        if let Some(message) = message {
            self.progress.message(&message);
        }
    }
}

fn move_dir(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|error| Error::io("cannot create", parent, error))?;
    }
    std::fs::rename(from, to).map_err(|error| Error::io("cannot move into place", to, error))
}
