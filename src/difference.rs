//! How a build's recorded inputs differ from the current ones, in words: which flag was added
//! or removed, which declaration or function of which file changed, which dependency's output
//! changed, which source replaced which. Records of older serpents have no details; their
//! differences are told by the hashes alone.

use std::collections::BTreeMap;

use crate::key::{Details, Inputs};

/// What a record kept of its build's inputs.
pub struct Recorded<'a> {
    pub values: &'a BTreeMap<String, String>,
    pub details: &'a BTreeMap<String, Details>,
}

/// One line per input that differs: the instance's own inputs first, then its dependencies,
/// so that the first line is the likeliest cause.
pub fn differences(recorded: &Recorded, current: &Inputs) -> Vec<String> {
    let mut own = Vec::new();
    let mut dependencies = Vec::new();
    // A new version's source takes the old one's place, and an overlay's recipe the one it
    // replaces; each is said as one change, not two.
    let mut replacing: Vec<&String> = Vec::new();
    let mut replaced: Vec<&String> = Vec::new();
    for kind in REPLACEABLE {
        let added = only_in(&current.values, recorded.values, kind);
        let removed = only_in(recorded.values, &current.values, kind);
        for (new, old) in added.iter().zip(&removed) {
            let mut line = format!("{new} replaces {}", &old[kind.len()..]);
            if let (Some(before), Some(after)) =
                (recorded.details.get(*old), current.details.get(*new))
            {
                let fields = field_changes(before, after);
                if !fields.is_empty() {
                    line.push_str(&format!(" ({})", fields.join("; ")));
                }
            }
            own.push(line);
            replacing.push(new);
            replaced.push(old);
        }
    }
    for (name, value) in &current.values {
        let lines = if name.starts_with("depends ") {
            &mut dependencies
        } else {
            &mut own
        };
        match recorded.values.get(name) {
            None if replacing.contains(&name) => {}
            None => lines.push(format!("{name}: {}", added(name))),
            Some(old) if old != value => lines.push(format!(
                "{name}: {}",
                changed(
                    name,
                    (old, value),
                    recorded.details.get(name),
                    current.details.get(name)
                )
            )),
            Some(_) => {}
        }
    }
    for name in recorded.values.keys() {
        if !current.values.contains_key(name) && !replaced.contains(&name) {
            own.push(format!("{name}: {}", removed(name)));
        }
    }
    own.extend(dependencies);
    own
}

/// The kinds of input whose name says where it comes from, so that one taking another's
/// place is a replacement: a source's URL, a recipe's file.
const REPLACEABLE: [&str; 2] = ["source ", "recipe "];

/// The names of `kind` that `these` have and `those` lack.
fn only_in<'a>(
    these: &'a BTreeMap<String, String>,
    those: &BTreeMap<String, String>,
    kind: &str,
) -> Vec<&'a String> {
    these
        .keys()
        .filter(|name| name.starts_with(kind) && !those.contains_key(*name))
        .collect()
}

fn added(name: &str) -> &'static str {
    if name.starts_with("depends ") {
        "a new dependency"
    } else if name.starts_with("patch ") || name.starts_with("file ") {
        "added"
    } else {
        "a new input"
    }
}

fn removed(name: &str) -> &'static str {
    if name.starts_with("depends ") {
        "no longer a dependency"
    } else if name.starts_with("patch ") || name.starts_with("file ") {
        "removed"
    } else if name.starts_with("source ") {
        "no longer used"
    } else {
        "no longer an input"
    }
}

/// One changed input in words: by its details when both builds have them, else by what kind
/// of input it is.
fn changed(
    name: &str,
    (old, new): (&str, &str),
    old_details: Option<&Details>,
    new_details: Option<&Details>,
) -> String {
    if let (Some(old_details), Some(new_details)) = (old_details, new_details) {
        let fields = field_changes(old_details, new_details);
        if !fields.is_empty() {
            return fields.join("; ");
        }
        if name.starts_with("recipe ") || name.starts_with("stage ") || name.starts_with("stdlib/")
        {
            return "only comments or layout changed".to_string();
        }
    }
    let kind = name.split(' ').next().unwrap_or_default();
    match kind {
        "depends" => dependency_change(old, new),
        "tool" => format!("serpent {old} -> {new}"),
        "patch" | "file" | "source" => {
            let (old_hash, old_rest) = old.split_once(' ').unwrap_or((old, ""));
            let (new_hash, new_rest) = new.split_once(' ').unwrap_or((new, ""));
            let mut parts = Vec::new();
            if old_hash != new_hash {
                let what = if kind == "source" {
                    "its sha256"
                } else {
                    "its contents"
                };
                parts.push(format!("{what} changed"));
            }
            parts.extend(word_changes(old_rest, new_rest));
            parts.join(", ")
        }
        _ => format!("changed ({} -> {})", short(old), short(new)),
    }
}

/// What a dependency's change means for its dependent.
fn dependency_change(old: &str, new: &str) -> String {
    match (old.split_once(' '), new.split_once(' ')) {
        (_, Some(("unbuilt", _))) => "its inputs changed, so it is rebuilt first".to_string(),
        (Some(("output", old)), Some(("output", new))) => {
            format!("its output changed ({} -> {})", short(old), short(new))
        }
        _ => format!("changed ({} -> {})", short(old), short(new)),
    }
}

/// Each field that differs, in words.
fn field_changes(old: &Details, new: &Details) -> Vec<String> {
    let mut lines = Vec::new();
    for (field, value) in new {
        match old.get(field) {
            None if field.starts_with("fn ") => lines.push(format!("{field} added")),
            None => lines.push(format!("{field} = {value} added")),
            Some(before) if before == value => {}
            Some(_) if field.starts_with("fn ") => lines.push(format!("{field} changed")),
            Some(before) => lines.push(format!("{field}: {}", value_change(before, value))),
        }
    }
    for field in old.keys() {
        if !new.contains_key(field) {
            lines.push(format!("{field} removed"));
        }
    }
    lines
}

/// A field's change: the words added and removed when it is a list (flags), else old -> new.
fn value_change(old: &str, new: &str) -> String {
    let words = word_changes(old, new);
    let is_list = old.contains(' ') || new.contains(' ');
    if is_list && !words.is_empty() {
        words.join(", ")
    } else if is_list {
        format!("reordered ({old} -> {new})")
    } else {
        format!("{} -> {}", quoted(old), quoted(new))
    }
}

fn quoted(value: &str) -> String {
    if value.is_empty() {
        "(empty)".to_string()
    } else {
        value.to_string()
    }
}

/// The words of `new` that `old` lacks ("-O3 -g added") and the other way round, each word
/// counted as often as it occurs.
fn word_changes(old: &str, new: &str) -> Vec<String> {
    let less = |from: &str, without: &str| {
        let mut rest: Vec<&str> = without.split_whitespace().collect();
        from.split_whitespace()
            .filter(|word| match rest.iter().position(|other| other == word) {
                Some(found) => {
                    rest.remove(found);
                    false
                }
                None => true,
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut changes = Vec::new();
    let gained = less(new, old);
    if !gained.is_empty() {
        changes.push(format!("{gained} added"));
    }
    let lost = less(old, new);
    if !lost.is_empty() {
        changes.push(format!("{lost} removed"));
    }
    changes
}

/// A hash cut to 12 digits.
fn short(value: &str) -> String {
    if value.len() == 64 && value.chars().all(|c| c.is_ascii_hexdigit()) {
        value[..12].to_string()
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(pairs: &[(&str, &str)], details: &[(&str, &[(&str, &str)])]) -> Inputs {
        let mut inputs = Inputs::default();
        for (name, value) in pairs {
            inputs.add(*name, *value);
        }
        for (name, fields) in details {
            let fields = fields
                .iter()
                .map(|(field, value)| (field.to_string(), value.to_string()))
                .collect();
            inputs.details.insert(name.to_string(), fields);
        }
        inputs
    }

    fn explain(old: &Inputs, new: &Inputs) -> Vec<String> {
        let recorded = Recorded {
            values: &old.values,
            details: &old.details,
        };
        differences(&recorded, new)
    }

    #[test]
    fn flags_are_told_by_the_words_added_and_removed() {
        let old = inputs(
            &[("target x86_64", "aaa")],
            &[(
                "target x86_64",
                &[("cflags", "-O2 -pipe"), ("arch", "x86_64")],
            )],
        );
        let new = inputs(
            &[("target x86_64", "bbb")],
            &[(
                "target x86_64",
                &[("cflags", "-O3 -pipe -g"), ("arch", "x86_64")],
            )],
        );
        assert_eq!(
            explain(&old, &new),
            ["target x86_64: cflags: -O3 -g added, -O2 removed"]
        );
    }

    #[test]
    fn a_new_source_replaces_the_old_one_and_dependencies_come_last() {
        let old = inputs(
            &[
                ("depends x86_64/stage1/musl", "output 1111"),
                ("source https://x/z-1.tar.gz", "aa dest=."),
            ],
            &[],
        );
        let new = inputs(
            &[
                ("depends x86_64/stage1/musl", "output 2222"),
                ("source https://x/z-2.tar.gz", "bb dest=."),
            ],
            &[],
        );
        assert_eq!(
            explain(&old, &new),
            [
                "source https://x/z-2.tar.gz replaces https://x/z-1.tar.gz",
                "depends x86_64/stage1/musl: its output changed (1111 -> 2222)"
            ]
        );
    }

    #[test]
    fn a_script_is_told_by_declaration_and_function() {
        let name = "recipe recipes/stage1/a.rhai";
        let old = inputs(
            &[(name, "aaa")],
            &[(name, &[("VERSION", "1"), ("fn install(ctx)", "abc")])],
        );
        let new = inputs(
            &[(name, "bbb")],
            &[(
                name,
                &[
                    ("VERSION", "2"),
                    ("fn install(ctx)", "def"),
                    ("fn setup(ctx)", "123"),
                ],
            )],
        );
        assert_eq!(
            explain(&old, &new),
            [format!(
                "{name}: VERSION: 1 -> 2; fn install(ctx) changed; fn setup(ctx) added"
            )]
        );
    }

    #[test]
    fn records_without_details_fall_back_to_hashes() {
        let old = inputs(&[("target x86_64", &"a".repeat(64))], &[]);
        let new = inputs(&[("target x86_64", &"b".repeat(64))], &[]);
        assert_eq!(
            explain(&old, &new),
            ["target x86_64: changed (aaaaaaaaaaaa -> bbbbbbbbbbbb)"]
        );
    }
}
