//! Problems found in one script, collected so that all of them are reported at once, each
//! pointing at its place in the file.

use miette::{NamedSource, SourceSpan};

use crate::error::{Error, RecipeProblem, Result};

/// Collects problems with one script and turns them into diagnostics pointing into it.
pub struct Problems<'a> {
    name: &'a str,
    text: &'a str,
    found: Vec<Error>,
}

impl<'a> Problems<'a> {
    pub fn new(name: &'a str, text: &'a str) -> Problems<'a> {
        Problems {
            name,
            text,
            found: Vec::new(),
        }
    }

    /// Records a problem located at `needle` (searched after the declaration `field`).
    pub fn add(
        &mut self,
        field: &str,
        needle: Option<&str>,
        message: String,
        help: Option<String>,
    ) {
        let span = locate(self.text, field, needle);
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
        let Some(span) = locate(self.text, field, Some(needle)) else {
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

/// Finds the declaration of `field` and, after it, the first occurrence of `needle`.
pub fn locate(text: &str, field: &str, needle: Option<&str>) -> Option<SourceSpan> {
    let declaration = ["const ", "let "].iter().find_map(|keyword| {
        let pattern = format!("{keyword}{field}");
        text.match_indices(&pattern)
            .find(|(index, _)| {
                let end = index + pattern.len();
                !text[end..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
            })
            .map(|(index, _)| index + keyword.len())
    })?;
    if let Some(needle) = needle.filter(|needle| !needle.is_empty()) {
        if let Some(offset) = text[declaration..].find(needle) {
            return Some(SourceSpan::new((declaration + offset).into(), needle.len()));
        }
    }
    Some(SourceSpan::new(declaration.into(), field.len()))
}
