//! Problems found in one script, collected so that all of them are reported at once, each
//! pointing at its place in the file.

use miette::{NamedSource, SourceSpan};

use crate::error::{Error, RecipeProblem, Result};
use crate::script::Script;

/// Collects problems with one script and turns them into diagnostics pointing into it.
pub struct Problems<'a> {
    name: &'a str,
    text: &'a str,
    /// Where its declarations are, when the problems are about them.
    script: Option<&'a Script>,
    found: Vec<Error>,
}

impl<'a> Problems<'a> {
    /// Problems found at known places in a text (`add_at`).
    pub fn new(name: &'a str, text: &'a str) -> Problems<'a> {
        Problems {
            name,
            text,
            script: None,
            found: Vec::new(),
        }
    }

    /// Problems with a script's declarations, each found at its place by `add`.
    pub fn of(script: &'a Script) -> Problems<'a> {
        Problems {
            script: Some(script),
            ..Problems::new(&script.name, &script.text)
        }
    }

    fn locate(&self, field: &str, needle: Option<&str>) -> Option<SourceSpan> {
        self.script?.locate(field, needle)
    }

    /// Records a problem located at `needle` (searched after the declaration `field`).
    pub fn add(
        &mut self,
        field: &str,
        needle: Option<&str>,
        message: String,
        help: Option<String>,
    ) {
        let span = self.locate(field, needle);
        let label = if span.is_some() {
            "here".to_string()
        } else {
            String::new()
        };
        self.found.push(Error::Recipe(Box::new(RecipeProblem {
            message: format!("{}: {message}", self.name),
            source_code: NamedSource::new(self.name, self.text.to_string()),
            span,
            label,
            help,
        })));
    }

    /// Records a problem at a known place in the script (or with none).
    pub fn add_at(&mut self, span: Option<SourceSpan>, message: String, help: Option<String>) {
        self.found.push(Error::Recipe(Box::new(RecipeProblem {
            message: format!("{}: {message}", self.name),
            source_code: NamedSource::new(self.name, self.text.to_string()),
            span,
            label: if span.is_some() { "here" } else { "" }.to_string(),
            help,
        })));
    }

    /// `file:line:column` of `needle` after the declaration of `field`, or of the file.
    pub fn place(&self, field: &str, needle: &str) -> String {
        let Some(span) = self.locate(field, Some(needle)) else {
            return self.name.to_string();
        };
        let before = &self.text[..span.offset()];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        format!("{}:{line}:{column}", self.name)
    }

    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    /// Errors found another way, reported along with these.
    pub fn extend(&mut self, errors: Vec<Error>) {
        self.found.extend(errors);
    }

    pub fn finish(mut self) -> Result<()> {
        match self.found.len() {
            0 => Ok(()),
            1 => Err(self.found.remove(0)),
            _ => Err(Error::Many(self.found)),
        }
    }
}
