use std::cell::RefCell;
use std::fmt;
use std::path::Path;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode, SourceSpan};
use rhai::{EvalAltResult, ParseError, Position};

/// A Rhai error rendered against the script it happened in, with the chain of calls that led
/// there (for example from a recipe's `build` into a stdlib module).
#[derive(Debug)]
pub struct ScriptError {
    message: String,
    at: Option<Snippet>,
    calls: Vec<Snippet>,
    help: Option<String>,
    /// Raised while reading a script rather than while running a phase: a bad recipe.
    is_static: bool,
}

thread_local! {
    /// Why the last call of a function by this name found no form taking its arguments.
    static MISSING_FUNCTION: RefCell<Option<(String, String)>> = const { RefCell::new(None) };
}

/// Keeps what to say instead of rhai's "Function not found" for the call of `name` that is
/// failing on this thread (the hook that knows does not know where the call is; the error
/// rhai raises after it does).
pub fn explain_missing_function(name: &str, explanation: String) {
    MISSING_FUNCTION.with(|kept| *kept.borrow_mut() = Some((name.to_string(), explanation)));
}

fn missing_function_explanation(signature: &str) -> Option<String> {
    let (name, explanation) = MISSING_FUNCTION.with(|kept| kept.borrow_mut().take())?;
    signature
        .starts_with(&format!("{name} ("))
        .then_some(explanation)
}

/// One place in one script.
#[derive(Debug)]
pub struct Snippet {
    source: NamedSource<String>,
    span: SourceSpan,
    label: String,
}

impl Snippet {
    /// `name` is the script's name as the engine knows it: a path relative to `root`, or absolute.
    pub fn new(
        root: &Path,
        name: &str,
        position: Position,
        label: impl Into<String>,
    ) -> Option<Snippet> {
        let line = position.line()?;
        if name.is_empty() {
            return None;
        }
        let text = std::fs::read_to_string(root.join(name)).ok()?;
        let span = span_at(&text, line, position.position().unwrap_or(1));
        Some(Snippet {
            source: NamedSource::new(name, text).with_language("rust"),
            span,
            label: label.into(),
        })
    }

    pub fn from_text(
        name: &str,
        text: String,
        span: SourceSpan,
        label: impl Into<String>,
    ) -> Snippet {
        Snippet {
            source: NamedSource::new(name, text),
            span,
            label: label.into(),
        }
    }
}

/// Byte span of the token starting at a 1-based line and column (columns count characters).
pub fn span_at(text: &str, line: usize, column: usize) -> SourceSpan {
    let mut offset = 0;
    for (number, content) in text.split_inclusive('\n').enumerate() {
        if number + 1 == line {
            let start = offset
                + content
                    .char_indices()
                    .nth(column.saturating_sub(1))
                    .map_or(content.trim_end().len(), |(index, _)| index);
            let rest = &text[start..];
            let word = rest
                .char_indices()
                .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
                .map_or(rest.len(), |(index, _)| index);
            return SourceSpan::new(start.into(), word.max(1).min(rest.len()));
        }
        offset += content.len();
    }
    SourceSpan::new(text.len().into(), 0)
}

impl ScriptError {
    pub fn message(message: impl Into<String>) -> ScriptError {
        ScriptError {
            message: message.into(),
            at: None,
            calls: Vec::new(),
            help: None,
            is_static: true,
        }
    }

    pub fn at(mut self, snippet: Option<Snippet>) -> ScriptError {
        self.at = snippet;
        self
    }

    /// Adds advice, after any the error already has.
    pub fn with_help(mut self, help: impl Into<String>) -> ScriptError {
        let help = help.into();
        self.help = Some(match self.help.take() {
            Some(first) => format!("{first}\n{help}"),
            None => help,
        });
        self
    }

    /// Turns the error into a pointer at the script line that started a failed command, whose
    /// own report already says what went wrong.
    pub fn into_location(mut self) -> ScriptError {
        if let Some(at) = &mut self.at {
            at.label = "the failed command was started here".to_string();
            self.message = format!("started from {}", at.source.name());
        }
        self
    }

    /// Adds the place the outermost call was made from, when it is not in a script (a phase a
    /// recipe's build style supplies is called by serpent, as its STYLE says).
    pub fn called_from(mut self, snippet: Option<Snippet>) -> ScriptError {
        self.calls.extend(snippet);
        self
    }

    pub fn is_static(&self) -> bool {
        self.is_static
    }

    /// A syntax error in the script called `name`.
    pub fn parse(root: &Path, name: &str, error: &ParseError) -> ScriptError {
        let message = format!("syntax error in {name}: {}", error.err_type());
        let label = error.err_type().to_string();
        ScriptError::message(message).at(Snippet::new(root, name, error.position(), label))
    }

    /// A runtime error raised while running the script called `top` (a recipe, a target, ...).
    /// `is_static` says whether it happened while reading declarations rather than building.
    pub fn eval(root: &Path, top: &str, error: &EvalAltResult, is_static: bool) -> ScriptError {
        // Each frame says: function `name`, defined in `defined_in`, was called at `call_site`
        // (a position in the caller's script).
        let mut frames: Vec<(String, String, Position)> = Vec::new();
        let mut inner = error;
        loop {
            match inner {
                EvalAltResult::ErrorInFunctionCall(name, defined_in, next, call_site) => {
                    frames.push((name.clone(), defined_in.clone(), *call_site));
                    inner = next;
                }
                EvalAltResult::ErrorInModule(module, next, call_site) => {
                    frames.push((format!("import \"{module}\""), module.clone(), *call_site));
                    inner = next;
                }
                _ => break,
            }
        }
        let position = inner.position();
        let message = message_of(inner);
        let mut caller = top.to_string();
        let mut calls = Vec::new();
        // A function calling itself from one place is shown once, with the number of times.
        let mut index = 0;
        while index < frames.len() {
            let (name, defined_in, call_site) = &frames[index];
            let repeats = frames[index + 1..]
                .iter()
                .take_while(|frame| *frame == &frames[index])
                .count();
            let label = match repeats {
                0 => format!("in this call to {name}"),
                more => format!("in this call to {name}, made {} times over", more + 1),
            };
            calls.extend(Snippet::new(root, &caller, *call_site, label));
            if !defined_in.is_empty() {
                caller = defined_in.clone();
            }
            index += repeats + 1;
        }
        calls.reverse();
        // A message of several lines is a headline and an explanation, shown as help.
        let (headline, explanation) = match message.split_once('\n') {
            Some((headline, rest)) => (headline.to_string(), Some(rest.to_string())),
            None => (message, None),
        };
        let at = Snippet::new(root, &caller, position, headline.clone());
        ScriptError {
            message: format!("{headline}\n  at {}", location(&caller, position)),
            at,
            calls,
            help: explanation,
            is_static,
        }
    }
}

/// The error's text without the position rhai appends to it.
fn message_of(error: &EvalAltResult) -> String {
    match error {
        EvalAltResult::ErrorRuntime(value, _) if value.is_string() => value.to_string(),
        EvalAltResult::ErrorFunctionNotFound(signature, _) => {
            missing_function_explanation(signature).unwrap_or_else(|| limit_message(error))
        }
        other => limit_message(other),
    }
}

/// What a limit that stopped a script means, the explanation after a line break (shown as
/// help); other errors as rhai words them, without the position it appends.
pub fn limit_message(error: &EvalAltResult) -> String {
    use crate::limits::{MAX_ARRAY_SIZE, MAX_CALL_LEVELS, MAX_MAP_SIZE, MAX_OPERATIONS};
    let data =
        "serpent limits how much a script may hold; let a command or a file carry large data";
    match error {
        EvalAltResult::ErrorTooManyOperations(_) => format!(
            "Too many operations: the script was stopped after {MAX_OPERATIONS} steps\n\
             does a loop never end? A phase or a script's top level may take that many steps"
        ),
        EvalAltResult::ErrorStackOverflow(_) => format!(
            "Stack overflow: functions called each other more than {MAX_CALL_LEVELS} deep\n\
             does a function call itself without end?"
        ),
        EvalAltResult::ErrorDataTooLarge(what, _) if what.starts_with("Length of string") => {
            format!("Length of string too large: a string grew past 8 MiB\n{data}")
        }
        EvalAltResult::ErrorDataTooLarge(what, _) if what.starts_with("Size of array") => {
            format!("Size of array too large: an array grew past {MAX_ARRAY_SIZE} items\n{data}")
        }
        EvalAltResult::ErrorDataTooLarge(what, _) if what.starts_with("Size of object map") => {
            format!("Size of map too large: a map grew past {MAX_MAP_SIZE} entries\n{data}")
        }
        other => {
            let text = other.to_string();
            let suffix = format!(" ({})", other.position());
            text.strip_suffix(&suffix).unwrap_or(&text).to_string()
        }
    }
}

fn location(source: &str, position: Position) -> String {
    match (position.line(), position.position()) {
        (Some(line), Some(column)) => format!("{source}:{line}:{column}"),
        (Some(line), None) => format!("{source}:{line}"),
        _ => source.to_string(),
    }
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ScriptError {}

impl Diagnostic for ScriptError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("serpent::script"))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|help| Box::new(help) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.at.as_ref().map(|at| &at.source as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.at.as_ref().map(|at| at.labels())
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.calls.is_empty() {
            return None;
        }
        Some(Box::new(
            self.calls.iter().map(|call| call as &dyn Diagnostic),
        ))
    }
}

impl Snippet {
    fn labels(&self) -> Box<dyn Iterator<Item = LabeledSpan> + '_> {
        Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some(self.label.clone()),
            self.span,
        )))
    }
}

impl fmt::Display for Snippet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "called from {}", self.source.name())
    }
}

impl std::error::Error for Snippet {}

impl Diagnostic for Snippet {
    fn severity(&self) -> Option<miette::Severity> {
        Some(miette::Severity::Advice)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Snippet::labels(self))
    }
}
