//! `serpent report`: what the work dir's records say each package cost, as the Markdown table
//! docs/bootstrap.md carries and as JSON, so the figures in the docs come from the builds.

use serde::Serialize;

use crate::plan::{Plan, Status};
use crate::record::Record;

/// One package of the plan, with what its record says.
#[derive(Debug, Serialize)]
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
            }
        })
        .collect()
}

pub fn json(plan: &Plan, rows: &[Row]) -> String {
    let text = serde_json::to_string_pretty(&serde_json::json!({
        "spin": plan.spin.name,
        "packages": rows,
    }))
    .expect("a report serializes");
    text + "\n"
}

/// A Markdown table of the built packages, then a line of totals and the packages not built.
pub fn markdown(rows: &[Row]) -> String {
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
