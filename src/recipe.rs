use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::SourceSpan;
use rhai::{Dynamic, Map, Scope, AST};
use serde::Deserialize;

use crate::declaration::{optional, Kind, Schema};
use crate::error::{Error, Result};
use crate::isolation::Isolation;
pub use crate::problems::Problems;
use crate::recipe_files::{self, RecipeFile};
use crate::script::Script;
use crate::scripts::{imports_of, Scripts, PHASES};
use crate::suggest::closest;

mod source;

use source::read_sources;
pub use source::{url_problem, Source};

/// Every top-level declaration a recipe may make. Upper-case names are declarations; anything
/// else at the top level is the recipe's own business. NAME and VERSION are checked by
/// `check_name_and_version`, which also refuses them empty.
pub const SCHEMA: Schema = Schema {
    what: "declaration",
    within: None,
    fields: &[
    optional("NAME", Kind::Text, "the package name (required)"),
    optional("VERSION", Kind::Text, "the upstream version (required)"),
    optional("DESCRIPTION", Kind::Text, "one line about the package"),
    optional("HOMEPAGE", Kind::Text, "the upstream project's page"),
    optional("LICENSE", Kind::Text, "an SPDX expression"),
    optional("SOURCES", Kind::List, "maps with url and sha256, optionally dest, strip, only, unpack"),
    optional("PATCHES", Kind::List, "file names in recipes/patches/<NAME>/, or maps with file and strip; [] for none; without PATCHES: every file there, by name"),
    optional("FILES", Kind::Texts, "paths of files in recipes/files/<NAME>/ to copy into the source tree, at the same paths, before the patches"),
    optional("DEPENDS", Kind::Texts, "names of recipes that must be built first"),
    optional("STYLE", Kind::Text, "a build style from stdlib/ that supplies the phases: autotools, cmake, meson, make, c_program, python_module"),
    optional("CONFIGURE_ARGS", Kind::Texts, "extra arguments for ./configure (autotools)"),
    optional("CMAKE_ARGS", Kind::Texts, "extra -D arguments for cmake"),
    optional("MESON_ARGS", Kind::Texts, "extra arguments for meson setup"),
    optional("MAKE_ARGS", Kind::Texts, "extra arguments for make during build"),
    optional("MAKE_INSTALL_ARGS", Kind::Texts, "extra arguments for make install"),
    optional("OPTIONS", Kind::Table, "free-form settings the recipe reads through ctx.recipe.options"),
    optional("ISOLATION", Kind::Text, "\"host\" to build this recipe on the host in a chroot stage (musl first in stage3)"),
    optional("BUILD_IN_SOURCE", Kind::Flag, "build inside the source tree instead of a separate build directory"),
    ],
};

/// The declarations Rust reads itself; phases read all of them through `ctx.recipe`.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Declared {
    name: String,
    version: String,
    license: Option<String>,
    depends: Vec<String>,
    style: Option<String>,
    isolation: Option<Isolation>,
    build_in_source: bool,
}

#[derive(Debug, Clone)]
pub struct PatchFile {
    pub path: PathBuf,
    pub strip: usize,
}

/// The constant a recipe's top level is given: the name of the stage folder it is read from,
/// so one file can serve several stages (`if STAGE == "stage1" { ... }`).
pub const STAGE: &str = "STAGE";

/// The stage a recipe file belongs to: the name of its folder.
fn stage_of(path: &Path) -> String {
    path.parent()
        .and_then(Path::file_name)
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn given_scope(stage: &str) -> Scope<'static> {
    let mut scope = Scope::new();
    scope.push_constant(STAGE, stage.to_string());
    scope
}

/// A recipe's declarations, read without running anything but its top level.
pub struct Recipe {
    /// The stage folder it was read from (`STAGE` in the script).
    pub stage: String,
    pub path: PathBuf,
    /// The script, read once: its name, text (hashed into its key) and AST.
    pub script: Arc<Script>,
    pub name: String,
    pub version: String,
    /// The SPDX license expression LICENSE declares, if it declares one.
    pub license: Option<String>,
    pub sources: Vec<Source>,
    pub patches: Vec<PatchFile>,
    /// The files the recipe carries in the repository.
    pub files: Vec<RecipeFile>,
    pub depends: Vec<String>,
    pub style: Option<String>,
    /// Where it builds when its stage is a chroot one; none means the stage's way.
    pub isolation: Option<Isolation>,
    pub build_in_source: bool,
    /// Lower-case declarations with defaults filled in, given to phases as `ctx.recipe`.
    pub declarations: Map,
    /// The phase functions the recipe itself defines.
    pub phases: Vec<String>,
    /// The stdlib modules it imports, including its STYLE.
    pub imports: Vec<String>,
}

pub fn is_declaration(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

pub use crate::digest::is_sha256;

/// The upper-case names a script's top level set, with their values: its declarations.
pub fn declared_in(scope: &Scope) -> Vec<(String, Dynamic)> {
    scope
        .iter()
        .filter(|(name, ..)| is_declaration(name) && *name != STAGE)
        .map(|(name, _, value)| (name.to_string(), value))
        .collect()
}

impl Recipe {
    /// Reads a recipe: compiles it, runs its top level, applies a spin's overrides and checks
    /// every declaration. Patches are looked up in `<dir>/patches/<NAME>/` for each of
    /// `recipe_dirs` in order.
    pub fn load(
        scripts: &Scripts,
        path: &Path,
        recipe_dirs: &[PathBuf],
        overrides: Option<&Map>,
    ) -> Result<Recipe> {
        let stage = stage_of(path);
        let given = given_scope(&stage);
        let script = Arc::new(scripts.compile_in(path, &given)?);
        let scope = scripts.evaluate_in(&script.ast, &script.name, given)?;
        let mut values = declared_in(&scope);
        for (key, value) in overrides.into_iter().flatten() {
            let name = key.to_uppercase();
            values.retain(|(existing, _)| *existing != name);
            values.push((name, value.clone()));
        }
        let mut problems = Problems::of(&script);
        let read = Recipe::from_values(scripts, &script, &values, recipe_dirs, &mut problems);
        problems.finish()?;
        let mut recipe = read.expect("a recipe without problems was read whole");
        recipe.imports = imports_of(&script.text);
        if let Some(style) = &recipe.style {
            if !recipe.imports.contains(style) {
                recipe.imports.push(style.clone());
            }
        }
        recipe.stage = stage;
        Ok(recipe)
    }

    /// The calls in the recipe that cannot work (an unknown function, arguments of the wrong
    /// kinds), found without running it. `serpent check` reports them, and a build before it
    /// starts anything; a recipe built already under its key passed this when it was built.
    pub fn check_calls(&self, scripts: &Scripts) -> Result<()> {
        let findings = crate::lint::check_calls(
            scripts,
            &self.script.ast,
            &self.script.text,
            crate::lint::Holder::Recipe,
        );
        let mut problems = Problems::of(&self.script);
        for finding in findings {
            problems.add_at(finding.span, finding.message, finding.help);
        }
        problems.finish()
    }

    /// A scope holding what the recipe's top level is given (`STAGE`), for running its
    /// functions.
    pub fn scope(&self) -> Scope<'static> {
        given_scope(&self.stage)
    }

    /// Builds the recipe from its top-level declarations, going on past a bad one so that one
    /// run reports every problem the recipe has.
    fn from_values(
        scripts: &Scripts,
        script: &Arc<Script>,
        values: &[(String, Dynamic)],
        recipe_dirs: &[PathBuf],
        problems: &mut Problems,
    ) -> Option<Recipe> {
        let declarations = SCHEMA.read(values.iter().cloned(), problems);
        let declared: Declared = SCHEMA.typed(&declarations, problems);
        check_name_and_version(&declared.name, &declared.version, problems);
        let sources = read_sources(&declarations, problems);
        check_style(scripts, declared.style.as_deref(), problems);
        let patch_dir = patch_dir(scripts, recipe_dirs, &declared.name);
        let patches_declared = values.iter().any(|(name, _)| name == "PATCHES");
        let patches = read_patches(&declarations, patches_declared, &patch_dir, problems);
        let files = recipe_files::read(
            scripts,
            &declarations,
            &declared.name,
            recipe_dirs,
            problems,
        );
        let phases = phases_of(&script.ast);
        check_builds_something(declared.style.as_deref(), &phases, problems);
        if !problems.is_empty() {
            return None;
        }
        Some(Recipe {
            stage: String::new(),
            path: script.path.clone(),
            script: script.clone(),
            name: declared.name,
            version: declared.version,
            license: declared.license,
            sources,
            patches,
            files,
            depends: declared.depends,
            style: declared.style,
            isolation: declared.isolation,
            build_in_source: declared.build_in_source,
            declarations,
            phases,
            imports: Vec::new(),
        })
    }
}

/// NAME and VERSION name the package in plans, paths and keys, so both must be given, and
/// NAME must be usable as one path component.
fn check_name_and_version(name: &str, version: &str, problems: &mut Problems) {
    for (field, value) in [("NAME", name), ("VERSION", version)] {
        if value.is_empty() {
            problems.add(
                field,
                None,
                format!("{field} is required and must not be empty"),
                Some(format!("add `const {field} = \"...\";` at the top level")),
            );
        }
    }
    if name.contains(|c: char| c == '/' || c.is_whitespace()) {
        problems.add(
            "NAME",
            Some(name),
            format!("NAME `{name}` may not contain `/` or spaces"),
            None,
        );
    }
}

/// The build style, checked against stdlib/ when the recipe is read, so that a misspelt one
/// is caught before anything is built.
fn check_style(scripts: &Scripts, style: Option<&str>, problems: &mut Problems) {
    let Some(style) = style else {
        return;
    };
    let styles = scripts.styles();
    if !styles.iter().any(|known| known == style) {
        let names: Vec<&str> = styles.iter().map(String::as_str).collect();
        let help = match closest(style, &names) {
            Some(guess) => format!("did you mean \"{guess}\"?"),
            None => format!("build styles in stdlib/: {}", names.join(", ")),
        };
        problems.add(
            "STYLE",
            Some(style),
            format!("unknown build style \"{style}\""),
            Some(help),
        );
    }
}

/// The first of `recipe_dirs` with patches for `name`, so a project's own recipes can carry
/// theirs; failing that, the repository's recipes/patches/, which errors then name.
fn patch_dir(scripts: &Scripts, recipe_dirs: &[PathBuf], name: &str) -> PathBuf {
    recipe_dirs
        .iter()
        .map(|dir| dir.join("patches").join(name))
        .find(|dir| dir.is_dir())
        .unwrap_or_else(|| scripts.root.join("recipes/patches").join(name))
}

/// The phase functions the recipe defines itself: only those with a phase's name and one
/// parameter can be called with `ctx`; others are helpers.
fn phases_of(ast: &AST) -> Vec<String> {
    ast.iter_functions()
        .filter(|function| PHASES.contains(&function.name) && function.params.len() == 1)
        .map(|function| function.name.to_string())
        .collect()
}

/// A recipe with neither a style nor an install phase would make an empty package. Said only
/// when nothing else is wrong, since a misspelt STYLE or phase is then the likelier cause.
fn check_builds_something(style: Option<&str>, phases: &[String], problems: &mut Problems) {
    if style.is_none() && !phases.iter().any(|phase| phase == "install") && problems.is_empty() {
        problems.add("NAME", None, "the recipe has no STYLE and no install phase, so it would build nothing".into(), Some("declare `const STYLE = \"autotools\";` (or cmake, meson, make) or write `fn install(ctx)`".into()));
    }
}

impl Recipe {
    /// The recipe's text with the place of its declaration `field`, for errors about it.
    pub fn declaration(&self, field: &str) -> (String, Option<SourceSpan>) {
        (
            self.script.text.to_string(),
            self.script.locate(field, None),
        )
    }

    /// A DEPENDS entry that names no recipe of `folder` (the stage's recipe folder), pointing
    /// at it in the recipe and suggesting the closest of `known`.
    pub fn unknown_dependency(&self, name: &str, known: &[&str], folder: &str) -> Error {
        let mut problems = Problems::of(&self.script);
        let help = closest(name, known).map(|guess| format!("did you mean \"{guess}\"?"));
        problems.add(
            "DEPENDS",
            Some(&format!("\"{name}\"")),
            format!("unknown dependency \"{name}\": no {name}.rhai in {folder}"),
            help,
        );
        problems.finish().expect_err("a problem was added")
    }
}

/// The patches a recipe applies: the ones PATCHES names (none for `[]`), or, when the recipe
/// does not declare PATCHES at all, every file in its patch folder by name.
fn read_patches(
    declarations: &Map,
    declared_at_all: bool,
    dir: &Path,
    problems: &mut Problems,
) -> Vec<PatchFile> {
    let declared = declarations["patches"]
        .clone()
        .into_array()
        .unwrap_or_default();
    let mut patches = Vec::new();
    if !declared_at_all {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return patches;
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.is_file())
            .collect();
        paths.sort();
        return paths
            .into_iter()
            .map(|path| PatchFile { path, strip: 1 })
            .collect();
    }
    for item in declared {
        let (file, strip) = match item.clone().try_cast::<Map>() {
            Some(map) => (
                map.get("file")
                    .map(|file| file.to_string())
                    .unwrap_or_default(),
                map.get("strip")
                    .and_then(|strip| strip.as_int().ok())
                    .unwrap_or(1)
                    .max(0) as usize,
            ),
            None => (item.to_string(), 1),
        };
        let path = dir.join(&file);
        if file.is_empty() || !path.is_file() {
            problems.add(
                "PATCHES",
                Some(&file),
                format!("patch `{file}` not found in {}", dir.display()),
                Some("patches live in recipes/patches/<NAME>/".into()),
            );
            continue;
        }
        patches.push(PatchFile { path, strip });
    }
    patches
}

/// The declarations a recipe may make, for documentation and templates.
pub fn fields() -> impl Iterator<Item = (&'static str, &'static str)> {
    SCHEMA.fields.iter().map(|field| (field.name, field.doc))
}
