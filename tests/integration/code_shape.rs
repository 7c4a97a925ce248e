//! The code's shape, checked so that it stays easy to change: functions short enough to read
//! at once, modules that depend on each other without cycles, and no block of code copied word
//! for word.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::test::REPO;

/// Longer than this, a function is a procedure whose steps deserve names.
const LONGEST_FUNCTION: usize = 80;
/// This many lines (not counting blank ones) found twice is a copy.
const COPIED_BLOCK: usize = 10;

/// One Rust file: its path relative to the repository and its lines.
struct RustFile {
    path: String,
    lines: Vec<String>,
}

fn rust_files(dir: &str) -> Vec<RustFile> {
    let mut paths = Vec::new();
    collect(&Path::new(REPO).join(dir), &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|path| RustFile {
            path: path
                .strip_prefix(REPO)
                .unwrap()
                .to_string_lossy()
                .into_owned(),
            lines: std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect(),
        })
        .collect()
}

fn collect(dir: &Path, paths: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, paths);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            paths.push(path);
        }
    }
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The name of the function a line starts, unless it only declares one (`fn f();` in a trait).
fn function_start(line: &str) -> Option<&str> {
    let mut rest = line.trim_start();
    for qualifier in [
        "pub(crate) ",
        "pub(super) ",
        "pub ",
        "const ",
        "async ",
        "unsafe ",
    ] {
        rest = rest.strip_prefix(qualifier).unwrap_or(rest);
    }
    let name = rest.strip_prefix("fn ")?;
    let end = name.find(|c: char| !c.is_alphanumeric() && c != '_')?;
    (!line.trim_end().ends_with(';')).then(|| &name[..end])
}

/// The index of the line that closes a block opened on `start` (rustfmt puts the closing brace
/// at the opening line's indentation).
fn block_end(lines: &[String], start: usize) -> usize {
    let depth = indent(&lines[start]);
    (start + 1..lines.len())
        .find(|&index| {
            let line = &lines[index];
            indent(line) == depth && line.trim_start().starts_with('}')
        })
        .unwrap_or(lines.len() - 1)
}

/// A `match` arm that fits on one line: a table, not a procedure, so it does not count.
fn one_line_arm(line: &str) -> bool {
    let line = line.trim();
    line.contains(" => ") && line.ends_with(',') && !line.ends_with("{,")
}

#[test]
fn no_function_in_src_is_longer_than_eighty_lines() {
    let mut long = Vec::new();
    for file in rust_files("src") {
        for (start, line) in file.lines.iter().enumerate() {
            let Some(name) = function_start(line) else {
                continue;
            };
            let end = block_end(&file.lines, start);
            let body = &file.lines[start..=end];
            let length = body.len() - body.iter().filter(|line| one_line_arm(line)).count();
            if length > LONGEST_FUNCTION {
                long.push(format!(
                    "{}:{} {name}: {length} lines",
                    file.path,
                    start + 1
                ));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions longer than {LONGEST_FUNCTION} lines; give their steps names:\n{}",
        long.join("\n")
    );
}

/// The lines of a file that are code outside its tests: comments and `#[cfg(test)]` modules
/// left out, since a test may use any module and a comment may name any.
fn code_outside_tests(lines: &[String]) -> Vec<&str> {
    let mut code = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index].trim();
        if line == "#[cfg(test)]" {
            let item = (index + 1..lines.len())
                .find(|&next| !lines[next].trim_start().starts_with("#["))
                .unwrap_or(index);
            if lines[item].trim_start().starts_with("mod ") {
                index = if lines[item].trim_end().ends_with(';') {
                    item + 1
                } else {
                    block_end(lines, item) + 1
                };
                continue;
            }
        }
        if !line.starts_with("//") {
            code.push(line.split(" // ").next().unwrap());
        }
        index += 1;
    }
    code
}

/// The crate's top-level modules that `code` names: `crate::x` paths and `use crate::{x, y}`.
fn modules_named(code: &[&str]) -> BTreeSet<String> {
    let text = code.join("\n");
    let mut named = BTreeSet::new();
    for (position, _) in text.match_indices("crate::") {
        let rest = &text[position + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                let item = item.trim();
                let name = item.split("::").next().unwrap_or(item);
                if !name.is_empty() {
                    named.insert(name.to_string());
                }
            }
        } else {
            let end = rest
                .find(|c: char| !c.is_alphanumeric() && c != '_')
                .unwrap_or(rest.len());
            named.insert(rest[..end].to_string());
        }
    }
    named
}

/// Which modules each top-level module of the crate uses; a folder module (`src/unpack/`) and
/// its `unpack.rs` are one module, and files of tests included by `#[path]` are left out.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files("src") {
        let relative = file.path.strip_prefix("src/").unwrap();
        let module = relative
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        if module.ends_with("_tests") || ["main", "lib"].contains(&module.as_str()) {
            continue;
        }
        let named = modules_named(&code_outside_tests(&file.lines));
        let uses = graph.entry(module.clone()).or_default();
        uses.extend(named.into_iter().filter(|name| *name != module));
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for uses in graph.values_mut() {
        uses.retain(|name| modules.contains(name));
    }
    graph
}

/// A cycle of modules, as a path that returns to where it started, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        module: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        finished: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|seen| seen == module) {
            let mut cycle = path[start..].to_vec();
            cycle.push(module.to_string());
            return Some(cycle);
        }
        if finished.contains(module) {
            return None;
        }
        path.push(module.to_string());
        for next in &graph[module] {
            if let Some(cycle) = visit(next, graph, path, finished) {
                return Some(cycle);
            }
        }
        path.pop();
        finished.insert(module.to_string());
        None
    }
    let mut finished = BTreeSet::new();
    graph
        .keys()
        .find_map(|module| visit(module, graph, &mut Vec::new(), &mut finished))
}

#[test]
fn the_modules_of_src_depend_on_each_other_without_cycles() {
    let graph = module_graph();
    assert!(graph.len() > 20, "too few modules found: {graph:?}");
    assert!(graph["build"].contains("plan"), "{:?}", graph["build"]);
    if let Some(cycle) = find_cycle(&graph) {
        panic!("modules use each other in a cycle: {}", cycle.join(" -> "));
    }
}

#[test]
fn the_cycle_finder_finds_a_cycle_and_accepts_a_tree() {
    let graph = |edges: &[(&str, &str)]| {
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in edges {
            graph.entry(to.to_string()).or_default();
            graph
                .entry(from.to_string())
                .or_default()
                .insert(to.to_string());
        }
        graph
    };
    let cycle = find_cycle(&graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("a", "d")]));
    assert_eq!(cycle.unwrap().join(" -> "), "a -> b -> c -> a");
    assert_eq!(
        find_cycle(&graph(&[("a", "b"), ("a", "c"), ("b", "c")])),
        None
    );
    let code = [
        "use crate::{error::Error, fetch};",
        "let x = crate::store::Store::new();",
    ];
    let named: Vec<String> = modules_named(&code).into_iter().collect();
    assert_eq!(named, ["error", "fetch", "store"]);
}

/// A window of lines worth reporting as copied: not just braces and short words.
fn substantial(window: &[(usize, &str)]) -> bool {
    window.iter().filter(|(_, line)| line.len() > 12).count() >= COPIED_BLOCK / 2
}

#[test]
fn no_block_of_ten_lines_is_copied_within_src_and_tests() {
    let files: Vec<RustFile> = rust_files("src")
        .into_iter()
        .chain(rust_files("tests"))
        .collect();
    let mut first_seen: BTreeMap<Vec<&str>, String> = BTreeMap::new();
    let mut copies = Vec::new();
    for file in &files {
        let lines: Vec<(usize, &str)> = file
            .lines
            .iter()
            .enumerate()
            .map(|(index, line)| (index + 1, line.trim()))
            .filter(|(_, line)| !line.is_empty())
            .collect();
        let mut last_reported = 0;
        for window in lines.windows(COPIED_BLOCK) {
            if !substantial(window) {
                continue;
            }
            let text: Vec<&str> = window.iter().map(|(_, line)| *line).collect();
            let here = format!("{}:{}", file.path, window[0].0);
            match first_seen.get(&text) {
                Some(first) if window[0].0 > last_reported => {
                    copies.push(format!("{here} repeats {first}"));
                    last_reported = window[COPIED_BLOCK - 1].0;
                }
                Some(_) => {}
                None => {
                    first_seen.insert(text, here);
                }
            }
        }
    }
    assert!(
        copies.is_empty(),
        "blocks of {COPIED_BLOCK} lines or more copied word for word:\n{}",
        copies.join("\n")
    );
}
