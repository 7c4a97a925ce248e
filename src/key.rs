use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

pub use crate::digest::sha256 as hash;

/// The small facts behind one input's value (a target's flags, a recipe's declarations, a
/// hash per function of a script), by name. They are recorded beside the inputs so that
/// `serpent explain` can say in words what changed, but they are not part of the key: the key
/// is made from the values alone.
pub type Details = BTreeMap<String, String>;

/// The inputs of one recipe instance, each named, and the key they make together. Any change
/// to any input changes the key; `serpent explain` names the inputs that differ.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub values: BTreeMap<String, String>,
    pub details: BTreeMap<String, Details>,
}

impl Inputs {
    pub fn add(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.values.insert(name.into(), value.into());
    }

    /// An input whose value is a hash, with the facts that explain a change of it.
    pub fn add_detailed(&mut self, name: impl Into<String>, value: String, details: Details) {
        let name = name.into();
        self.details.insert(name.clone(), details);
        self.values.insert(name, value);
    }

    pub fn key(&self) -> String {
        let mut hasher = Sha256::new();
        for (name, value) in &self.values {
            hasher.update(name.as_bytes());
            hasher.update([0]);
            hasher.update(value.as_bytes());
            hasher.update([b'\n']);
        }
        crate::digest::hex(&hasher.finalize())
    }
}
