use std::fmt::Write;

use serde::Serialize;

use crate::cli::Format;
use crate::difference::{differences, Recorded};
use crate::plan::{Plan, Status};
use crate::record::Record;

#[derive(Serialize)]
struct Entry<'a> {
    id: &'a str,
    recipe: String,
    name: &'a str,
    version: &'a str,
    stage: &'a str,
    target: &'a str,
    key: &'a str,
    status: Status,
    /// Why it would be built: `new`, `changed: <the first difference>` or `up to date`.
    why: String,
    output: String,
    depends: Vec<&'a str>,
}

/// The plan (or graph) of the selected instances as text, JSON or Graphviz dot.
pub fn render(plan: &Plan, selection: &[usize], format: Format) -> String {
    let entries: Vec<Entry> = selection
        .iter()
        .map(|index| Entry::of(plan, *index))
        .collect();
    match format {
        Format::Json => json(plan, &entries),
        Format::Dot => dot(&entries),
        Format::Text => text(plan, &entries),
    }
}

impl<'a> Entry<'a> {
    /// One instance with its recipe, stage and target spelled out, so that every format shows
    /// the same facts.
    fn of(plan: &'a Plan, index: usize) -> Entry<'a> {
        let instance = &plan.instances[index];
        let recipe = plan.recipe_of(instance);
        Entry {
            id: &instance.id,
            recipe: recipe.script.name.clone(),
            name: &recipe.name,
            version: &recipe.version,
            stage: &plan.stages[instance.stage].name,
            target: &plan.targets[instance.target].name,
            key: &instance.key,
            status: instance.status,
            why: why(plan, index),
            output: instance.layout.package().to_string_lossy().into_owned(),
            depends: instance
                .deps
                .iter()
                .map(|dep| plan.instances[*dep].id.as_str())
                .collect(),
        }
    }
}

/// Every fact of every entry, for tools that read the plan.
fn json(plan: &Plan, entries: &[Entry]) -> String {
    let mut out = serde_json::to_string_pretty(&serde_json::json!({
        "spin": plan.spin.name,
        "instances": entries,
    }))
    .expect("the plan serializes");
    out.push('\n');
    out
}

/// The graph for Graphviz, coloured by status so what is left to build stands out.
fn dot(entries: &[Entry]) -> String {
    let mut out = String::new();
    out.push_str("digraph serpent {\n    rankdir=LR;\n");
    for entry in entries {
        let color = match entry.status {
            Status::Built => "darkgreen",
            Status::Stale => "orange",
            Status::Missing => "black",
        };
        let _ = writeln!(
            out,
            "    \"{}\" [label=\"{}\\n{} {}\", color={color}];",
            entry.id, entry.id, entry.name, entry.version
        );
        for dep in &entry.depends {
            let _ = writeln!(out, "    \"{}\" -> \"{dep}\";", entry.id);
        }
    }
    out.push_str("}\n");
    out
}

/// A count of each status, then one line per instance: what a person reads before a build.
fn text(plan: &Plan, entries: &[Entry]) -> String {
    let mut out = String::new();
    let counts = |status: Status| {
        entries
            .iter()
            .filter(|entry| entry.status == status)
            .count()
    };
    let _ = writeln!(
        out,
        "spin {}: {} instance(s): {} built, {} stale, {} missing",
        plan.spin.name,
        entries.len(),
        counts(Status::Built),
        counts(Status::Stale),
        counts(Status::Missing)
    );
    for entry in entries {
        let status = match entry.status {
            Status::Built => "built  ",
            Status::Stale => "stale  ",
            Status::Missing => "missing",
        };
        let _ = write!(
            out,
            "{status} {} {} [{}]",
            entry.id,
            entry.version,
            &entry.key[..12]
        );
        if !entry.depends.is_empty() {
            let _ = write!(out, " <- {}", entry.depends.join(", "));
        }
        let _ = writeln!(out, "  ({})", entry.why);
    }
    out
}

/// The plan's "why" for one instance, in a few words.
fn why(plan: &Plan, index: usize) -> String {
    let instance = &plan.instances[index];
    match instance.status {
        Status::Built => "up to date".to_string(),
        Status::Missing => "new".to_string(),
        Status::Stale => match Record::read(&instance.layout.record()) {
            Some(record) if record.key == instance.key => {
                "changed: its package is missing".to_string()
            }
            Some(record) => {
                let first = changes(&record, instance).into_iter().next();
                format!("changed: {}", first.unwrap_or_else(|| "its inputs".into()))
            }
            None => "new".to_string(),
        },
    }
}

/// How the instance's inputs differ from those its record was built with.
fn changes(record: &Record, instance: &crate::plan::Instance) -> Vec<String> {
    let recorded = Recorded {
        values: &record.inputs,
        details: &record.details,
    };
    differences(&recorded, &instance.inputs)
}

/// Why one instance would (or would not) be rebuilt.
pub fn explain(plan: &Plan, index: usize) -> String {
    let instance = &plan.instances[index];
    let replacement = crate::overlay::replacement(plan, plan.recipe_of(instance));
    let mut out = explain_record(plan, index);
    if let Some(replacement) = replacement {
        let _ = write!(out, "\n  {replacement}");
    }
    out
}

/// What the record says, against the current inputs.
fn explain_record(plan: &Plan, index: usize) -> String {
    let instance = &plan.instances[index];
    let Some(record) = Record::read(&instance.layout.record()) else {
        return format!(
            "{}: never built (or its last build did not finish): it will be built",
            instance.id
        );
    };
    if record.key == instance.key {
        if instance.status == Status::Built {
            let mut out = format!(
                "{}: current (key {}); nothing to rebuild",
                instance.id,
                &instance.key[..12]
            );
            if !record.cut_off.is_empty() {
                let _ = write!(
                    out,
                    "\n  {} rebuilt with the same output as before, so this was not rebuilt (early cutoff)",
                    record.cut_off.join(", ")
                );
            }
            return out;
        }
        return format!(
            "{}: its record matches but the package is missing: it will be rebuilt",
            instance.id
        );
    }
    let mut out = format!(
        "{}: will be rebuilt; these inputs changed since the recorded build:",
        instance.id
    );
    for line in changes(&record, instance) {
        let _ = write!(out, "\n  {line}");
    }
    let pending: Vec<&str> = instance
        .deps
        .iter()
        .map(|dep| &plan.instances[*dep])
        .filter(|dep| dep.status != Status::Built)
        .map(|dep| dep.id.as_str())
        .collect();
    if !pending.is_empty() {
        let _ = write!(
            out,
            "\n  {} will be rebuilt first; if its output comes out the same, this is not rebuilt",
            pending.join(", ")
        );
    }
    out
}
