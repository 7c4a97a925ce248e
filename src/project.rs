use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where scripts are found: overlay folders first (a fork's replacements and additions), then
/// the project's own `recipes/`. Each folder has the layout of `recipes/`.
#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    pub recipe_dirs: Vec<PathBuf>,
}

impl Project {
    pub fn new(root: &Path, overlays: &[PathBuf]) -> Project {
        let mut recipe_dirs: Vec<PathBuf> = overlays.to_vec();
        recipe_dirs.push(root.join("recipes"));
        Project {
            root: root.to_path_buf(),
            recipe_dirs,
        }
    }

    /// The first `<dir>/<relative>` that exists.
    pub fn find(&self, relative: &str) -> Option<PathBuf> {
        self.recipe_dirs
            .iter()
            .map(|dir| dir.join(relative))
            .find(|path| path.exists())
    }

    pub fn target_path(&self, name: &str) -> Option<PathBuf> {
        self.find(&format!("targets/{name}.rhai"))
    }

    pub fn target_names(&self) -> Vec<String> {
        self.names_in("targets", |_| true)
    }

    pub fn spin_names(&self) -> Vec<String> {
        self.names_in("spins", |_| true)
    }

    /// Every stage: a folder with a `stage.rhai`, by name.
    pub fn stage_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .recipe_dirs
            .iter()
            .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten())
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                path.join("stage.rhai")
                    .is_file()
                    .then(|| path.file_name().unwrap().to_string_lossy().into_owned())
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The recipes of a stage by name; an overlay's file wins over ours.
    pub fn stage_recipes(&self, stage: &str) -> BTreeMap<String, PathBuf> {
        let mut recipes = BTreeMap::new();
        for dir in self.recipe_dirs.iter().rev() {
            for entry in std::fs::read_dir(dir.join(stage))
                .into_iter()
                .flatten()
                .flatten()
            {
                let path = entry.path();
                let Some(stem) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
                    continue;
                };
                if path.extension().is_some_and(|ext| ext == "rhai") && stem != "stage" {
                    recipes.insert(stem, path);
                }
            }
        }
        recipes
    }

    pub fn spin_path(&self, name: &str) -> Option<PathBuf> {
        if name.ends_with(".rhai") || name.contains('/') {
            return Some(PathBuf::from(name)).filter(|path| path.is_file());
        }
        self.find(&format!("spins/{name}.rhai"))
    }

    fn names_in(&self, folder: &str, keep: impl Fn(&Path) -> bool) -> Vec<String> {
        let mut names: Vec<String> = self
            .recipe_dirs
            .iter()
            .flat_map(|dir| std::fs::read_dir(dir.join(folder)).into_iter().flatten())
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                (path.extension()? == "rhai" && keep(&path))
                    .then(|| path.file_stem().unwrap().to_string_lossy().into_owned())
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// The project root: the nearest folder, from `start` upwards, holding `recipes/` and `stdlib/`.
pub fn find_root(start: &Path) -> Option<PathBuf> {
    let start = std::path::absolute(start).ok()?;
    start
        .ancestors()
        .find(|dir| dir.join("recipes").is_dir() && dir.join("stdlib").is_dir())
        .map(Path::to_path_buf)
}
