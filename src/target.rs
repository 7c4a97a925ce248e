use std::path::{Path, PathBuf};

use rhai::Map;

use crate::declaration::{optional, required, Kind, Schema};
use crate::error::{Error, Result};
use crate::problems::Problems;
use crate::project::Project;
use crate::scripts::Scripts;
use crate::suggest::closest;

/// The fields of a target script's map, and what each means.
const SCHEMA: Schema = Schema {
    what: "target field",
    within: Some(""),
    fields: &[
        required(
            "arch",
            Kind::Text,
            "the architecture's name, as in `uname -m`",
        ),
        required(
            "triple",
            Kind::Text,
            "the target triple, e.g. x86_64-serpent-linux-musl",
        ),
        required(
            "llvm_arch",
            Kind::Text,
            "the name in LLVM_TARGETS_TO_BUILD, e.g. X86 or AArch64",
        ),
        required(
            "kernel_arch",
            Kind::Text,
            "the kernel's ARCH, e.g. x86_64 or arm64",
        ),
        required(
            "musl_arch",
            Kind::Text,
            "musl's arch directory, e.g. x86_64 or aarch64",
        ),
        required("cflags", Kind::Texts, "default C flags"),
        required("cxxflags", Kind::Texts, "default C++ flags"),
        required("ldflags", Kind::Texts, "default linker flags"),
        required(
            "qemu",
            Kind::Text,
            "the qemu-user emulator that runs this target's programs on another host",
        ),
        optional("description", Kind::Text, "one line about the target"),
        optional(
            "isa",
            Kind::Text,
            "the Remote Execution API's name for the target's instruction set (x86-64, arm-a64), which routes its native builds to a worker of that kind; not part of any key",
        ),
        optional(
            "binfmt_magic",
            Kind::Text,
            "the ELF header bytes binfmt_misc matches, in \\xNN form",
        ),
        optional(
            "binfmt_mask",
            Kind::Text,
            "the mask for binfmt_magic, in \\xNN form",
        ),
    ],
};

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
        let script = scripts.compile(path)?;
        let value = scripts
            .engine
            .eval_ast::<rhai::Dynamic>(&script.ast)
            .map_err(|error| {
                crate::script_error::ScriptError::eval(&scripts.root, &script.name, &error, true)
            })?;
        let mut problems = Problems::of(&script);
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
            return Err(problems.finish().expect_err("a problem was recorded"));
        };
        let given = data
            .iter()
            .map(|(name, value)| (name.to_string(), value.clone()));
        SCHEMA.read(given, &mut problems);
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

    /// The fields that say what is built for the target: all but `isa`, which only says
    /// where builds may run.
    pub fn keyed_data(&self) -> Map {
        let mut data = self.data.clone();
        data.remove("isa");
        data
    }

    /// The instruction set a worker must have to run the target's programs natively.
    pub fn isa(&self) -> String {
        match self.data.get("isa") {
            Some(isa) => isa.to_string(),
            None => self.text("arch"),
        }
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
