//! The small facts recorded beside a build's inputs, from which `serpent explain` says what
//! changed: a target's fields, a recipe's or stage's declarations, and a short hash of each
//! function of a script. Whole files are never kept; a function's hash is enough to say
//! which function changed.

use rhai::{Dynamic, Map, AST};

use crate::key::{hash, Details};
use crate::recipe::Recipe;
use crate::stage::Stage;
use crate::target::Target;

/// The declarations that other inputs already describe one by one (each source, patch and
/// file is an input of its own).
const DESCRIBED_ELSEWHERE: [&str; 3] = ["sources", "patches", "files"];

/// A function's name and parameters, the key its hash is kept under.
pub fn function_key(name: &str, params: &[&str]) -> String {
    format!("fn {name}({})", params.join(", "))
}

/// A short hash of each function's body, read from the script's text by the lines the
/// function spans.
pub fn functions(ast: &AST, text: &str) -> Details {
    let lines: Vec<&str> = text.lines().collect();
    let mut details = Details::new();
    // A closure is named by a hash of its body and lies within its function's lines, whose
    // hash already tells its change.
    for function in ast.iter_fn_def().filter(|f| !f.name.starts_with("anon$")) {
        let start = function.body.start_position().line().unwrap_or(1);
        let end = function.body.end_position().line().unwrap_or(lines.len());
        let body = lines
            .get(start.saturating_sub(1)..end.min(lines.len()))
            .unwrap_or_default()
            .join("\n");
        let params: Vec<&str> = function.params.iter().map(|param| param.as_str()).collect();
        details.insert(
            function_key(&function.name, &params),
            hash(body.as_bytes())[..12].to_string(),
        );
    }
    details
}

/// A value as one line: a list of strings as its items with spaces between (how flags read),
/// a map as JSON, anything else as Rhai prints it.
pub fn flat(value: &Dynamic) -> String {
    if let Some(items) = value.read_lock::<rhai::Array>() {
        if items.iter().all(Dynamic::is_string) {
            return items
                .iter()
                .map(|item| item.to_string())
                .collect::<Vec<_>>()
                .join(" ");
        }
    }
    if value.is_array() || value.is_map() {
        return serde_json::to_string(value).unwrap_or_default();
    }
    value.to_string()
}

/// Each field of a map as one line, under `name_of(field)`.
fn fields(map: &Map, name_of: impl Fn(&str) -> String) -> Details {
    map.iter()
        .map(|(field, value)| (name_of(field), flat(value)))
        .collect()
}

/// A target's fields, after the spin's flag changes: its flags above all.
pub fn target(target: &Target) -> Details {
    fields(&target.keyed_data(), str::to_string)
}

/// A recipe's declarations (under their upper-case names, as the recipe spells them) and its
/// functions.
pub fn recipe(recipe: &Recipe) -> Details {
    let mut declarations = recipe.declarations.clone();
    declarations.retain(|field, _| !DESCRIBED_ELSEWHERE.contains(&field.as_str()));
    let mut details = fields(&declarations, str::to_uppercase);
    details.retain(|_, value| !value.is_empty() && value != "false" && value != "{}");
    details.extend(functions(&recipe.script.ast, &recipe.script.text));
    details
}

/// A stage's declarations and functions (its toolchain above all).
pub fn stage(stage: &Stage) -> Details {
    let mut details = Details::new();
    let declared = [
        ("PREVIOUS", stage.previous.clone().unwrap_or_default()),
        ("ISOLATION", stage.isolation.as_str().to_string()),
        ("PREFIX", stage.prefix.clone()),
        ("ROOT", stage.root.clone()),
        ("ENV", flat(&Dynamic::from(stage.env.clone()))),
        ("COMMON_DEPENDS", stage.common_depends.join(" ")),
    ];
    for (name, value) in declared {
        details.insert(name.to_string(), value);
    }
    details.extend(functions(&stage.script.ast, &stage.script.text));
    details
}
