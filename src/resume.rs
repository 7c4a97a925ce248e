//! How far a build in progress got, kept in its scratch folder so that an interrupted build of
//! the same key continues where it stopped instead of starting again from nothing.
//!
//! The steps are coarse on purpose: preparing the sources (unpack and patch), then each phase.
//! A step that was interrupted runs again in the same build folder, where make and ninja find
//! what they already built; `install` always starts from an empty destination, so a half-done
//! install never reaches the package.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The step that unpacks and patches the sources, before any phase.
pub const SOURCES: &str = "sources";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BuildState {
    /// The key of the instance being built; a state with another key is stale.
    pub key: String,
    /// Steps that finished, in order.
    pub done: Vec<String>,
    /// The commands' environment after the last finished phase, since a phase may set
    /// variables (`ctx.setenv`) that later phases rely on.
    pub env: BTreeMap<String, String>,
    /// The newest time in the unpacked sources, before patching.
    #[serde(default)]
    pub source_date_epoch: i64,
    /// What the finished phases' commands used; a phase that was interrupted is not counted.
    #[serde(default)]
    pub usage: crate::usage::Usage,
}

impl BuildState {
    pub fn new(key: &str) -> BuildState {
        BuildState {
            key: key.to_string(),
            ..BuildState::default()
        }
    }

    /// The state left at `path` by an interrupted build of `key`, if there is one.
    pub fn resumable(path: &Path, key: &str) -> Option<BuildState> {
        let text = std::fs::read_to_string(path).ok()?;
        let state: BuildState = serde_json::from_str(&text).ok()?;
        (state.key == key && state.finished(SOURCES)).then_some(state)
    }

    pub fn finished(&self, step: &str) -> bool {
        self.done.iter().any(|done| done == step)
    }

    /// The last step that finished, for telling the user where the build picks up.
    pub fn last(&self) -> Option<&str> {
        self.done.last().map(String::as_str)
    }

    /// Marks `step` finished and writes the state atomically, so a kill leaves the old state
    /// or the new one, never a torn file.
    pub fn finish(&mut self, step: &str, path: &Path) -> Result<()> {
        self.done.push(step.to_string());
        let partial = path.with_extension("json.partial");
        let text = serde_json::to_string_pretty(self).expect("a build state serializes");
        std::fs::write(&partial, text)
            .and_then(|()| std::fs::rename(&partial, path))
            .map_err(|error| Error::io("cannot write", path, error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_state_of_the_same_key_past_its_sources_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut state = BuildState::new("k1");
        assert_eq!(BuildState::resumable(&path, "k1"), None);
        state.finish("setup", &path).unwrap();
        assert_eq!(
            BuildState::resumable(&path, "k1"),
            None,
            "sources unfinished"
        );
        state.done.clear();
        state.finish(SOURCES, &path).unwrap();
        state.finish("setup", &path).unwrap();
        let resumed = BuildState::resumable(&path, "k1").unwrap();
        assert!(resumed.finished("setup") && !resumed.finished("build"));
        assert_eq!(resumed.last(), Some("setup"));
        assert_eq!(BuildState::resumable(&path, "k2"), None);
    }
}
