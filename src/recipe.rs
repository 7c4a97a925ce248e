use std::path::{Path, PathBuf};

use miette::SourceSpan;
use rhai::{Array, Dynamic, Map, Scope, AST};

use crate::error::{Error, Result};
pub use crate::problems::Problems;
use crate::recipe_files::{self, RecipeFile};
use crate::scripts::{imports_of, Scripts, PHASES};
use crate::suggest::closest;

mod source;

use source::read_sources;
pub use source::{url_problem, Source};

/// What a declaration's value must be, checked when the recipe is read so that phases can rely
/// on it.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Texts,
    List,
    Table,
    Flag,
}

/// Every top-level declaration a recipe may make. Upper-case names are declarations; anything
/// else at the top level is the recipe's own business.
const FIELDS: &[(&str, Kind, &str)] = &[
    ("NAME", Kind::Text, "the package name (required)"),
    ("VERSION", Kind::Text, "the upstream version (required)"),
    ("DESCRIPTION", Kind::Text, "one line about the package"),
    ("HOMEPAGE", Kind::Text, "the upstream project's page"),
    ("LICENSE", Kind::Text, "an SPDX expression"),
    ("SOURCES", Kind::List, "maps with url and sha256, optionally dest, strip, only, unpack"),
    ("PATCHES", Kind::List, "file names in recipes/patches/<NAME>/, or maps with file and strip; [] for none; without PATCHES: every file there, by name"),
    ("FILES", Kind::Texts, "paths of files in recipes/files/<NAME>/ to copy into the source tree, at the same paths, before the patches"),
    ("DEPENDS", Kind::Texts, "names of recipes that must be built first"),
    ("STYLE", Kind::Text, "a build style from stdlib/ that supplies the phases: autotools, cmake, meson, make, c_program"),
    ("CONFIGURE_ARGS", Kind::Texts, "extra arguments for ./configure (autotools)"),
    ("CMAKE_ARGS", Kind::Texts, "extra -D arguments for cmake"),
    ("MESON_ARGS", Kind::Texts, "extra arguments for meson setup"),
    ("MAKE_ARGS", Kind::Texts, "extra arguments for make during build"),
    ("MAKE_INSTALL_ARGS", Kind::Texts, "extra arguments for make install"),
    ("OPTIONS", Kind::Table, "free-form settings the recipe reads through ctx.recipe.options"),
    ("ISOLATION", Kind::Text, "\"host\" to build this recipe on the host in a chroot stage (musl first in stage3)"),
    ("BUILD_IN_SOURCE", Kind::Flag, "build inside the source tree instead of a separate build directory"),
];

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
    pub source_name: String,
    pub ast: AST,
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
    /// Lower-case declarations with defaults filled in, given to phases as `ctx.recipe`.
    pub declarations: Map,
    /// The phase functions the recipe itself defines.
    pub phases: Vec<String>,
    /// The script's bytes, for its key.
    pub bytes: Vec<u8>,
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

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Text => "a string",
        Kind::Texts => "an array of strings",
        Kind::List => "an array",
        Kind::Table => "a map",
        Kind::Flag => "true or false",
    }
}

fn has_kind(value: &Dynamic, kind: Kind) -> bool {
    match kind {
        Kind::Text => value.is_string(),
        Kind::Texts => value
            .read_lock::<Array>()
            .is_some_and(|items| items.iter().all(Dynamic::is_string)),
        Kind::List => value.is_array(),
        Kind::Table => value.is_map(),
        Kind::Flag => value.is_bool(),
    }
}

fn default_of(kind: Kind) -> Dynamic {
    match kind {
        Kind::Text => Dynamic::from(String::new()),
        Kind::Texts | Kind::List => Dynamic::from(Array::new()),
        Kind::Table => Dynamic::from(Map::new()),
        Kind::Flag => Dynamic::FALSE,
    }
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
        let (ast, source_name) = scripts.compile_in(path, &given)?;
        let scope = scripts.evaluate_in(&ast, &source_name, given)?;
        let bytes = std::fs::read(path).map_err(|error| Error::io("cannot read", path, error))?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let mut values: Vec<(String, Dynamic)> = scope
            .iter()
            .filter(|(name, ..)| is_declaration(name) && *name != STAGE)
            .map(|(name, _, value)| (name.to_string(), value))
            .collect();
        for (key, value) in overrides.into_iter().flatten() {
            let name = key.to_uppercase();
            values.retain(|(existing, _)| *existing != name);
            values.push((name, value.clone()));
        }
        let findings = crate::lint::check_calls(scripts, &ast, &text, crate::lint::Holder::Recipe);
        let name = source_name.clone();
        let recipe =
            Recipe::from_values(scripts, path, source_name, ast, &values, &text, recipe_dirs);
        let mut recipe = with_findings(recipe, findings, &name, &text)?;
        recipe.imports = imports_of(&text);
        if let Some(style) = &recipe.style {
            if !recipe.imports.contains(style) {
                recipe.imports.push(style.clone());
            }
        }
        recipe.bytes = bytes;
        recipe.stage = stage;
        Ok(recipe)
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
        path: &Path,
        source_name: String,
        ast: AST,
        values: &[(String, Dynamic)],
        text: &str,
        recipe_dirs: &[PathBuf],
    ) -> Result<Recipe> {
        let mut problems = Problems::new(&source_name, text);
        let declarations = declarations_of(values, &mut problems);
        let name = text_of(&declarations, "name");
        let version = text_of(&declarations, "version");
        check_name_and_version(&name, &version, &mut problems);
        let sources = read_sources(&declarations, &mut problems);
        let depends = depends_of(&declarations);
        let style = read_style(scripts, &declarations, &mut problems);
        check_isolation(&declarations, &mut problems);
        let patch_dir = patch_dir(scripts, recipe_dirs, &name);
        let patches_declared = values.iter().any(|(name, _)| name == "PATCHES");
        let patches = read_patches(&declarations, patches_declared, &patch_dir, &mut problems);
        let files = recipe_files::read(scripts, &declarations, &name, recipe_dirs, &mut problems);
        let phases = phases_of(&ast);
        check_builds_something(style.as_deref(), &phases, &mut problems);
        problems.finish()?;
        Ok(Recipe {
            stage: String::new(),
            path: path.to_path_buf(),
            source_name,
            ast,
            name,
            version,
            license: Some(text_of(&declarations, "license")).filter(|text| !text.is_empty()),
            sources,
            patches,
            files,
            depends,
            style,
            declarations,
            phases,
            bytes: Vec::new(),
            imports: Vec::new(),
        })
    }
}

/// Every field's value under its lower-case name, as phases see it in `ctx.recipe`, with
/// defaults for the fields the recipe leaves out so that phases need not ask whether one is
/// there. Values of the wrong kind are reported and left at their defaults.
fn declarations_of(values: &[(String, Dynamic)], problems: &mut Problems) -> Map {
    let mut declarations = Map::new();
    for (name, kind, _) in FIELDS {
        declarations.insert(name.to_lowercase().into(), default_of(*kind));
    }
    for (name, value) in values {
        let name = name.as_str();
        let Some((_, kind, _)) = FIELDS.iter().find(|(field, ..)| *field == name) else {
            unknown_declaration(name, problems);
            continue;
        };
        if !has_kind(value, *kind) {
            problems.add(
                name,
                None,
                format!(
                    "{name} must be {}, not {}",
                    kind_name(*kind),
                    value.type_name()
                ),
                None,
            );
            continue;
        }
        declarations.insert(name.to_lowercase().into(), value.clone());
    }
    declarations
}

/// An upper-case name that is no field is most likely a misspelt one, which would otherwise
/// be ignored silently.
fn unknown_declaration(name: &str, problems: &mut Problems) {
    let known: Vec<&str> = FIELDS.iter().map(|(field, ..)| *field).collect();
    let help = match closest(name, &known) {
        Some(guess) => format!("did you mean {guess}?"),
        None => format!("known declarations: {}", known.join(", ")),
    };
    problems.add(
        name,
        None,
        format!("unknown declaration {name}"),
        Some(help),
    );
}

/// A declaration as text; the defaults make a missing one empty.
fn text_of(declarations: &Map, key: &str) -> String {
    declarations
        .get(key)
        .map(|v| v.to_string())
        .unwrap_or_default()
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

/// The recipes to build first; whether each exists is checked later, against the recipe
/// folder of the stage being planned.
fn depends_of(declarations: &Map) -> Vec<String> {
    declarations["depends"]
        .clone()
        .into_array()
        .unwrap_or_default()
        .into_iter()
        .map(|item| item.to_string())
        .collect()
}

/// The build style, checked against stdlib/ when the recipe is read, so that a misspelt one
/// is caught before anything is built.
fn read_style(scripts: &Scripts, declarations: &Map, problems: &mut Problems) -> Option<String> {
    let style = Some(text_of(declarations, "style")).filter(|style| !style.is_empty())?;
    let styles = scripts.styles();
    if !styles.contains(&style) {
        let names: Vec<&str> = styles.iter().map(String::as_str).collect();
        let help = match closest(&style, &names) {
            Some(guess) => format!("did you mean \"{guess}\"?"),
            None => format!("build styles in stdlib/: {}", names.join(", ")),
        };
        problems.add(
            "STYLE",
            Some(&style),
            format!("unknown build style \"{style}\""),
            Some(help),
        );
    }
    Some(style)
}

/// Any other ISOLATION would be read as the default without a word, and the recipe built
/// somewhere its author did not mean.
fn check_isolation(declarations: &Map, problems: &mut Problems) {
    let isolation = text_of(declarations, "isolation");
    if !["", "host", "chroot"].contains(&isolation.as_str()) {
        problems.add(
            "ISOLATION",
            Some(&isolation),
            format!("ISOLATION must be \"host\" or \"chroot\", not {isolation:?}"),
            None,
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
        let text = String::from_utf8_lossy(&self.bytes).into_owned();
        let span = crate::problems::locate(&text, field, None);
        (text, span)
    }

    /// A DEPENDS entry that names no recipe of `folder` (the stage's recipe folder), pointing
    /// at it in the recipe and suggesting the closest of `known`.
    pub fn unknown_dependency(&self, name: &str, known: &[&str], folder: &str) -> Error {
        let text = String::from_utf8_lossy(&self.bytes);
        let mut problems = Problems::new(&self.source_name, &text);
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

/// A recipe's declaration problems together with the calls in it that cannot work.
fn with_findings(
    recipe: Result<Recipe>,
    findings: Vec<crate::lint::Finding>,
    name: &str,
    text: &str,
) -> Result<Recipe> {
    if findings.is_empty() {
        return recipe;
    }
    let mut problems = Problems::new(name, text);
    if let Err(error) = recipe {
        problems.extend(match error {
            Error::Many(many) => many,
            other => vec![other],
        });
    }
    for finding in findings {
        problems.add_at(finding.span, finding.message, finding.help);
    }
    Err(problems.finish().expect_err("findings were added"))
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
    FIELDS.iter().map(|(name, _, doc)| (*name, *doc))
}
