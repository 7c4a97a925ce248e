use std::path::{Path, PathBuf};

use rhai::{Array, Map};

use crate::error::{Error, Result};
use crate::problems::Problems;
use crate::project::Project;
use crate::scripts::Scripts;
use crate::suggest::closest;

/// The fields a target script's map must have, and what each means.
const FIELDS: &[(&str, bool, &str)] = &[
    ("arch", false, "the architecture's name, as in `uname -m`"),
    (
        "triple",
        false,
        "the target triple, e.g. x86_64-serpent-linux-musl",
    ),
    (
        "llvm_arch",
        false,
        "the name in LLVM_TARGETS_TO_BUILD, e.g. X86 or AArch64",
    ),
    (
        "kernel_arch",
        false,
        "the kernel's ARCH, e.g. x86_64 or arm64",
    ),
    (
        "musl_arch",
        false,
        "musl's arch directory, e.g. x86_64 or aarch64",
    ),
    ("cflags", true, "default C flags"),
    ("cxxflags", true, "default C++ flags"),
    ("ldflags", true, "default linker flags"),
    (
        "qemu",
        false,
        "the qemu-user emulator that runs this target's programs on another host",
    ),
    ("description", false, "one line about the target"),
    (
        "binfmt_magic",
        false,
        "the ELF header bytes binfmt_misc matches, in \\xNN form",
    ),
    (
        "binfmt_mask",
        false,
        "the mask for binfmt_magic, in \\xNN form",
    ),
];

const OPTIONAL: [&str; 3] = ["description", "binfmt_magic", "binfmt_mask"];

/// A target, as its script describes it. Nothing about any target lives in Rust.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub path: PathBuf,
    pub data: Map,
}

impl Target {
    /// Finds `name` (a file in recipes/targets/ or a path to a script) and reads it.
    pub fn load(scripts: &Scripts, project: &Project, name: &str) -> Result<Target> {
        let path = if name.ends_with(".rhai") || name.contains('/') {
            PathBuf::from(name)
        } else {
            project.target_path(name).unwrap_or_else(|| {
                scripts
                    .root
                    .join("recipes/targets")
                    .join(format!("{name}.rhai"))
            })
        };
        if !path.is_file() {
            let known = project.target_names();
            let names: Vec<&str> = known.iter().map(String::as_str).collect();
            let mut message = format!("unknown target `{name}`: {} does not exist", path.display());
            if let Some(guess) = closest(name, &names) {
                message.push_str(&format!("; did you mean `{guess}`?"));
            } else if !names.is_empty() {
                message.push_str(&format!("; targets: {}", names.join(", ")));
            }
            return Err(Error::Usage(message));
        }
        Target::read(scripts, &path)
    }

    /// Reads a target script: its value must be a map of the fields in FIELDS. Every problem
    /// is reported at once, so a new target is written in one pass.
    pub fn read(scripts: &Scripts, path: &Path) -> Result<Target> {
        let (ast, source_name) = scripts.compile(path)?;
        let text =
            std::fs::read_to_string(path).map_err(|error| Error::io("cannot read", path, error))?;
        let value = scripts
            .engine
            .eval_ast::<rhai::Dynamic>(&ast)
            .map_err(|error| {
                crate::script_error::ScriptError::eval(&scripts.root, &source_name, &error, true)
            })?;
        let mut problems = Problems::new(&source_name, &text);
        let Some(data) = value.clone().try_cast::<Map>() else {
            problems.add(
                "",
                None,
                format!(
                    "a target script must end with a map of its data, not {}",
                    value.type_name()
                ),
                Some("end the script with #{ arch: \"...\", triple: \"...\", ... }".into()),
            );
            problems.finish()?;
            unreachable!("a problem was recorded");
        };
        check_unknown_fields(&data, &mut problems);
        check_fields(&data, &mut problems);
        problems.finish()?;
        let name = path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        Ok(Target {
            name,
            path: path.to_path_buf(),
            data,
        })
    }

    pub fn text(&self, field: &str) -> String {
        self.data
            .get(field)
            .map(|value| value.to_string())
            .unwrap_or_default()
    }

    /// A flag list joined into the single string build systems expect.
    pub fn flags(&self, field: &str) -> String {
        self.data
            .get(field)
            .and_then(|value| value.clone().into_array().ok())
            .unwrap_or_default()
            .iter()
            .map(|flag| flag.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A field the target map has but serpent does not know is most likely a misspelling of
/// one it knows; without this it would be silently ignored.
fn check_unknown_fields(data: &Map, problems: &mut Problems) {
    for key in data.keys() {
        if !FIELDS.iter().any(|(field, ..)| *field == key.as_str()) {
            let known: Vec<&str> = FIELDS.iter().map(|(field, ..)| *field).collect();
            let help = closest(key, &known).map(|guess| format!("did you mean `{guess}`?"));
            problems.add(
                "",
                Some(&format!("{key}:")),
                format!("unknown target field `{key}`"),
                help,
            );
        }
    }
}

/// Every field recipes may read must be there (unless it is OPTIONAL) and of its type, so
/// a recipe never meets a missing or mistyped field halfway through a build.
fn check_fields(data: &Map, problems: &mut Problems) {
    for (field, is_list, doc) in FIELDS {
        match data.get(*field) {
            None if OPTIONAL.contains(field) => {}
            None => problems.add(
                "",
                None,
                format!("the target has no `{field}` ({doc})"),
                None,
            ),
            Some(value) if *is_list => {
                let ok = value
                    .read_lock::<Array>()
                    .is_some_and(|items| items.iter().all(|item| item.is_string()));
                if !ok {
                    problems.add(
                        "",
                        Some(&format!("{field}:")),
                        format!("`{field}` must be an array of strings"),
                        None,
                    );
                }
            }
            Some(value) if !value.is_string() => {
                problems.add(
                    "",
                    Some(&format!("{field}:")),
                    format!("`{field}` must be a string"),
                    None,
                );
            }
            Some(_) => {}
        }
    }
}
