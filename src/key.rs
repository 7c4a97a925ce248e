use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

pub use crate::digest::sha256 as hash;

/// The inputs of one recipe instance, each named, and the key they make together. Any change
/// to any input changes the key; `serpent explain` names the inputs that differ.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub values: BTreeMap<String, String>,
}

impl Inputs {
    pub fn add(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.values.insert(name.into(), value.into());
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

/// How the recorded inputs differ from the current ones, as lines a person reads.
pub fn differences(
    recorded: &BTreeMap<String, String>,
    current: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut lines = Vec::new();
    for (name, value) in current {
        match recorded.get(name) {
            None => lines.push(format!("{name}: new input")),
            Some(old) if old != value => lines.push(format!(
                "{name}: changed ({} -> {})",
                short(old),
                short(value)
            )),
            Some(_) => {}
        }
    }
    for name in recorded.keys() {
        if !current.contains_key(name) {
            lines.push(format!("{name}: no longer an input"));
        }
    }
    lines
}

/// A hash cut to 12 digits, alone or after a word (`output 3fa9…`).
fn short(value: &str) -> String {
    let (word, hash) = value.rsplit_once(' ').unwrap_or(("", value));
    if hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit()) {
        let space = if word.is_empty() { "" } else { " " };
        format!("{word}{space}{}", &hash[..12])
    } else {
        value.to_string()
    }
}
