//! Files a recipe carries in the repository instead of fetching: `FILES` names them in
//! `recipes/files/<NAME>/` (the first overlay folder that has `files/<NAME>/` wins, as for
//! patches), and each is copied to the same relative path in the source tree after the sources
//! are unpacked and before the patches apply. Their bytes are part of the recipe's key.
//!
//! A name must stay inside that folder, and the file it leads to, links followed, inside the
//! recipes folder that holds it: a recipe cannot carry a file from elsewhere on the machine
//! into a build. The bytes are hashed when the recipe is read and copied only if they still
//! hash the same, so a build never uses bytes other than the ones its key names.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use rhai::Map;

use crate::beneath::Beneath;
use crate::error::{Error, Result};
use crate::key::hash;
use crate::problems::Problems;
use crate::scripts::Scripts;

/// One file a recipe carries.
#[derive(Debug, Clone)]
pub struct RecipeFile {
    /// Where it lies: `<recipes>/files/<NAME>/<name>`.
    pub path: PathBuf,
    /// Its path in the source tree, as FILES gives it.
    pub name: String,
    /// The sha256 of its bytes when the recipe was read.
    pub sha256: String,
    /// Copied with mode 0755 rather than 0644.
    pub executable: bool,
}

impl RecipeFile {
    /// The value of this file in the recipe's key.
    pub fn key_value(&self) -> String {
        let mode = if self.executable { "0755" } else { "0644" };
        format!("{} mode={mode}", self.sha256)
    }
}

/// Reads FILES of the recipe `name`: every entry a relative path below its files folder that
/// leads to a regular file inside the recipes folder holding it. `recipe_dirs` are searched in
/// order for `files/<name>/`, then the project's own. Problems are added at the entry's place
/// in the recipe.
pub fn read(
    scripts: &Scripts,
    declarations: &Map,
    name: &str,
    recipe_dirs: &[PathBuf],
    problems: &mut Problems,
) -> Vec<RecipeFile> {
    let entries = declarations["files"]
        .clone()
        .into_array()
        .unwrap_or_default();
    if entries.is_empty() {
        return Vec::new();
    }
    let own = scripts.root.join("recipes");
    let recipes = recipe_dirs
        .iter()
        .find(|dir| dir.join("files").join(name).is_dir())
        .unwrap_or(&own);
    let dir = recipes.join("files").join(name);
    let mut files = Vec::new();
    for entry in entries.iter().map(|entry| entry.to_string()) {
        match read_one(&entry, &dir, recipes, &scripts.source_name(recipes)) {
            Ok(file) => files.push(file),
            Err(message) => problems.add(
                "FILES",
                Some(&format!("\"{entry}\"")),
                format!("FILES: `{entry}` {message}"),
                Some(format!(
                    "FILES names files in {}/ by their paths there",
                    scripts.source_name(&dir)
                )),
            ),
        }
    }
    files
}

/// One FILES entry, or what is wrong with it; `recipes_name` is how messages name `recipes`.
fn read_one(
    name: &str,
    dir: &Path,
    recipes: &Path,
    recipes_name: &str,
) -> std::result::Result<RecipeFile, String> {
    let relative = Path::new(name);
    if name.is_empty()
        || !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(
            "must be a relative path without `.` or `..` parts, naming a file in the folder".into(),
        );
    }
    let path = dir.join(relative);
    let real = path.canonicalize().map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => "does not exist".to_string(),
        _ => format!("cannot be read: {error}"),
    })?;
    let inside = recipes
        .canonicalize()
        .is_ok_and(|recipes| real.starts_with(recipes));
    if !inside {
        return Err(format!(
            "leads to {}, which is outside {recipes_name}/",
            real.display()
        ));
    }
    let meta = real
        .metadata()
        .map_err(|error| format!("cannot be read: {error}"))?;
    if !meta.is_file() {
        return Err("is not a regular file".into());
    }
    let bytes = std::fs::read(&real).map_err(|error| format!("cannot be read: {error}"))?;
    Ok(RecipeFile {
        path,
        name: name.to_string(),
        sha256: hash(&bytes),
        executable: meta.permissions().mode() & 0o111 != 0,
    })
}

/// Copies the files into the source tree beneath `tree`, each dated at the epoch so the build
/// does not depend on when the checkout was made.
pub fn copy_into(files: &[RecipeFile], tree: &Beneath) -> Result<()> {
    for file in files {
        let bytes = std::fs::read(&file.path)
            .map_err(|error| Error::io("cannot read", &file.path, error))?;
        if hash(&bytes) != file.sha256 {
            return Err(Error::io(
                "cannot copy",
                &file.path,
                std::io::Error::other("the file changed after the recipe was read; build again"),
            ));
        }
        let destination = tree.root().join(&file.name);
        let mode = if file.executable { 0o755 } else { 0o644 };
        let written = tree
            .create_file(Path::new(&file.name), mode)
            .map_err(std::io::Error::from)
            .and_then(|mut copy| {
                copy.write_all(&bytes)?;
                copy.set_permissions(std::fs::Permissions::from_mode(mode))?;
                copy.set_modified(std::time::UNIX_EPOCH)
            });
        written.map_err(|error| Error::io("cannot copy a recipe's file to", destination, error))?;
    }
    Ok(())
}
