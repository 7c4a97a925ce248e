//! Checks a recipe's calls before anything runs, so a misspelt name fails `serpent check` (and
//! every plan) instead of a build twenty minutes in: `ctx` methods and properties against what
//! serpent registers, plain calls against the recipe's functions and the engine's, `module::f`
//! calls against the stdlib module's functions (names and numbers of arguments), literal
//! arguments of the wrong kind, and functions that are neither phases nor called.

use std::collections::{BTreeMap, BTreeSet};

use miette::SourceSpan;
use rhai::{ASTNode, Expr, FnCallExpr, FnPtr, Position, Stmt, AST};

use crate::scripts::PHASES;
use crate::scripts::{forms_list, Scripts};
use crate::signatures::Kind;
use crate::suggest::closest;

/// Functions the engine provides as keywords rather than as registered functions.
const KEYWORDS: [&str; 11] = [
    "print",
    "debug",
    "type_of",
    "eval",
    "Fn",
    "call",
    "curry",
    "is_shared",
    "is_def_var",
    "is_def_fn",
    "exit",
];

/// A call that cannot work, and where it is.
pub struct Finding {
    pub span: Option<SourceSpan>,
    pub message: String,
    pub help: Option<String>,
}

/// What the checks of one script know about it.
struct Lint<'a> {
    scripts: &'a Scripts,
    text: &'a str,
    /// The script's own functions: name and parameter names.
    functions: Vec<(String, Vec<String>)>,
    /// `import "module" as alias;`: alias to module.
    imports: BTreeMap<String, String>,
    /// The names the script calls or mentions in a string.
    used: BTreeSet<String>,
    /// The property names of the script's map literals.
    map_keys: BTreeSet<String>,
    found: Vec<Finding>,
}

/// Whose functions a script holds: a recipe's must be phases or be called; a stdlib module's
/// are called from elsewhere.
#[derive(Clone, Copy, PartialEq)]
pub enum Holder {
    Recipe,
    Module,
}

/// Every call in `ast` (whose source is `text`) that cannot work.
pub fn check_calls(scripts: &Scripts, ast: &AST, text: &str, holder: Holder) -> Vec<Finding> {
    let functions: Vec<(String, Vec<String>)> = ast
        .iter_functions()
        .filter(|function| !function.name.starts_with("anon$"))
        .map(|function| {
            let params = function.params.iter().map(|p| p.to_string()).collect();
            (function.name.to_string(), params)
        })
        .collect();
    let mut lint = Lint {
        scripts,
        text,
        functions,
        imports: imports(ast),
        used: used_names(ast),
        map_keys: map_keys(ast),
        found: Vec::new(),
    };
    for function in ast.iter_functions() {
        let name = function.name;
        let count = function.params.len();
        let only = ast.clone_functions_only_filtered(|_, _, _, other, params| {
            other == name && params == count
        });
        let mut contexts: BTreeSet<String> = BTreeSet::from(["ctx".to_string()]);
        if PHASES.contains(&name) && count == 1 {
            contexts.insert(function.params[0].to_string());
        }
        let locals = locals(&only, &function.params);
        only.walk(&mut |path: &[ASTNode]| {
            if let Some(node) = path.last() {
                lint.node(node, &contexts, &locals);
            }
            true
        });
    }
    if holder == Holder::Recipe {
        lint.uncalled();
    }
    let mut found = lint.found;
    found.sort_by_key(|finding| finding.span.map_or(usize::MAX, |span| span.offset()));
    found
}

/// The modules a script imports, by the name it gives them.
fn imports(ast: &AST) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    ast.walk(&mut |path: &[ASTNode]| {
        if let Some(ASTNode::Stmt(Stmt::Import(import, _))) = path.last() {
            if let Expr::StringConstant(module, _) = &import.0 {
                found.insert(import.1.name.to_string(), module.to_string());
            }
        }
        true
    });
    found
}

/// The names a function declares (parameters and variables): a call of one of them may be a
/// call of a function pointer it holds.
fn locals(ast: &AST, params: &[&str]) -> BTreeSet<String> {
    let mut found: BTreeSet<String> = params.iter().map(|p| p.to_string()).collect();
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Stmt(Stmt::Var(var, ..))) => {
                found.insert(var.0.name.to_string());
            }
            Some(ASTNode::Stmt(Stmt::For(each, ..))) => {
                found.insert(each.0.name.to_string());
            }
            _ => {}
        }
        true
    });
    found
}

/// The span of the token at a position of the script.
fn span(text: &str, position: Position) -> Option<SourceSpan> {
    let line = position.line()?;
    Some(crate::script_error::span_at(
        text,
        line,
        position.position().unwrap_or(1),
    ))
}

fn suggestion<'n>(word: &str, names: impl IntoIterator<Item = &'n str>) -> Option<String> {
    let names: Vec<&str> = names.into_iter().collect();
    closest(word, &names).map(|guess| format!("did you mean `{guess}`?"))
}

fn arguments(count: usize) -> String {
    match count {
        1 => "1 argument".to_string(),
        count => format!("{count} arguments"),
    }
}

/// The kind of a literal argument; `None` when only running the script can tell.
fn literal_kind(expr: &Expr) -> Option<Kind> {
    match expr {
        Expr::StringConstant(..) | Expr::InterpolatedString(..) => Some(Kind::Text),
        Expr::Array(..) => Some(Kind::Array),
        Expr::Map(..) => Some(Kind::Map),
        Expr::IntegerConstant(..) => Some(Kind::Int),
        Expr::BoolConstant(..) => Some(Kind::Bool),
        Expr::Unit(..) => Some(Kind::Unit),
        _ => None,
    }
}

impl Lint<'_> {
    fn report(&mut self, position: Position, message: String, help: Option<String>) {
        let span = span(self.text, position);
        self.add(span, message, help);
    }

    fn add(&mut self, span: Option<SourceSpan>, message: String, help: Option<String>) {
        self.found.push(Finding {
            span,
            message,
            help,
        });
    }

    fn node(&mut self, node: &ASTNode, contexts: &BTreeSet<String>, locals: &BTreeSet<String>) {
        match node {
            ASTNode::Expr(Expr::Dot(dot, ..)) => match &dot.lhs {
                Expr::Variable(variable, ..)
                    if variable.2.is_empty() && contexts.contains(variable.1.as_str()) =>
                {
                    self.context_use(&dot.rhs);
                }
                _ => self.method_call(&dot.rhs),
            },
            ASTNode::Expr(Expr::FnCall(call, position))
            | ASTNode::Stmt(Stmt::FnCall(call, position)) => {
                if call.is_operator_call() {
                    return;
                }
                if call.namespace.is_empty() {
                    self.plain_call(call, *position, locals);
                } else {
                    self.module_call(call, *position);
                }
            }
            _ => {}
        }
    }

    /// `ctx.name(...)` or `ctx.name`, possibly followed by more (`ctx.recipe.options`).
    fn context_use(&mut self, rhs: &Expr) {
        let first = match rhs {
            Expr::Dot(inner, ..) | Expr::Index(inner, ..) => &inner.lhs,
            other => other,
        };
        let signatures = self.scripts.signatures();
        match first {
            Expr::MethodCall(call, position) => {
                let name = call.name.as_str();
                let methods = signatures.context_methods();
                if !methods.contains(&name) {
                    let help = suggestion(name, methods.iter().copied());
                    let message = format!("ctx has no method `{name}`");
                    self.report(*position, message, help);
                    return;
                }
                let mut given = vec![Some(Kind::Context)];
                given.extend(call.args.iter().map(literal_kind));
                if let Some(mismatch) = signatures.mismatch(name, &given) {
                    let help = forms_list(&mismatch.forms);
                    self.report(*position, format!("ctx.{}", mismatch.message), Some(help));
                }
            }
            Expr::Property(property, position) => {
                let name = property.2.as_str();
                let properties = signatures.context_properties();
                if !properties.contains(&name) {
                    let help = suggestion(name, properties.iter().copied());
                    self.report(*position, format!("ctx has no property `{name}`"), help);
                }
            }
            _ => {}
        }
    }

    /// `value.name(...)` on anything but the context: a function of that name must exist with
    /// the value as its first argument (or as `this` of one of the script's functions), unless a
    /// map of the script has a property of that name (which may hold a function).
    fn method_call(&mut self, rhs: &Expr) {
        let first = match rhs {
            Expr::Dot(inner, ..) | Expr::Index(inner, ..) => &inner.lhs,
            other => other,
        };
        let Expr::MethodCall(call, position) = first else {
            return;
        };
        let name = call.name.as_str();
        let count = call.args.len();
        let standard = self.scripts.standard_functions();
        let own = self
            .functions
            .iter()
            .any(|(other, params)| other == name && params.len() == count);
        if own
            || KEYWORDS.contains(&name)
            || standard.has_arity(name, count + 1)
            || self.map_keys.contains(name)
        {
            return;
        }
        let help = self.closest_function(name);
        self.report(*position, format!("unknown method `{name}`"), help);
    }

    /// `name(...)`: one of the script's functions, the engine's, or a function pointer.
    fn plain_call(&mut self, call: &FnCallExpr, position: Position, locals: &BTreeSet<String>) {
        let name = call.name.as_str();
        let count = call.args.len();
        if KEYWORDS.contains(&name) || locals.contains(name) {
            return;
        }
        let standard = self.scripts.standard_functions();
        let own: Vec<&Vec<String>> = self
            .functions
            .iter()
            .filter(|(other, _)| other == name)
            .map(|(_, params)| params)
            .collect();
        if own.iter().any(|params| params.len() == count) || standard.has_arity(name, count) {
            return;
        }
        if let Some(params) = own.first() {
            let message = format!(
                "{name} takes {} ({}), not {count}",
                arguments(params.len()),
                params.join(", ")
            );
            self.report(position, message, None);
        } else if !standard.contains(name) {
            let help = self.closest_function(name);
            self.report(position, format!("unknown function `{name}`"), help);
        }
    }

    /// The script's own function or the engine's whose name is closest to `name`, as a hint.
    fn closest_function(&self, name: &str) -> Option<String> {
        let names = self
            .functions
            .iter()
            .map(|(other, _)| other.as_str())
            .chain(self.scripts.standard_functions().names());
        suggestion(name, names)
    }

    /// `module::name(...)`: a function of a stdlib module the script imports.
    fn module_call(&mut self, call: &FnCallExpr, position: Position) {
        let alias = call.namespace.root();
        let Some(module) = self
            .imports
            .get(alias)
            .and_then(|module| self.scripts.module(module))
        else {
            return;
        };
        let name = call.name.as_str();
        let count = call.args.len();
        let forms: Vec<&(String, Vec<String>)> = module
            .callable
            .iter()
            .filter(|(other, _)| other == name)
            .collect();
        if forms.iter().any(|(_, params)| params.len() == count) {
            return;
        }
        let listing: Vec<String> = module
            .callable
            .iter()
            .map(|(other, params)| format!("{alias}::{other}({})", params.join(", ")))
            .collect();
        let (message, help) = match forms.first() {
            Some((_, params)) => (
                format!(
                    "{alias}::{name} takes {} ({}), not {count}",
                    arguments(params.len()),
                    params.join(", ")
                ),
                None,
            ),
            None => {
                let names = module.callable.iter().map(|(other, _)| other.as_str());
                let help = suggestion(name, names)
                    .unwrap_or_else(|| format!("{alias} has: {}", listing.join(", ")));
                (format!("{alias} has no function `{name}`"), Some(help))
            }
        };
        self.report(position, message, help);
    }

    /// A function that is not a phase runs only if something calls it.
    fn uncalled(&mut self) {
        for (name, params) in self.functions.clone() {
            let span = function_span(self.text, &name);
            if PHASES.contains(&name.as_str()) {
                if params.len() != 1 {
                    let message = format!(
                        "fn {name} takes {} parameter(s), but a phase takes one (ctx), so it never runs",
                        params.len()
                    );
                    self.add(span, message, Some(format!("write `fn {name}(ctx)`")));
                }
                continue;
            }
            if self.used.contains(&name) {
                continue;
            }
            let help = match closest(&name, &PHASES) {
                Some(phase) => format!("did you mean the phase `{phase}`?"),
                None => format!(
                    "the phases are {}; call `{name}` from one of them",
                    PHASES.join(", ")
                ),
            };
            let message =
                format!("fn {name} is not a phase and nothing calls it, so it never runs");
            self.add(span, message, Some(help));
        }
    }
}

/// Every name the script calls or mentions in a string (for `Fn("name")` and `call`).
fn used_names(ast: &AST) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Expr(Expr::FnCall(call, _) | Expr::MethodCall(call, _)))
            | Some(ASTNode::Stmt(Stmt::FnCall(call, _))) => {
                used.insert(call.name.to_string());
            }
            Some(ASTNode::Expr(Expr::StringConstant(text, _))) => {
                used.insert(text.to_string());
            }
            // `Fn("name")` with a literal name is turned into the pointer when compiling.
            Some(ASTNode::Expr(Expr::DynamicConstant(value, _))) => {
                if let Some(pointer) = value.read_lock::<FnPtr>() {
                    used.insert(pointer.fn_name().to_string());
                }
            }

            _ => {}
        }
        true
    });
    used
}

/// The property names of every map literal in the script.
fn map_keys(ast: &AST) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Expr(Expr::Map(map, _))) => {
                keys.extend(map.0.iter().map(|(key, _)| key.name.to_string()));
            }
            // A map of constants is made into its value when compiling.
            Some(ASTNode::Expr(Expr::DynamicConstant(value, _))) => {
                if let Ok(map) = value.as_map_ref() {
                    keys.extend(map.keys().map(|key| key.to_string()));
                }
            }
            _ => {}
        }
        true
    });
    keys
}

/// Where `fn name` is written in the script.
fn function_span(text: &str, name: &str) -> Option<SourceSpan> {
    text.match_indices("fn ").find_map(|(index, _)| {
        let rest = &text[index + 3..];
        let start = index + 3 + (rest.len() - rest.trim_start().len());
        let after = &text[start..];
        let is_it = after.starts_with(name)
            && !after[name.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_');
        is_it.then(|| SourceSpan::new(start.into(), name.len()))
    })
}
