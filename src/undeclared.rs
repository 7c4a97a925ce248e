//! Naming the dependency a failed build forgot to declare.
//!
//! A build sees only the packages it depends on (see [`crate::view`]), so a recipe that uses
//! a header, library, program or pkg-config module of another package without saying so fails
//! every time. The compiler's or shell's message names the missing file; this module reads it
//! from the end of the log and finds which package of the stage installs it, so the error can
//! point at the recipe's DEPENDS and say what to add.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use crate::recipe::Recipe;
use crate::script_error::{ScriptError, Snippet};

/// How much of the end of a failed build's log is read for missing files.
const LOG_TAIL_BYTES: u64 = 256 * 1024;

/// Something a failed build looked for and did not find.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Wanted {
    /// `#include <name>`: `zlib.h`, `sys/acl.h`.
    Header(String),
    /// `-lname`.
    Library(String),
    /// A program run by name.
    Program(String),
    /// A pkg-config module.
    Module(String),
    /// The `#!` interpreter of a script the shell could not run: `/bin/bash`.
    Interpreter { script: String, path: String },
}

impl Wanted {
    /// Whether `file` (a path in a package, relative to its root) is what was wanted.
    pub fn is_provided_by(&self, file: &str) -> bool {
        let (folder, name) = file.rsplit_once('/').unwrap_or(("", file));
        match self {
            Wanted::Header(header) => file.ends_with(&format!("include/{header}")),
            Wanted::Library(library) => {
                is_library_folder(folder)
                    && (name == format!("lib{library}.a")
                        || name == format!("lib{library}.so")
                        || name.starts_with(&format!("lib{library}.so.")))
            }
            Wanted::Program(program) => {
                name == program && (folder.ends_with("bin") || folder.ends_with("sbin"))
            }
            Wanted::Module(module) => {
                name == format!("{module}.pc") && folder.ends_with("pkgconfig")
            }
            Wanted::Interpreter { path, .. } => {
                let path = path.trim_start_matches('/');
                file == path || Some(file) == usr_merged(path).as_deref()
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Wanted::Header(header) => format!("the header {header}"),
            Wanted::Library(library) => format!("the library -l{library}"),
            Wanted::Program(program) => format!("the program {program}"),
            Wanted::Module(module) => format!("the pkg-config module {module}"),
            Wanted::Interpreter { script, path } => {
                format!("the interpreter {path} that {script} names on its #! line")
            }
        }
    }
}

/// Where a path under /bin, /sbin or /lib lies in a usr-merged root, whose packages install
/// into /usr.
fn usr_merged(path: &str) -> Option<String> {
    let (top, rest) = path.split_once('/')?;
    let merged = match top {
        "bin" | "sbin" => "usr/bin",
        "lib" => "usr/lib",
        _ => return None,
    };
    Some(format!("{merged}/{rest}"))
}

/// How many entries of the build's trees are looked at for a script the shell could not run.
const SCRIPT_SEARCH_ENTRIES: usize = 200_000;

/// Replaces each program run by a path (`./mkcapshdoc.sh: not found`) that is a script in
/// one of `trees` with the interpreter its `#!` line names: the shell says "not found" when
/// that is missing, not the script.
pub fn resolve_scripts(wanted: Vec<Wanted>, trees: &[PathBuf]) -> Vec<Wanted> {
    wanted
        .into_iter()
        .map(|wanted| match &wanted {
            Wanted::Program(program) if program.contains('/') => {
                script_interpreter(program, trees).unwrap_or(wanted)
            }
            _ => wanted,
        })
        .collect()
}

fn script_interpreter(program: &str, trees: &[PathBuf]) -> Option<Wanted> {
    let suffix: PathBuf = Path::new(program)
        .components()
        .filter(|part| matches!(part, Component::Normal(_)))
        .collect();
    let mut budget = SCRIPT_SEARCH_ENTRIES;
    let mut pending: Vec<PathBuf> = trees.to_vec();
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<_> = entries.filter_map(|entry| entry.ok()).collect();
        paths.sort_by_key(|entry| entry.file_name());
        for entry in paths {
            budget = budget.checked_sub(1)?;
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() && path.ends_with(&suffix) {
                if let Some(interpreter) = crate::interpreter::named_interpreter(&path) {
                    return Some(Wanted::Interpreter {
                        script: program.to_string(),
                        path: interpreter.to_string_lossy().into_owned(),
                    });
                }
            }
        }
    }
    None
}

fn is_library_folder(folder: &str) -> bool {
    folder == "lib" || folder.ends_with("/lib") || folder.ends_with("/lib64") || folder == "lib64"
}

/// What the log's last lines say was not found, each once, in the order first seen.
pub fn wanted_in(log: &str) -> Vec<Wanted> {
    let mut wanted = Vec::new();
    for line in log.lines() {
        if let Some(found) = wanted_on(line) {
            if !wanted.contains(&found) {
                wanted.push(found);
            }
        }
    }
    wanted
}

fn wanted_on(line: &str) -> Option<Wanted> {
    let line = line.trim_end();
    // clang: `fatal error: 'zlib.h' file not found`
    if let Some(rest) = line.strip_suffix("' file not found") {
        let header = rest.rsplit_once('\'')?.1;
        return Some(Wanted::Header(header.to_string()));
    }
    // gcc: `fatal error: zlib.h: No such file or directory`
    if let Some(rest) = line.strip_suffix(": No such file or directory") {
        if let Some((_, header)) = rest.rsplit_once("fatal error: ") {
            return Some(Wanted::Header(header.to_string()));
        }
    }
    // ld.lld: `unable to find library -lz`; GNU ld: `cannot find -lz: No such file...`
    for marker in ["unable to find library -l", "cannot find -l"] {
        if let Some((_, rest)) = line.split_once(marker) {
            let library = rest.split([':', ' ']).next().unwrap_or_default();
            if !library.is_empty() {
                return Some(Wanted::Library(library.to_string()));
            }
        }
    }
    // bash: `foo: command not found`; dash and busybox: `sh: 1: foo: not found`
    for marker in [": command not found", ": not found"] {
        if let Some(rest) = line.strip_suffix(marker) {
            let program = rest.rsplit(": ").next().unwrap_or(rest).trim();
            if !program.is_empty() && !program.contains(' ') {
                return Some(Wanted::Program(program.to_string()));
            }
        }
    }
    // pkg-config: `Package 'foo', required by 'bar', not found`, `No package 'foo' found`
    if line.contains("not found") || line.starts_with("No package '") {
        let (_, rest) = line
            .split_once("Package '")
            .or_else(|| line.split_once("No package '"))?;
        let module = rest.split('\'').next()?;
        return Some(Wanted::Module(module.to_string()));
    }
    None
}

/// The end of a log file, or nothing when it cannot be read.
pub fn log_tail(path: &Path) -> String {
    let Ok(mut file) = std::fs::File::open(path) else {
        return String::new();
    };
    let length = file.metadata().map(|metadata| metadata.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(length.saturating_sub(LOG_TAIL_BYTES)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// For each wanted thing, the first package (by name) among `installed` that has it, with the
/// file: `(wanted, package, file)`.
pub fn providers(
    wanted: &[Wanted],
    installed: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<(Wanted, String, String)> {
    wanted
        .iter()
        .filter_map(|wanted| {
            installed.iter().find_map(|(package, files)| {
                files
                    .iter()
                    .find(|file| wanted.is_provided_by(file))
                    .map(|file| (wanted.clone(), package.clone(), file.clone()))
            })
        })
        .collect()
}

/// One error per package of the stage that installs what the failed build of `recipe` (the
/// instance `id`) looked for, when the build's `view` of the stage lacks it: each points at the
/// recipe's DEPENDS and says what to add.
pub fn explain(
    recipe: &Recipe,
    id: &str,
    (view, trees): (&Path, &[PathBuf]),
    log: &Path,
    installed: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<ScriptError> {
    let wanted = resolve_scripts(wanted_in(&log_tail(log)), trees);
    let mut by_package: BTreeMap<String, Vec<(Wanted, String)>> = BTreeMap::new();
    for (wanted, package, file) in providers(&wanted, installed) {
        if package != recipe.name && view.join(&file).symlink_metadata().is_err() {
            by_package.entry(package).or_default().push((wanted, file));
        }
    }
    let field = if recipe.declaration("DEPENDS").1.is_some() {
        "DEPENDS"
    } else {
        "NAME"
    };
    let (text, span) = recipe.declaration(field);
    by_package
        .into_iter()
        .map(|(package, found)| {
            let what: Vec<String> = found
                .iter()
                .map(|(wanted, file)| format!("{} (/{file})", wanted.describe()))
                .collect();
            let snippet = span.map(|span| {
                Snippet::from_text(&recipe.script.name, text.clone(), span, format!("\"{package}\" is not here"))
            });
            ScriptError::message(format!(
                "{id} looked for {}, which {package} installs, but does not depend on {package}",
                what.join(" and ")
            ))
            .at(snippet)
            .with_help(format!(
                "add \"{package}\" to DEPENDS: a build sees only the packages it depends on and theirs"
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_compilers_linkers_and_shells_did_not_find() {
        let log = "\
app.c:1:10: fatal error: 'zlib.h' file not found
app.c:2:10: fatal error: sys/acl.h: No such file or directory
ld.lld: error: unable to find library -llz4
/usr/bin/ld: cannot find -lbz2: No such file or directory
./configure: line 12: gperf: command not found
sh: 1: m4: not found
Package 'libcap', required by 'virtual:world', not found
No package 'mount' found
app.c:1:10: fatal error: 'zlib.h' file not found
make: *** [Makefile:2: all] Error 1
";
        assert_eq!(
            wanted_in(log),
            [
                Wanted::Header("zlib.h".into()),
                Wanted::Header("sys/acl.h".into()),
                Wanted::Library("lz4".into()),
                Wanted::Library("bz2".into()),
                Wanted::Program("gperf".into()),
                Wanted::Program("m4".into()),
                Wanted::Module("libcap".into()),
                Wanted::Module("mount".into()),
            ]
        );
    }

    #[test]
    fn a_script_the_shell_could_not_run_stands_for_its_interpreter() {
        let tree = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tree.path().join("progs")).unwrap();
        std::fs::write(tree.path().join("progs/mkdoc.sh"), "#!/bin/bash\necho\n").unwrap();
        std::fs::write(tree.path().join("progs/data.txt"), "text\n").unwrap();
        let wanted = wanted_in("/bin/sh: 1: ./mkdoc.sh: not found\nsh: 1: ./data.txt: not found\n");
        let resolved = resolve_scripts(wanted, &[tree.path().join("missing"), tree.path().into()]);
        let interpreter = Wanted::Interpreter {
            script: "./mkdoc.sh".into(),
            path: "/bin/bash".into(),
        };
        assert_eq!(
            resolved,
            [interpreter.clone(), Wanted::Program("./data.txt".into())]
        );
        assert!(interpreter.is_provided_by("usr/bin/bash"));
        assert!(interpreter.is_provided_by("bin/bash"));
        assert!(!interpreter.is_provided_by("usr/bin/dash"));
        assert!(!interpreter.is_provided_by("usr/lib/bash"));
    }

    #[test]
    fn finds_the_package_that_installs_it() {
        let installed: BTreeMap<String, BTreeSet<String>> = [
            ("acl", vec!["usr/include/sys/acl.h", "usr/lib/libacl.so.1"]),
            (
                "zlib",
                vec![
                    "usr/include/zlib.h",
                    "usr/lib/libz.a",
                    "usr/lib/pkgconfig/zlib.pc",
                ],
            ),
            ("m4", vec!["usr/bin/m4"]),
        ]
        .into_iter()
        .map(|(name, files)| {
            (
                name.to_string(),
                files.into_iter().map(String::from).collect(),
            )
        })
        .collect();
        let wanted = [
            Wanted::Header("sys/acl.h".into()),
            Wanted::Header("acl.h".into()),
            Wanted::Library("z".into()),
            Wanted::Module("zlib".into()),
            Wanted::Program("m4".into()),
            Wanted::Program("lib".into()),
            Wanted::Library("zl".into()),
        ];
        let found: Vec<(String, String)> = providers(&wanted, &installed)
            .into_iter()
            .map(|(_, package, file)| (package, file))
            .collect();
        assert_eq!(
            found,
            [
                ("acl".to_string(), "usr/include/sys/acl.h".to_string()),
                ("zlib".to_string(), "usr/lib/libz.a".to_string()),
                ("zlib".to_string(), "usr/lib/pkgconfig/zlib.pc".to_string()),
                ("m4".to_string(), "usr/bin/m4".to_string()),
            ]
        );
    }
}
