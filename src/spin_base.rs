//! Spins that extend another: a spin naming a `BASE` gets the base's declarations, its own in
//! their place, then its `REMOVE` and `ADD` applied. Bases may have bases; a cycle is an error
//! naming the chain.

use std::path::{Path, PathBuf};

use rhai::Map;

use crate::error::Result;
use crate::problems::Problems;
use crate::project::Project;
use crate::scripts::Scripts;
use crate::spin::Spin;
use crate::spin_changes::SpinChanges;

/// A change `REMOVE` asked for that the base does not allow: the name to point at in the
/// script, what is wrong and what to do.
type Miss = (String, String, Option<String>);

/// The spin `name` names (or the default one), with its bases merged in.
pub fn load(scripts: &Scripts, project: &Project, name: Option<&str>) -> Result<Spin> {
    let spin = Spin::load(scripts, project, name)?;
    with_bases(scripts, project, spin, &mut Vec::new())
}

/// The spin script at `path`, with its bases merged in.
pub fn read(scripts: &Scripts, project: &Project, path: &Path) -> Result<Spin> {
    let spin = Spin::read(scripts, path)?;
    with_bases(scripts, project, spin, &mut Vec::new())
}

/// `spin` merged over its base, which is merged over its own first. `chain` holds the spins
/// being merged, outermost first, to tell a cycle.
fn with_bases(
    scripts: &Scripts,
    project: &Project,
    spin: Spin,
    chain: &mut Vec<PathBuf>,
) -> Result<Spin> {
    let (Some(base_name), Some(path), Some(script)) =
        (spin.base.clone(), spin.path.clone(), spin.script.clone())
    else {
        return Ok(spin);
    };
    chain.push(std::path::absolute(&path).unwrap_or_else(|_| path.clone()));
    let mut problems = Problems::of(&script);
    let base_path = match find_base(scripts, project, &path, &base_name, chain) {
        Ok(base_path) => base_path,
        Err((message, help)) => {
            problems.add("BASE", Some(&base_name), message, help);
            return Err(problems.finish().expect_err("a problem was added"));
        }
    };
    let base = Spin::read(scripts, &base_path)?;
    let base = with_bases(scripts, project, base, chain)?;
    let previous = |stage: &str| previous_stage(scripts, project, stage);
    let (merged, misses) = merge(base, spin, &previous);
    for (needle, message, help) in misses {
        problems.add("REMOVE", Some(&needle), message, help);
    }
    problems.finish()?;
    Ok(merged)
}

/// The file of the base spin: a spin's name, or a path from the spin's own folder. One
/// already in `chain` closes a cycle.
fn find_base(
    scripts: &Scripts,
    project: &Project,
    spin_path: &Path,
    name: &str,
    chain: &[PathBuf],
) -> std::result::Result<PathBuf, (String, Option<String>)> {
    let found = if name.ends_with(".rhai") || name.contains('/') {
        let folder = spin_path.parent().unwrap_or(Path::new("."));
        Some(folder.join(name)).filter(|path| path.is_file())
    } else {
        project.spin_path(name)
    };
    let Some(found) = found else {
        let known = project.spin_names();
        let known: Vec<&str> = known.iter().map(String::as_str).collect();
        let help = crate::suggest::closest(name, &known)
            .map(|guess| format!("did you mean \"{guess}\"?"))
            .or_else(|| Some(format!("the spins are: {}", known.join(", "))));
        return Err((
            format!("BASE names `{name}`: no recipes/spins/{name}.rhai and no such file next to this spin"),
            help,
        ));
    };
    let absolute = std::path::absolute(&found).unwrap_or_else(|_| found.clone());
    if chain.contains(&absolute) {
        let mut names: Vec<String> = chain.iter().map(|path| scripts.source_name(path)).collect();
        names.push(scripts.source_name(&absolute));
        return Err((
            format!(
                "the spins' BASE declarations form a cycle: {}",
                names.join(" -> ")
            ),
            Some("one of them must stop naming the next as its BASE".into()),
        ));
    }
    Ok(found)
}

/// The stage a stage builds on (its PREVIOUS), if it has one.
fn previous_stage(scripts: &Scripts, project: &Project, stage: &str) -> Option<String> {
    let script = project.find(&format!("{stage}/stage.rhai"))?;
    crate::stage::Stage::load(scripts, script.parent()?)
        .ok()?
        .previous
}

/// Whether a spin builds `stage`: every stage when it names none, else those it names and
/// the stages they build on.
fn builds_stage(spin: &Spin, stage: &str, previous: &dyn Fn(&str) -> Option<String>) -> bool {
    if spin.stages.is_empty() {
        return true;
    }
    let mut pending = spin.stages.clone();
    let mut seen: Vec<String> = Vec::new();
    while let Some(next) = pending.pop() {
        if next == stage {
            return true;
        }
        if !seen.contains(&next) {
            pending.extend(previous(&next));
            seen.push(next);
        }
    }
    false
}

fn pick<T>(own: bool, mine: T, theirs: T) -> T {
    if own {
        mine
    } else {
        theirs
    }
}

/// The base's declarations with the spin's own in their place, then its `REMOVE` and `ADD`.
fn merge(base: Spin, spin: Spin, previous: &dyn Fn(&str) -> Option<String>) -> (Spin, Vec<Miss>) {
    let own = |name: &str| spin.declared.iter().any(|declared| declared == name);
    let mut merged = Spin {
        targets: pick(own("TARGETS"), spin.targets.clone(), base.targets),
        stages: pick(own("STAGES"), spin.stages.clone(), base.stages),
        overlays: pick(own("OVERLAYS"), spin.overlays.clone(), base.overlays),
        flags: pick(own("FLAGS"), spin.flags.clone(), base.flags),
        overrides: pick(own("OVERRIDES"), spin.overrides.clone(), base.overrides),
        packages: pick(own("PACKAGES"), spin.packages.clone(), base.packages),
        // Kept, applied, so that an error can say a name came from ADD.
        added: spin.added.clone(),
        removed: SpinChanges::default(),
        ..spin.clone()
    };
    let misses = remove(&mut merged, &spin.removed);
    add(&mut merged, &spin.added, previous);
    (merged, misses)
}

/// Takes `removed` out of `spin`; what it does not have to take is a miss.
fn remove(spin: &mut Spin, removed: &SpinChanges) -> Vec<Miss> {
    let mut misses = Vec::new();
    for target in removed.targets.iter().filter(|t| !spin.targets.contains(t)) {
        let message = format!("REMOVE.targets: the base builds no target `{target}`");
        misses.push((target.clone(), message, among(target, &spin.targets)));
    }
    spin.targets
        .retain(|target| !removed.targets.contains(target));
    for overlay in removed
        .overlays
        .iter()
        .filter(|o| !spin.overlays.contains(o))
    {
        let name = overlay.file_name().unwrap_or_default().to_string_lossy();
        let message = format!(
            "REMOVE.overlays: the base has no overlay {}",
            overlay.display()
        );
        let known: Vec<String> = spin
            .overlays
            .iter()
            .map(|o| o.display().to_string())
            .collect();
        misses.push((name.into_owned(), message, among("", &known)));
    }
    spin.overlays
        .retain(|overlay| !removed.overlays.contains(overlay));
    for (stage, names) in &removed.packages {
        let Some(listed) = spin.packages.get_mut(stage) else {
            let message = format!("REMOVE.packages.{stage}: the base lists no PACKAGES for {stage}, so it builds every recipe there");
            let help = format!("declare PACKAGES.{stage} with the recipes to build instead");
            misses.push((stage.clone(), message, Some(help)));
            continue;
        };
        for name in names.iter().filter(|name| !listed.contains(name)) {
            let message = format!("REMOVE.packages.{stage}: the base does not list `{name}`");
            misses.push((name.clone(), message, among(name, listed)));
        }
        listed.retain(|name| !names.contains(name));
    }
    let recipes: Vec<String> = spin.overrides.keys().map(|key| key.to_string()).collect();
    for recipe in removed.overrides.keys() {
        if spin.overrides.remove(recipe).is_none() {
            let message = format!("REMOVE.overrides: the base has no override for `{recipe}`");
            misses.push((recipe.to_string(), message, among(recipe, &recipes)));
        }
    }
    misses
}

/// `did you mean ...?` for the known name closest to `name`, else the known names.
fn among(name: &str, known: &[String]) -> Option<String> {
    let names: Vec<&str> = known.iter().map(String::as_str).collect();
    match crate::suggest::closest(name, &names) {
        Some(guess) => Some(format!("did you mean `{guess}`?")),
        None if names.is_empty() => Some("the base has none".into()),
        None => Some(format!("the base has: {}", names.join(", "))),
    }
}

/// Adds `added` to `spin`. Packages of a stage the base builds whole (one PACKAGES does not
/// narrow, or the previous stage of one it builds) are there already; a stage the base does
/// not build is added with just them. An override is merged into the base's for the same
/// recipe, declaration by declaration.
fn add(spin: &mut Spin, added: &SpinChanges, previous: &dyn Fn(&str) -> Option<String>) {
    for target in &added.targets {
        if !spin.targets.contains(target) {
            spin.targets.push(target.clone());
        }
    }
    for overlay in &added.overlays {
        if !spin.overlays.contains(overlay) {
            spin.overlays.push(overlay.clone());
        }
    }
    for (stage, names) in &added.packages {
        if let Some(listed) = spin.packages.get_mut(stage) {
            let new: Vec<String> = names
                .iter()
                .filter(|name| !listed.contains(name))
                .cloned()
                .collect();
            listed.extend(new);
        } else if !builds_stage(spin, stage, previous) {
            spin.stages.push(stage.clone());
            spin.packages.insert(stage.clone(), names.clone());
        }
    }
    for (recipe, declarations) in &added.overrides {
        let mut merged = spin
            .overrides
            .get(recipe)
            .and_then(|value| value.clone().try_cast::<Map>())
            .unwrap_or_default();
        merged.extend(declarations.clone().cast::<Map>());
        spin.overrides.insert(recipe.clone(), merged.into());
    }
}
