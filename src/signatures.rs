//! The functions a script may call, by name with their parameters: serpent's own (the `ctx`
//! methods and properties) and the engine's standard ones. They let a call with the wrong
//! arguments be answered with the forms that exist, both before a build (`serpent check`) and
//! when the call is made.

use std::collections::BTreeMap;

use rhai::{Dynamic, Engine};
use serde::Deserialize;

use crate::context::Context;

/// What an argument is, as far as serpent can tell.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Context,
    Text,
    Array,
    Map,
    Int,
    Bool,
    Unit,
    /// Any value: the parameter takes everything.
    Any,
    /// A type serpent does not tell apart; treated as matching anything.
    Other(String),
}

impl Kind {
    /// The kind a registered parameter type stands for.
    fn of_type(name: &str) -> Kind {
        match name.trim_start_matches("&mut ").trim_start_matches('&') {
            "Context" => Kind::Context,
            "str" | "String" | "ImmutableString" => Kind::Text,
            "Array" => Kind::Array,
            "Map" => Kind::Map,
            "i64" | "INT" => Kind::Int,
            "bool" => Kind::Bool,
            "()" => Kind::Unit,
            "?" | "Dynamic" | "" => Kind::Any,
            other => Kind::Other(other.to_string()),
        }
    }

    /// The kind of a value a script passed; `None` when it cannot be told without locking it.
    pub fn of_value(value: &Dynamic) -> Option<Kind> {
        if value.is_shared() {
            return None;
        }
        Some(if value.is::<Context>() {
            Kind::Context
        } else if value.is_string() {
            Kind::Text
        } else if value.is_array() {
            Kind::Array
        } else if value.is_map() {
            Kind::Map
        } else if value.is_int() {
            Kind::Int
        } else if value.is_bool() {
            Kind::Bool
        } else if value.is_unit() {
            Kind::Unit
        } else {
            Kind::Other(value.type_name().to_string())
        })
    }

    fn accepts(&self, given: Option<&Kind>) -> bool {
        match (self, given) {
            (Kind::Any | Kind::Other(_), _) | (_, None | Some(Kind::Other(_))) => true,
            (expected, Some(given)) => expected == given,
        }
    }

    /// How the kind reads in a sentence: "a string", "an array".
    pub fn describe(&self) -> String {
        match self {
            Kind::Context => "the context".to_string(),
            Kind::Text => "a string".to_string(),
            Kind::Array => "an array".to_string(),
            Kind::Map => "a map".to_string(),
            Kind::Int => "a number".to_string(),
            Kind::Bool => "true or false".to_string(),
            Kind::Unit => "()".to_string(),
            Kind::Any => "anything".to_string(),
            Kind::Other(name) => name.clone(),
        }
    }
}

/// One parameter of one form of a function.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub kind: Kind,
    type_name: String,
}

/// The functions known by name; each name may have several forms.
#[derive(Debug, Default)]
pub struct Signatures {
    functions: BTreeMap<String, Vec<Vec<Param>>>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    functions: Vec<FunctionMetadata>,
}

#[derive(Deserialize)]
struct FunctionMetadata {
    name: String,
    #[serde(default)]
    params: Vec<ParamMetadata>,
    #[serde(default, rename = "numParams")]
    num_params: usize,
}

#[derive(Deserialize)]
struct ParamMetadata {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// Why a call matches none of a function's forms, in words for the script's author.
pub struct Mismatch {
    pub message: String,
    pub forms: Vec<String>,
}

impl Signatures {
    /// The functions of `engine`: serpent's own, or with `standard` also the engine's packages.
    pub fn of(engine: &Engine, standard: bool) -> Signatures {
        let metadata: Metadata = engine
            .gen_fn_metadata_to_json(standard)
            .ok()
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or(Metadata {
                functions: Vec::new(),
            });
        let mut functions: BTreeMap<String, Vec<Vec<Param>>> = BTreeMap::new();
        for function in metadata.functions {
            let mut params: Vec<Param> = function
                .params
                .into_iter()
                .enumerate()
                .map(|(index, param)| {
                    let type_name = param.kind.unwrap_or_default();
                    Param {
                        name: param.name.unwrap_or_else(|| format!("arg{index}")),
                        kind: Kind::of_type(&type_name),
                        type_name,
                    }
                })
                .collect();
            params.resize_with(function.num_params.max(params.len()), || Param {
                name: "_".to_string(),
                kind: Kind::Any,
                type_name: String::new(),
            });
            functions.entry(function.name).or_default().push(params);
        }
        // The engine lists its functions in no fixed order; messages should not vary.
        for (name, forms) in functions.iter_mut() {
            forms.sort_by_cached_key(|params| (params.len(), form(name, params)));
        }
        Signatures { functions }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.functions.contains_key(name)
    }

    /// Whether some form of `name` takes `count` arguments.
    pub fn has_arity(&self, name: &str, count: usize) -> bool {
        self.functions
            .get(name)
            .is_some_and(|forms| forms.iter().any(|params| params.len() == count))
    }

    /// Every name, for suggestions.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.functions.keys().map(String::as_str)
    }

    /// The methods of the context (`ctx.run`), without the property getters.
    pub fn context_methods(&self) -> Vec<&str> {
        self.names_on_context()
            .filter(|name| !name.starts_with("get$"))
            .collect()
    }

    /// The properties of the context (`ctx.srcdir`).
    pub fn context_properties(&self) -> Vec<&str> {
        self.names_on_context()
            .filter_map(|name| name.strip_prefix("get$"))
            .collect()
    }

    fn names_on_context(&self) -> impl Iterator<Item = &str> {
        self.functions
            .iter()
            .filter(|(_, forms)| {
                forms
                    .iter()
                    .any(|params| params.first().is_some_and(|p| p.kind == Kind::Context))
            })
            .map(|(name, _)| name.as_str())
    }

    /// `None` when a form of `name` takes arguments of these kinds (unknown kinds fit anything)
    /// or when `name` is not known here; otherwise what is wrong and the forms that exist.
    pub fn mismatch(&self, name: &str, given: &[Option<Kind>]) -> Option<Mismatch> {
        let forms = self.functions.get(name)?;
        let fits = |params: &Vec<Param>| {
            params.len() == given.len()
                && params
                    .iter()
                    .zip(given)
                    .all(|(param, given)| param.kind.accepts(given.as_ref()))
        };
        if forms.iter().any(fits) {
            return None;
        }
        let described: Vec<String> = forms.iter().map(|params| form(name, params)).collect();
        let same_count: Vec<&Vec<Param>> = forms
            .iter()
            .filter(|params| params.len() == given.len())
            .collect();
        // `ctx` is the receiver, not one of the arguments a script writes.
        let receiver = usize::from(given.first() == Some(&Some(Kind::Context)));
        // The form the call is closest to: the most arguments of exactly the kind it wants.
        let closest = same_count.iter().rev().max_by_key(|params| {
            params
                .iter()
                .zip(given)
                .filter(|(param, given)| given.as_ref() == Some(&param.kind))
                .count()
        });
        let message = match closest {
            None => {
                let mut counts: Vec<usize> = forms
                    .iter()
                    .map(|params| params.len().saturating_sub(receiver))
                    .collect();
                counts.sort_unstable();
                counts.dedup();
                let counts: Vec<String> = counts.into_iter().map(arguments).collect();
                format!(
                    "{name} takes {}, not {}",
                    counts.join(" or "),
                    arguments(given.len().saturating_sub(receiver))
                )
            }
            Some(params) => wrong_kind(name, params, given),
        };
        Some(Mismatch {
            message,
            forms: described,
        })
    }
}

/// The message for a call with as many arguments as a form takes, but one of the wrong kind.
fn wrong_kind(name: &str, params: &[Param], given: &[Option<Kind>]) -> String {
    let Some((param, given)) = params
        .iter()
        .zip(given)
        .find(|(param, given)| !param.kind.accepts(given.as_ref()))
    else {
        return format!("{name} cannot take these arguments");
    };
    let given = given
        .as_ref()
        .map_or("something else".to_string(), Kind::describe);
    if param.name == "argv" && param.kind == Kind::Array {
        let mut message = format!("{name} takes an array of arguments");
        if name == "run" && given == Kind::Text.describe() {
            message.push_str("; use ctx.shell for a command line");
        } else {
            message.push_str(&format!(", not {given}"));
        }
        return message;
    }
    format!(
        "{name} needs {} for `{}`, not {given}",
        param.kind.describe(),
        param.name
    )
}

fn arguments(count: usize) -> String {
    match count {
        1 => "1 argument".to_string(),
        count => format!("{count} arguments"),
    }
}

/// A form as a script writes it: `ctx.run(argv: Array, options: Map)`.
fn form(name: &str, params: &[Param]) -> String {
    let (receiver, rest) = match params.split_first() {
        Some((first, rest)) if first.kind == Kind::Context => ("ctx.", rest),
        _ => ("", params),
    };
    let rest: Vec<String> = rest
        .iter()
        .map(|param| match param.type_name.as_str() {
            "" => param.name.clone(),
            kind => format!("{}: {kind}", param.name),
        })
        .collect();
    let name = name.strip_prefix("get$").unwrap_or(name);
    format!("{receiver}{name}({})", rest.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> Signatures {
        let mut engine = Engine::new();
        crate::context::register_api(&mut engine);
        Signatures::of(&engine, false)
    }

    #[test]
    fn a_string_for_run_points_to_shell() {
        let given = [Some(Kind::Context), Some(Kind::Text)];
        let mismatch = own().mismatch("run", &given).expect("a mismatch");
        assert_eq!(
            mismatch.message,
            "run takes an array of arguments; use ctx.shell for a command line"
        );
        assert_eq!(
            mismatch.forms,
            ["ctx.run(argv: Array)", "ctx.run(argv: Array, options: Map)"]
        );
    }

    #[test]
    fn fitting_or_unknown_arguments_are_no_mismatch() {
        let signatures = own();
        let fitting = [Some(Kind::Context), Some(Kind::Array), Some(Kind::Map)];
        assert!(signatures.mismatch("run", &fitting).is_none());
        let unknown = [Some(Kind::Context), None];
        assert!(signatures.mismatch("run", &unknown).is_none());
        assert!(signatures.mismatch("no_such_function", &unknown).is_none());
    }

    #[test]
    fn a_wrong_count_says_how_many_arguments_the_forms_take() {
        let given = [Some(Kind::Context), Some(Kind::Text)];
        let mismatch = own().mismatch("write", &given).expect("a mismatch");
        assert_eq!(mismatch.message, "write takes 2 arguments, not 1 argument");
    }
}
