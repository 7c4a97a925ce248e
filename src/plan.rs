use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::input_details;
use crate::key::{hash, Details, Inputs};
use crate::layout::Layout;
use crate::project::Project;
use crate::recipe::Recipe;
use crate::record::Record;
use crate::scripts::Scripts;
use crate::spin::Spin;
use crate::stage::Stage;
use crate::suggest::closest;
use crate::target::Target;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// A record with this key exists: nothing to do.
    Built,
    /// Built before, with other inputs.
    Stale,
    /// Never built (or its build did not finish).
    Missing,
}

/// One recipe for one target in one stage: a node of the build graph.
pub struct Instance {
    pub id: String,
    pub target: usize,
    pub stage: usize,
    pub recipe: usize,
    pub deps: Vec<usize>,
    pub inputs: Inputs,
    pub key: String,
    pub status: Status,
    /// The hash of the package its record names, when it is built with this key.
    pub output: Option<String>,
    pub layout: Layout,
}

/// The plan's recipes by (stage index, name): how DEPENDS and PACKAGES name them.
type RecipesByName = BTreeMap<(usize, String), usize>;

/// The plan's instances by (target index, stage index, recipe name).
type InstancesByName = BTreeMap<(usize, usize, String), usize>;

/// Everything a spin would build, read and keyed without building anything.
pub struct Plan {
    pub spin: Spin,
    pub project: Project,
    pub targets: Vec<Target>,
    pub stages: Vec<Stage>,
    pub recipes: Vec<Recipe>,
    pub instances: Vec<Instance>,
}

impl Plan {
    /// Plans the spin's targets (or just `only_target`) and stages. `extra` is a recipe file
    /// given on the command line; it takes the place of the recipe of the same name.
    pub fn new(
        scripts: &Scripts,
        config: &Config,
        spin: Spin,
        project: Project,
        only_target: Option<&str>,
        extra: Option<&Path>,
    ) -> Result<Plan> {
        let targets = load_targets(scripts, &project, &spin, only_target)?;
        let extra = extra.map(resolve_extra).transpose()?;
        let extra_stage = extra.as_deref().and_then(Path::parent).map(folder_name);
        let stages = order_stages(
            scripts,
            &project,
            &spin,
            extra.as_deref(),
            extra_stage.as_deref(),
        )?;
        let extra_recipe = extra.as_deref().zip(extra_stage.as_deref());
        let (recipes, mut by_name) = load_recipes(scripts, &project, &spin, &stages, extra_recipe)?;
        let wanted = Wanted {
            spin: &spin,
            extra: extra_recipe,
        };
        select_packages(scripts, &wanted, &stages, &recipes, &mut by_name)?;

        let mut plan = Plan {
            spin,
            project,
            targets,
            stages,
            recipes,
            instances: Vec::new(),
        };
        let index = plan.instantiate(config, &by_name);
        plan.link(scripts, &by_name, &index)?;
        let mut hashed = Hashed::new();
        for index in topological_order(&plan.instances)? {
            plan.key_instance(scripts, index, &mut hashed);
        }
        Ok(plan)
    }

    /// One instance of every selected recipe for every target, in target, stage and name
    /// order, not yet linked or keyed. Returns where each (target, stage, name) went, which
    /// is how DEPENDS finds its instances.
    fn instantiate(&mut self, config: &Config, by_name: &RecipesByName) -> InstancesByName {
        let mut index = BTreeMap::new();
        for (target_index, target) in self.targets.iter().enumerate() {
            for (stage_index, stage) in self.stages.iter().enumerate() {
                for ((recipe_stage, name), recipe) in by_name {
                    if *recipe_stage != stage_index {
                        continue;
                    }
                    let id = format!("{}/{}/{name}", target.name, stage.name);
                    let layout = Layout::new(
                        &config.work_dir,
                        &target.name,
                        &stage.name,
                        &stage.root,
                        name,
                    );
                    index.insert(
                        (target_index, stage_index, name.clone()),
                        self.instances.len(),
                    );
                    self.instances.push(Instance {
                        id,
                        target: target_index,
                        stage: stage_index,
                        recipe: *recipe,
                        deps: Vec::new(),
                        inputs: Inputs::default(),
                        key: String::new(),
                        status: Status::Missing,
                        output: None,
                        layout,
                    });
                }
            }
        }
        index
    }

    /// Gives every instance its dependencies: DEPENDS within the stage (or `stage/name`
    /// across stages), and every instance of the previous stage, whose root this stage sees.
    fn link(
        &mut self,
        scripts: &Scripts,
        by_name: &RecipesByName,
        index: &InstancesByName,
    ) -> Result<()> {
        for instance_index in 0..self.instances.len() {
            let mut deps = self.declared_dependencies(scripts, instance_index, by_name, index)?;
            deps.extend(self.previous_stage_instances(instance_index));
            deps.sort_unstable();
            deps.dedup();
            self.instances[instance_index].deps = deps;
        }
        Ok(())
    }

    /// The instances an instance's DEPENDS names, for its own target. A name the stage
    /// does not have is an error that lists the names it has.
    fn declared_dependencies(
        &self,
        scripts: &Scripts,
        instance_index: usize,
        by_name: &RecipesByName,
        index: &InstancesByName,
    ) -> Result<Vec<usize>> {
        let instance = &self.instances[instance_index];
        let recipe = &self.recipes[instance.recipe];
        let mut deps = Vec::new();
        for dependency in &recipe.depends {
            let (dep_stage, dep_name) = match dependency.split_once('/') {
                Some((stage_name, name)) => {
                    match self.stages.iter().position(|s| s.name == stage_name) {
                        Some(found) => (found, name.to_string()),
                        None => {
                            return Err(Error::Usage(format!(
                                "{} depends on `{dependency}`, but the spin has no stage `{stage_name}`",
                                recipe.script.name
                            )))
                        }
                    }
                }
                None => (instance.stage, dependency.clone()),
            };
            match index.get(&(instance.target, dep_stage, dep_name)) {
                Some(found) => deps.push(*found),
                None => {
                    let known: Vec<&str> = by_name
                        .keys()
                        .filter(|(s, _)| *s == dep_stage)
                        .map(|(_, name)| name.as_str())
                        .collect();
                    let folder = scripts.source_name(&self.stages[dep_stage].dir);
                    return Err(recipe.unknown_dependency(dependency, &known, &folder));
                }
            }
        }
        Ok(deps)
    }

    /// Every instance of the stage before this instance's stage, for the same target: the
    /// packages its root is assembled from.
    fn previous_stage_instances(&self, instance_index: usize) -> Vec<usize> {
        let instance = &self.instances[instance_index];
        let Some(previous) = self.stages[instance.stage].previous.as_ref() else {
            return Vec::new();
        };
        let previous_index = self
            .stages
            .iter()
            .position(|s| s.name == *previous)
            .expect("ordered");
        self.instances
            .iter()
            .enumerate()
            .filter(|(_, other)| other.target == instance.target && other.stage == previous_index)
            .map(|(found, _)| found)
            .collect()
    }

    /// Keys an instance from everything that shapes its build, and reads from its record
    /// whether it is built with that key. Runs in dependency order: a dependency's key or
    /// output is one of the inputs.
    fn key_instance(&mut self, scripts: &Scripts, index: usize, hashed: &mut Hashed) {
        let instance = &self.instances[index];
        let recipe = &self.recipes[instance.recipe];
        let mut inputs = self.script_inputs(scripts, instance, hashed);
        add_material_inputs(&mut inputs, scripts, recipe);
        if let Some(overrides) = self
            .spin
            .override_for(&self.stages[instance.stage].name, &recipe.name)
        {
            let details = overrides
                .iter()
                .map(|(field, value)| (field.to_uppercase(), input_details::flat(value)))
                .collect();
            inputs.add_detailed(
                "spin override",
                hash(
                    serde_json::to_string(&rhai::Dynamic::from(overrides))
                        .unwrap_or_default()
                        .as_bytes(),
                ),
                details,
            );
        }
        for dep in &instance.deps {
            let dep = &self.instances[*dep];
            inputs.add(
                format!("depends {}", dep.id),
                dependency_input(dep, dep.output.as_deref()),
            );
        }
        let key = inputs.key();
        let (status, output) = recorded_status(&instance.layout, &key);
        let instance = &mut self.instances[index];
        instance.inputs = inputs;
        instance.key = key;
        instance.status = status;
        instance.output = output;
    }

    /// The inputs from the scripts that say how to build: the tool itself, the recipe, its
    /// stage, the target's data (after the spin's flags) and the stdlib modules they import.
    /// Each script is hashed and described once per plan, however many instances share it.
    fn script_inputs(&self, scripts: &Scripts, instance: &Instance, hashed: &mut Hashed) -> Inputs {
        let recipe = &self.recipes[instance.recipe];
        let stage = &self.stages[instance.stage];
        let target = &self.targets[instance.target];
        let mut inputs = Inputs::default();
        inputs.add("tool", env!("CARGO_PKG_VERSION"));
        let mut add = |name: String, describe: &dyn Fn() -> (String, Details)| {
            let (value, details) = hashed.entry(name.clone()).or_insert_with(describe).clone();
            inputs.add_detailed(name, value, details);
        };
        add(format!("recipe {}", recipe.script.name), &|| {
            (hash(recipe.script.bytes()), input_details::recipe(recipe))
        });
        add(
            format!("stage {}", scripts.source_name(&stage.path)),
            &|| (hash(stage.script.bytes()), input_details::stage(stage)),
        );
        add(format!("target {}", target.name), &|| {
            let data = serde_json::to_string(&rhai::Dynamic::from(target.keyed_data()))
                .unwrap_or_default();
            (hash(data.as_bytes()), input_details::target(target))
        });
        let imports: Vec<String> = recipe
            .imports
            .iter()
            .chain(&stage.imports)
            .cloned()
            .collect();
        for (name, module) in scripts.import_closure(&imports) {
            add(format!("stdlib/{name}.rhai"), &|| {
                let text = String::from_utf8_lossy(&module.bytes);
                (
                    hash(&module.bytes),
                    input_details::functions(&module.ast, &text),
                )
            });
        }
        inputs
    }

    /// The inputs and key of an instance once its dependencies are built, from their outputs
    /// (`output_of` knows those built or reused in this run). A dependency rebuilt to the same
    /// output leaves the key as it was, so what depends on it is not rebuilt: early cutoff.
    pub fn rekey(
        &self,
        index: usize,
        output_of: impl Fn(usize) -> Option<String>,
    ) -> (Inputs, String) {
        let instance = &self.instances[index];
        let mut inputs = instance.inputs.clone();
        for dep in &instance.deps {
            let output = output_of(*dep);
            let dep = &self.instances[*dep];
            inputs.add(
                format!("depends {}", dep.id),
                dependency_input(dep, output.as_deref()),
            );
        }
        let key = inputs.key();
        (inputs, key)
    }

    /// The instances to build for a selection, with everything they depend on.
    pub fn closure(&self, roots: &[usize]) -> Vec<usize> {
        let mut wanted = vec![false; self.instances.len()];
        let mut pending = roots.to_vec();
        while let Some(index) = pending.pop() {
            if !wanted[index] {
                wanted[index] = true;
                pending.extend(&self.instances[index].deps);
            }
        }
        (0..self.instances.len())
            .filter(|index| wanted[*index])
            .collect()
    }

    /// The packages a build of `index` sees in its stage's root: those of its stage it depends
    /// on, directly or not, each after what it depends on.
    pub fn view_of(&self, index: usize) -> Vec<usize> {
        let instance = &self.instances[index];
        let in_stage = |other: usize| {
            let other = &self.instances[other];
            other.target == instance.target && other.stage == instance.stage
        };
        let mut seen = vec![false; self.instances.len()];
        let mut ordered = Vec::new();
        // Depth first, each package after its dependencies; (index, whether its deps are done).
        let mut pending: Vec<(usize, bool)> = instance
            .deps
            .iter()
            .rev()
            .filter(|dep| in_stage(**dep))
            .map(|dep| (*dep, false))
            .collect();
        while let Some((next, expanded)) = pending.pop() {
            if expanded {
                ordered.push(next);
                continue;
            }
            if std::mem::replace(&mut seen[next], true) {
                continue;
            }
            pending.push((next, true));
            for dep in self.instances[next].deps.iter().rev() {
                if in_stage(*dep) && !seen[*dep] {
                    pending.push((*dep, false));
                }
            }
        }
        ordered
    }

    /// The instances of a recipe file (for every planned target).
    pub fn instances_of(&self, path: &Path) -> Vec<usize> {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        self.instances
            .iter()
            .enumerate()
            .filter(|(_, instance)| self.recipes[instance.recipe].path == path)
            .map(|(index, _)| index)
            .collect()
    }

    /// The index of a stage of this plan, or an error listing the stages it has.
    pub fn stage_index(&self, name: &str) -> Result<usize> {
        self.stages
            .iter()
            .position(|stage| stage.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = self
                    .stages
                    .iter()
                    .map(|stage| stage.name.as_str())
                    .collect();
                Error::Usage(format!(
                    "unknown stage `{name}`; this spin has: {}",
                    known.join(", ")
                ))
            })
    }

    /// The instances of the named stages (all stages when none are named).
    pub fn instances_of_stages(&self, names: &[String]) -> Result<Vec<usize>> {
        for name in names {
            self.stage_index(name)?;
        }
        Ok(self
            .instances
            .iter()
            .enumerate()
            .filter(|(_, instance)| {
                names.is_empty() || names.contains(&self.stages[instance.stage].name)
            })
            .map(|(index, _)| index)
            .collect())
    }

    pub fn recipe_of(&self, instance: &Instance) -> &Recipe {
        &self.recipes[instance.recipe]
    }

    /// Every stage's root for the instance's target, by stage name.
    pub fn stage_roots(&self, instance: &Instance) -> Vec<(String, PathBuf)> {
        let target = &self.targets[instance.target];
        self.stages
            .iter()
            .map(|stage| {
                let layout = Layout::new(
                    &instance.layout.work_dir,
                    &target.name,
                    &stage.name,
                    &stage.root,
                    "",
                );
                (stage.name.clone(), layout.root())
            })
            .collect()
    }

    /// The root of the stage before this instance's stage, if there is one.
    pub fn previous_root(&self, instance: &Instance) -> Option<PathBuf> {
        let previous = self.stages[instance.stage].previous.as_ref()?;
        self.stage_roots(instance)
            .into_iter()
            .find(|(name, _)| name == previous)
            .map(|(_, root)| root)
    }
}

/// The targets to plan, each with the spin's flag changes applied, since those are part of
/// what every build for the target sees (and of its key).
fn load_targets(
    scripts: &Scripts,
    project: &Project,
    spin: &Spin,
    only_target: Option<&str>,
) -> Result<Vec<Target>> {
    let target_names = match only_target {
        Some(name) => vec![name.to_string()],
        None => spin.targets.clone(),
    };
    let mut targets = Vec::new();
    for name in &target_names {
        let mut target = Target::load(scripts, project, name)?;
        spin.apply_flags(&mut target.data);
        targets.push(target);
    }
    Ok(targets)
}

/// The recipe file given on the command line, made absolute so it matches the paths the
/// plan's recipes are found by; a path that is no file is a usage error, not a script error.
fn resolve_extra(path: &Path) -> Result<PathBuf> {
    let path =
        std::path::absolute(path).map_err(|error| Error::io("cannot resolve", path, error))?;
    if !path.is_file() {
        return Err(Error::Usage(format!("no recipe at {}", path.display())));
    }
    Ok(path)
}

/// The last component of a path as text: the name a folder gives its stage.
fn folder_name(dir: &Path) -> String {
    dir.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// Every recipe of every stage, with the spin's overrides, and where each (stage index,
/// name) is. `extra` (a recipe file and the stage named by its folder) takes the place of
/// the stage's recipe of the same name.
fn load_recipes(
    scripts: &Scripts,
    project: &Project,
    spin: &Spin,
    stages: &[Stage],
    extra: Option<(&Path, &str)>,
) -> Result<(Vec<Recipe>, RecipesByName)> {
    let mut recipes = Vec::new();
    let mut by_name = RecipesByName::new();
    for (stage_index, stage) in stages.iter().enumerate() {
        let mut paths = project.stage_recipes(&stage.name);
        if let Some((path, extra_stage)) = extra {
            if extra_stage == stage.name {
                let stem = path
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                paths.insert(stem, path.to_path_buf());
            }
        }
        for (name, path) in paths {
            let overrides = spin.override_for(&stage.name, &name);
            let recipe = Recipe::load(scripts, &path, &project.recipe_dirs, overrides.as_ref())?;
            if recipe.name != name {
                return Err(Error::Usage(format!(
                    "{}: NAME is \"{}\" but the file is {name}.rhai; they must match so DEPENDS can find it",
                    recipe.script.name, recipe.name
                )));
            }
            by_name.insert((stage_index, name), recipes.len());
            recipes.push(recipe);
        }
    }
    Ok((recipes, by_name))
}

/// Each script input's hash and details by its name, computed once per plan.
type Hashed = BTreeMap<String, (String, Details)>;

/// The spin's stages plus the stages they build on, ordered so each comes after its previous.
fn order_stages(
    scripts: &Scripts,
    project: &Project,
    spin: &Spin,
    extra: Option<&Path>,
    extra_stage: Option<&str>,
) -> Result<Vec<Stage>> {
    let mut wanted: Vec<String> = if spin.stages.is_empty() {
        project.stage_names()
    } else {
        spin.stages.clone()
    };
    if let Some(name) = extra_stage {
        if !wanted.iter().any(|stage| stage == name) {
            wanted.push(name.to_string());
        }
    }
    let mut loaded: Vec<Stage> = Vec::new();
    while let Some(name) = wanted.pop() {
        if loaded.iter().any(|stage| stage.name == name) {
            continue;
        }
        let dir = match (extra, extra_stage) {
            (Some(path), Some(extra_name))
                if extra_name == name && project.find(&format!("{name}/stage.rhai")).is_none() =>
            {
                path.parent().unwrap().to_path_buf()
            }
            _ => {
                match project.find(&format!("{name}/stage.rhai")) {
                    Some(path) => path.parent().unwrap().to_path_buf(),
                    None => {
                        let known = project.stage_names();
                        let names: Vec<&str> = known.iter().map(String::as_str).collect();
                        let hint = closest(&name, &names)
                            .map(|guess| format!("; did you mean `{guess}`?"))
                            .unwrap_or_default();
                        return Err(Error::Usage(format!("unknown stage `{name}`: no {name}/stage.rhai in the recipe folders{hint}")));
                    }
                }
            }
        };
        let stage = Stage::load(scripts, &dir)?;
        if let Some(previous) = &stage.previous {
            wanted.push(previous.clone());
        }
        loaded.push(stage);
    }
    // Order by the PREVIOUS chain; a cycle among stages is an error naming every member.
    let mut ordered: Vec<Stage> = Vec::new();
    while !loaded.is_empty() {
        let ready = loaded.iter().position(|stage| match &stage.previous {
            None => true,
            Some(previous) => ordered.iter().any(|done| done.name == *previous),
        });
        match ready {
            Some(position) => ordered.push(loaded.remove(position)),
            None => {
                let names: Vec<&str> = loaded.iter().map(|stage| stage.name.as_str()).collect();
                return Err(Error::Usage(format!(
                    "the stages' PREVIOUS declarations form a cycle: {}",
                    names.join(", ")
                )));
            }
        }
    }
    Ok(ordered)
}

/// Dependencies before dependents; a cycle is reported with every member, in order.
fn topological_order(instances: &[Instance]) -> Result<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    fn visit(
        index: usize,
        instances: &[Instance],
        marks: &mut [Mark],
        stack: &mut Vec<usize>,
        order: &mut Vec<usize>,
    ) -> Result<()> {
        match marks[index] {
            Mark::Done => return Ok(()),
            Mark::Active => {
                let start = stack.iter().position(|item| *item == index).unwrap_or(0);
                let mut cycle: Vec<&str> = stack[start..]
                    .iter()
                    .map(|item| instances[*item].id.as_str())
                    .collect();
                cycle.push(&instances[index].id);
                return Err(Error::Usage(format!(
                    "dependency cycle: {}",
                    cycle.join(" -> ")
                )));
            }
            Mark::New => {}
        }
        marks[index] = Mark::Active;
        stack.push(index);
        for dep in &instances[index].deps {
            visit(*dep, instances, marks, stack, order)?;
        }
        stack.pop();
        marks[index] = Mark::Done;
        order.push(index);
        Ok(())
    }
    let mut marks = vec![Mark::New; instances.len()];
    let mut order = Vec::new();
    for index in 0..instances.len() {
        visit(index, instances, &mut marks, &mut Vec::new(), &mut order)?;
    }
    Ok(order)
}

/// What the plan is asked to build: the spin's PACKAGES, and the recipe file given on the
/// command line (with its stage's name), which is built whatever PACKAGES says.
struct Wanted<'a> {
    spin: &'a Spin,
    extra: Option<(&'a Path, &'a str)>,
}

impl Wanted<'_> {
    /// The names PACKAGES gives a stage, with the command line's recipe when it is of it.
    fn roots(&self, stage_name: &str, names: &[String]) -> Vec<String> {
        let mut roots = names.to_vec();
        if let Some((path, extra_stage)) = self.extra {
            if extra_stage == stage_name {
                roots.push(folder_name(Path::new(path.file_stem().unwrap_or_default())));
            }
        }
        roots
    }
}

/// Narrows each stage the spin names in PACKAGES to those recipes and what they depend on
/// within the stage.
fn select_packages(
    scripts: &Scripts,
    wanted_by: &Wanted,
    stages: &[Stage],
    recipes: &[Recipe],
    by_name: &mut RecipesByName,
) -> Result<()> {
    let spin = wanted_by.spin;
    let spin_file = spin
        .path
        .as_ref()
        .map(|path| path.display().to_string())
        .unwrap_or_else(|| spin.name.clone());
    for (stage_name, names) in &spin.packages {
        let Some(stage) = stages.iter().position(|stage| stage.name == *stage_name) else {
            let known: Vec<&str> = stages.iter().map(|stage| stage.name.as_str()).collect();
            return Err(Error::Usage(format!(
                "{spin_file}: PACKAGES names stage `{stage_name}`, which this spin does not build (it builds {})",
                known.join(", ")
            )));
        };
        let known: Vec<&str> = by_name
            .keys()
            .filter(|(s, _)| *s == stage)
            .map(|(_, name)| name.as_str())
            .collect();
        let mut wanted: Vec<String> = Vec::new();
        // Each name with the recipe whose DEPENDS asked for it (none: the spin's PACKAGES).
        let mut pending: Vec<(String, Option<usize>)> = wanted_by
            .roots(stage_name, names)
            .into_iter()
            .map(|name| (name, None))
            .collect();
        while let Some((name, asked_by)) = pending.pop() {
            if wanted.contains(&name) {
                continue;
            }
            let Some(recipe) = by_name.get(&(stage, name.clone())) else {
                if let Some(asker) = asked_by {
                    let folder = scripts.source_name(&stages[stage].dir);
                    return Err(recipes[asker].unknown_dependency(&name, &known, &folder));
                }
                let hint = match closest(&name, &known) {
                    Some(guess) => format!("; did you mean `{guess}`?"),
                    None => format!("; {stage_name} has: {}", known.join(", ")),
                };
                // Named by the spin's ADD when its own PACKAGES (or its base's) lacks it.
                let added = spin
                    .added
                    .packages
                    .get(stage_name)
                    .is_some_and(|names| names.contains(&name));
                let declaration = if added { "ADD.packages" } else { "PACKAGES" };
                return Err(Error::Usage(format!(
                    "{spin_file}: {declaration}.{stage_name} names `{name}`, which is not a recipe of {stage_name}{hint}"
                )));
            };
            pending.extend(
                recipes[*recipe]
                    .depends
                    .iter()
                    .filter(|dependency| !dependency.contains('/'))
                    .map(|dependency| (dependency.clone(), Some(*recipe))),
            );
            wanted.push(name);
        }
        by_name.retain(|(s, name), _| *s != stage || wanted.contains(name));
    }
    Ok(())
}

/// What a dependency contributes to its dependents' keys: its output when it is known, else
/// its own key (it is still to be built, and its dependents are keyed again once it is).
fn dependency_input(dep: &Instance, output: Option<&str>) -> String {
    match output {
        Some(output) => format!("output {output}"),
        None => format!("unbuilt {}", dep.key),
    }
}

/// The inputs from what a recipe builds from: its sources with how they are unpacked, its
/// patches' contents, and the files it installs from the recipe folders.
fn add_material_inputs(inputs: &mut Inputs, scripts: &Scripts, recipe: &Recipe) {
    for source in &recipe.sources {
        let options = format!(
            "dest={} strip={} only={} unpack={}",
            source.dest,
            source.strip,
            source.only.join(","),
            source.unpack
        );
        inputs.add(
            format!("source {}", source.url),
            format!("{} {options}", source.sha256),
        );
    }
    for patch in &recipe.patches {
        let bytes = std::fs::read(&patch.path).unwrap_or_default();
        inputs.add(
            format!("patch {}", scripts.source_name(&patch.path)),
            format!("{} strip={}", hash(&bytes), patch.strip),
        );
    }
    for file in &recipe.files {
        let name = format!("file {}", scripts.source_name(&file.path));
        inputs.add(name, file.key_value());
    }
}

/// Whether an instance is built with `key`, and its output if so. A record with another key
/// is stale; a record whose package was removed does not count as built.
fn recorded_status(layout: &Layout, key: &str) -> (Status, Option<String>) {
    match Record::read(&layout.record()) {
        Some(record) if record.key == key && layout.package().is_dir() => {
            (Status::Built, record.output)
        }
        Some(_) => (Status::Stale, None),
        None => (Status::Missing, None),
    }
}
