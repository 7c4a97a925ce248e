use std::collections::{BTreeMap, BTreeSet, HashMap};
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
    /// For a stale instance whose only changed inputs are dependencies still to be rebuilt:
    /// the instances whose rebuild decides it, found through dependencies that wait too. It
    /// is rebuilt only if one of them comes out different.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    waits_for: Vec<String>,
    /// Why it would be built: `new`, `changed: <the first difference>` or `up to date`.
    why: String,
    output: String,
    depends: Vec<&'a str>,
}

/// The plan (or graph) of the selected instances as text, JSON or Graphviz dot.
pub fn render(plan: &Plan, selection: &[usize], format: Format) -> String {
    let mut waits = Waits::default();
    let entries: Vec<Entry> = selection
        .iter()
        .map(|index| Entry::of(plan, *index, &mut waits))
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
    fn of(plan: &'a Plan, index: usize, waits: &mut Waits) -> Entry<'a> {
        let instance = &plan.instances[index];
        let waits_for: Vec<String> = waits
            .roots(plan, index)
            .iter()
            .map(|root| plan.instances[*root].id.clone())
            .collect();
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
            why: match waits_for.is_empty() {
                true => why(plan, index),
                false => format!(
                    "rebuilt only if {} comes out different",
                    waits_for.join(" or ")
                ),
            },
            waits_for,
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
            Status::Stale if !entry.waits_for.is_empty() => "goldenrod",
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
    let stages = stage_groups(plan);
    let counts = |status: Status| {
        entries
            .iter()
            .filter(|entry| entry.status == status)
            .count()
    };
    let waiting = entries
        .iter()
        .filter(|entry| !entry.waits_for.is_empty())
        .count();
    let _ = write!(
        out,
        "spin {}: {} instance(s): {} built, {} stale, {} missing",
        plan.spin.name,
        entries.len(),
        counts(Status::Built),
        counts(Status::Stale) - waiting,
        counts(Status::Missing)
    );
    if waiting > 0 {
        let _ = write!(
            out,
            ", {waiting} waiting (rebuilt only if a dependency rebuilt first comes out different)"
        );
    }
    out.push('\n');
    for entry in entries {
        let status = match entry.status {
            Status::Built => "built  ",
            Status::Stale if !entry.waits_for.is_empty() => "waiting",
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
            let _ = write!(
                out,
                " <- {}",
                abridged(plan, &stages, &entry.depends).join(", ")
            );
        }
        let _ = writeln!(out, "  ({})", entry.why);
    }
    out
}

/// What stale instances wait for, found once per instance.
#[derive(Default)]
struct Waits {
    roots: HashMap<usize, Vec<usize>>,
}

impl Waits {
    /// The instances whose rebuild decides whether this one is rebuilt: when every input of a
    /// stale instance that differs from its record is a dependency still to be rebuilt, it is
    /// rebuilt only if one of those comes out different (early cutoff). Dependencies that
    /// wait themselves are followed to what they wait for. Empty for any other instance.
    fn roots(&mut self, plan: &Plan, index: usize) -> Vec<usize> {
        if let Some(known) = self.roots.get(&index) {
            return known.clone();
        }
        let mut roots = BTreeSet::new();
        for dep in rebuilt_dependencies(plan, index) {
            match self.roots(plan, dep) {
                theirs if theirs.is_empty() => roots.insert(dep),
                theirs => {
                    roots.extend(theirs);
                    true
                }
            };
        }
        let roots: Vec<usize> = roots.into_iter().collect();
        self.roots.insert(index, roots.clone());
        roots
    }
}

/// The dependencies a stale instance differs from its record by, when those are all it
/// differs by and each is to be rebuilt first; empty otherwise.
fn rebuilt_dependencies(plan: &Plan, index: usize) -> Vec<usize> {
    let instance = &plan.instances[index];
    if instance.status != Status::Stale {
        return Vec::new();
    }
    let Some(record) = Record::read(&instance.layout.record()) else {
        return Vec::new();
    };
    let current = &instance.inputs.values;
    let changed: BTreeSet<&String> = current
        .keys()
        .chain(record.inputs.keys())
        .filter(|name| current.get(*name) != record.inputs.get(*name))
        .collect();
    let mut deps = Vec::new();
    for name in changed {
        let rebuilt_first = instance.deps.iter().copied().find(|dep| {
            *name == format!("depends {}", plan.instances[*dep].id)
                && record.inputs.contains_key(name)
                && current[name].starts_with("unbuilt ")
        });
        match rebuilt_first {
            Some(dep) => deps.push(dep),
            None => return Vec::new(),
        }
    }
    deps
}

/// The ids of the plan's instances, by target and stage.
type StageGroups<'a> = BTreeMap<(usize, usize), Vec<&'a str>>;

fn stage_groups(plan: &Plan) -> StageGroups<'_> {
    let mut stages = StageGroups::new();
    for instance in &plan.instances {
        let group = stages.entry((instance.target, instance.stage)).or_default();
        group.push(&instance.id);
    }
    stages
}

/// Dependencies as a person reads them: every instance of one target's stage, which a chroot
/// stage's builds all depend on, as `all of <target>/<stage> (N)`; the rest by id.
fn abridged(plan: &Plan, stages: &StageGroups, depends: &[&str]) -> Vec<String> {
    let mut whole = Vec::new();
    let mut covered = BTreeSet::new();
    for ((target, stage), ids) in stages {
        if ids.len() > 1 && ids.iter().all(|id| depends.contains(id)) {
            let name = format!(
                "{}/{}",
                plan.targets[*target].name, plan.stages[*stage].name
            );
            whole.push(format!("all of {name} ({})", ids.len()));
            covered.extend(ids.iter().copied());
        }
    }
    let rest = depends.iter().filter(|id| !covered.contains(**id));
    whole
        .into_iter()
        .chain(rest.map(|id| id.to_string()))
        .collect()
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
