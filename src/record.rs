use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What a finished build writes last: its key and the inputs that made the key. A package
/// without a record is not built.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    pub id: String,
    pub name: String,
    pub version: String,
    pub recipe: String,
    pub key: String,
    pub inputs: BTreeMap<String, String>,
    /// The small facts behind the inputs (flags, declarations, a hash per function), from
    /// which `serpent explain` says what changed. Absent in records of older serpents.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, crate::key::Details>,
    pub seconds: f64,
    /// The hash of the package's files (paths, kinds, modes, contents, link targets), which
    /// dependents are keyed on.
    #[serde(default)]
    pub output: Option<String>,
    /// Dependencies that were rebuilt after this was built and gave the same output, so this
    /// was kept (early cutoff).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cut_off: Vec<String>,
    /// What the build's commands used (over every run of it, when it was resumed), and the
    /// size of the package's files. Absent in records of older serpents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<crate::usage::Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// The remote cache the package was pulled from; absent when it was built here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
}

impl Record {
    pub fn read(path: &Path) -> Option<Record> {
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes the record atomically: a partial file is never mistaken for a record.
    pub fn write(&self, path: &Path) -> Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|error| Error::io("cannot create", parent, error))?;
        }
        let partial = path.with_extension("json.partial");
        let text = serde_json::to_string_pretty(self).expect("a record serializes");
        std::fs::write(&partial, text + "\n")
            .and_then(|()| std::fs::File::open(&partial)?.sync_all())
            .and_then(|()| std::fs::rename(&partial, path))
            .map_err(|error| Error::io("cannot write", path, error))
    }
}
