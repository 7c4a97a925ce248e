//! `serpent report`: what the work dir's records say each package cost, as the Markdown table
//! docs/bootstrap.md carries and as JSON, so the figures in the docs come from the builds.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

use crate::plan::{Plan, Status};
use crate::record::Record;

/// One package of the plan, with what its record says.
#[derive(Debug, Serialize, Deserialize)]
pub struct Row {
    pub id: String,
    pub name: String,
    pub version: String,
    pub target: String,
    pub stage: String,
    /// Whether a record is there and carries the plan's key (false: not built, or stale).
    pub current: bool,
    pub built: bool,
    pub wall_seconds: Option<f64>,
    pub cpu_seconds: Option<f64>,
    pub peak_kib: Option<u64>,
    pub bytes: Option<u64>,
    /// `host` or `chroot`: where its commands run, which decides how an emulator slows it.
    pub isolation: String,
    /// For a package not built here, its time on the reference target times the factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projected_wall_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projected_cpu_seconds: Option<f64>,
}

/// Where `--project-from`'s records are read: a work dir (this one when `None`), or a report
/// saved as JSON from one, which outlives the work dir.
pub enum Reference<'a> {
    WorkDir(Option<&'a Path>),
    Report(&'a Path),
}

/// What `json` wrote, as far as a projection reads it.
#[derive(Deserialize)]
struct SavedReport {
    packages: Vec<Row>,
}

/// How the packages not built on a target were projected from another target's records.
#[derive(Debug, Serialize)]
pub struct Projection {
    pub from: String,
    /// By isolation: how much longer this target's packages took than the reference's.
    pub factors: BTreeMap<String, Factor>,
}

/// Time on this target over time on the reference target, summed over the packages built on
/// both, so that big packages weigh more than the noise of small ones.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Factor {
    pub wall: f64,
    pub cpu: f64,
    /// How many packages built on both targets it is made from.
    pub packages: usize,
}

pub fn rows(plan: &Plan, selection: &[usize]) -> Vec<Row> {
    selection
        .iter()
        .map(|index| {
            let instance = &plan.instances[*index];
            let recipe = plan.recipe_of(instance);
            let record = Record::read(&instance.layout.record());
            let usage = record.as_ref().and_then(|record| record.usage);
            Row {
                id: instance.id.clone(),
                name: recipe.name.clone(),
                version: record
                    .as_ref()
                    .map_or_else(|| recipe.version.clone(), |record| record.version.clone()),
                target: plan.targets[instance.target].name.clone(),
                stage: plan.stages[instance.stage].name.clone(),
                current: instance.status == Status::Built,
                built: record.is_some(),
                wall_seconds: record.as_ref().map(|record| record.seconds),
                cpu_seconds: usage.map(|usage| usage.cpu_seconds),
                peak_kib: usage.map(|usage| usage.peak_kib),
                bytes: record.as_ref().and_then(|record| record.bytes),
                isolation: plan.stages[instance.stage]
                    .isolation_for(recipe)
                    .as_str()
                    .to_string(),
                projected_wall_seconds: None,
                projected_cpu_seconds: None,
            }
        })
        .collect()
}

/// Projects the wall and CPU time of every package in `rows` that is not built (on a target
/// other than `from`) from the same package in `reference` (rows of target `from`), scaled by
/// the factor of its isolation. A package whose isolation has no package built on both
/// targets, or that `from` has not built either, is left unprojected.
pub fn project(rows: &mut [Row], reference: &[Row], from: &str) -> Projection {
    let built_there: BTreeMap<(&str, &str), &Row> = reference
        .iter()
        .filter(|row| row.built && row.target == from)
        .map(|row| ((row.stage.as_str(), row.name.as_str()), row))
        .collect();
    let mut sums: BTreeMap<String, (f64, f64, f64, f64, usize)> = BTreeMap::new();
    for row in rows.iter().filter(|row| row.built && row.target != from) {
        let Some(there) = built_there.get(&(row.stage.as_str(), row.name.as_str())) else {
            continue;
        };
        let sum = sums.entry(row.isolation.clone()).or_default();
        sum.0 += row.wall_seconds.unwrap_or(0.0);
        sum.1 += there.wall_seconds.unwrap_or(0.0);
        if let (Some(here), Some(there)) = (row.cpu_seconds, there.cpu_seconds) {
            sum.2 += here;
            sum.3 += there;
        }
        sum.4 += 1;
    }
    let ratio = |here: f64, there: f64| if there > 0.0 { here / there } else { 1.0 };
    let factors: BTreeMap<String, Factor> = sums
        .into_iter()
        .map(
            |(isolation, (wall, wall_there, cpu, cpu_there, packages))| {
                let factor = Factor {
                    wall: ratio(wall, wall_there),
                    cpu: ratio(cpu, cpu_there),
                    packages,
                };
                (isolation, factor)
            },
        )
        .collect();
    for row in rows
        .iter_mut()
        .filter(|row| !row.built && row.target != from)
    {
        let there = built_there.get(&(row.stage.as_str(), row.name.as_str()));
        if let (Some(there), Some(factor)) = (there, factors.get(&row.isolation)) {
            row.projected_wall_seconds = there.wall_seconds.map(|wall| wall * factor.wall);
            row.projected_cpu_seconds = there.cpu_seconds.map(|cpu| cpu * factor.cpu);
        }
    }
    Projection {
        from: from.to_string(),
        factors,
    }
}

/// The rows of a report `json` wrote to `file`, of the `stages` named (all when none are),
/// their projections dropped: only what was built counts as a reference.
pub fn read_rows(file: &Path, stages: &[String]) -> Result<Vec<Row>> {
    let text =
        std::fs::read_to_string(file).map_err(|error| Error::io("cannot read", file, error))?;
    let report: SavedReport = serde_json::from_str(&text).map_err(|error| {
        Error::Usage(format!(
            "{}: not a report serpent wrote ({error}); save one with `serpent report --format \
             json > FILE` over the work dir that built the target",
            file.display()
        ))
    })?;
    Ok(report
        .packages
        .into_iter()
        .filter(|row| stages.is_empty() || stages.contains(&row.stage))
        .map(|row| Row {
            projected_wall_seconds: None,
            projected_cpu_seconds: None,
            ..row
        })
        .collect())
}

pub fn json(plan: &Plan, rows: &[Row], projection: Option<&Projection>) -> String {
    let text = serde_json::to_string_pretty(&serde_json::json!({
        "spin": plan.spin.name,
        "packages": rows,
        "projection": projection,
    }))
    .expect("a report serializes");
    text + "\n"
}

/// A Markdown table of the built packages, then a line of totals and the packages not built,
/// and with a projection, a table of those projected.
pub fn markdown(rows: &[Row], projection: Option<&Projection>) -> String {
    let mut out = String::from(
        "| package | version | wall | CPU | peak memory | size |\n|---|---|---:|---:|---:|---:|\n",
    );
    let built: Vec<&Row> = rows.iter().filter(|row| row.built).collect();
    for row in &built {
        let stale = if row.current { "" } else { " (stale)" };
        out += &format!(
            "| {}{stale} | {} | {} | {} | {} | {} |\n",
            row.id,
            row.version,
            row.wall_seconds.map_or("–".into(), duration),
            row.cpu_seconds.map_or("–".into(), duration),
            row.peak_kib.map_or("–".into(), |kib| bytes(kib * 1024)),
            row.bytes.map_or("–".into(), bytes),
        );
    }
    let wall = built
        .iter()
        .filter_map(|row| row.wall_seconds)
        .fold(0.0, |sum, seconds| sum + seconds);
    let cpu = built
        .iter()
        .filter_map(|row| row.cpu_seconds)
        .fold(0.0, |sum, seconds| sum + seconds);
    let peak = built.iter().filter_map(|row| row.peak_kib).max();
    let size: u64 = built.iter().filter_map(|row| row.bytes).sum();
    out += &format!(
        "| **{} package(s), summed** | | **{}** | **{}** | **{}** | **{}** |\n",
        built.len(),
        duration(wall),
        duration(cpu),
        peak.map_or("–".into(), |kib| bytes(kib * 1024)),
        bytes(size),
    );
    let missing: Vec<&str> = rows
        .iter()
        .filter(|row| !row.built)
        .map(|row| row.id.as_str())
        .collect();
    if !missing.is_empty() {
        out += &format!("\nNot built: {}.\n", missing.join(", "));
    }
    if let Some(projection) = projection {
        out += &projected(rows, projection, wall, cpu);
    }
    out
}

/// The table of projected packages, how they were projected, and the totals with them.
fn projected(rows: &[Row], projection: &Projection, wall: f64, cpu: f64) -> String {
    let from = &projection.from;
    let mut out = format!("\nProjected from {from}'s records:\n\n");
    for (isolation, factor) in &projection.factors {
        out += &format!(
            "- builds with isolation {isolation}: × {:.2} wall, × {:.2} CPU, from {} package(s) built on both\n",
            factor.wall, factor.cpu, factor.packages
        );
    }
    let rows: Vec<&Row> = rows
        .iter()
        .filter(|row| row.projected_wall_seconds.is_some())
        .collect();
    if rows.is_empty() {
        return out + "\nNothing could be projected: no package missing here is built there with a factor for its isolation.\n";
    }
    out += "\n| package | version | projected wall | projected CPU |\n|---|---|---:|---:|\n";
    let (mut projected_wall, mut projected_cpu) = (0.0, 0.0);
    for row in &rows {
        let row_wall = row.projected_wall_seconds.unwrap_or(0.0);
        let row_cpu = row.projected_cpu_seconds.unwrap_or(0.0);
        projected_wall += row_wall;
        projected_cpu += row_cpu;
        out += &format!(
            "| {} | {} | {} | {} |\n",
            row.id,
            row.version,
            duration(row_wall),
            duration(row_cpu)
        );
    }
    out += &format!(
        "| **{} package(s), summed** | | **{}** | **{}** |\n\nBuilt and projected together: {} wall, {} CPU.\n",
        rows.len(),
        duration(projected_wall),
        duration(projected_cpu),
        duration(wall + projected_wall),
        duration(cpu + projected_cpu),
    );
    out
}

/// `9.5 s`, `12 min 5 s`, `1 h 25 min`.
fn duration(seconds: f64) -> String {
    let whole = seconds.round() as u64;
    match whole {
        _ if seconds < 60.0 => format!("{seconds:.1} s"),
        _ if whole < 3600 => format!("{} min {} s", whole / 60, whole % 60),
        _ => format!("{} h {} min", whole / 3600, (whole % 3600) / 60),
    }
}

/// `512 B`, `3.4 MiB`, `1.2 GiB`.
fn bytes(count: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if count < 1024 {
        return format!("{count} B");
    }
    let mut value = count as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_the_way_people_write_them() {
        assert_eq!(duration(9.46), "9.5 s");
        assert_eq!(duration(725.0), "12 min 5 s");
        assert_eq!(duration(5130.0), "1 h 25 min");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3_565_158), "3.4 MiB");
        assert_eq!(bytes(1_288_490_189), "1.2 GiB");
    }
}
