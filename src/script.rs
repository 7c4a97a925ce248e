//! One script file, read once: its name in messages, its text and its compiled AST serve
//! declarations' places, keys and snippets alike.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use miette::SourceSpan;
use rhai::{Stmt, AST};

use crate::script_error::span_at;

/// A compiled script and the text it was compiled from.
#[derive(Debug)]
pub struct Script {
    /// How messages name it: relative to the project root when inside it.
    pub name: String,
    pub path: PathBuf,
    pub text: Arc<str>,
    pub ast: AST,
}

impl Script {
    pub fn bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    /// Where the top-level declaration `field` is written, from the `const` (or `let`) to the
    /// next statement; with `field` empty, the script's final expression (a target's map).
    pub fn declaration(&self, field: &str) -> Option<Range<usize>> {
        let statements = self.ast.statements();
        let index = if field.is_empty() {
            statements
                .iter()
                .rposition(|statement| matches!(statement, Stmt::Expr(..)))?
        } else {
            statements.iter().position(|statement| {
                matches!(statement, Stmt::Var(declared, ..) if declared.0.name == field)
            })?
        };
        let start = self.offset(&statements[index])?;
        let end = statements[index + 1..]
            .iter()
            .find_map(|statement| self.offset(statement))
            .unwrap_or(self.text.len());
        Some(start..end.max(start))
    }

    /// The place of `needle` (a map key, a list item) inside the declaration of `field`, or of
    /// the declared name itself.
    pub fn locate(&self, field: &str, needle: Option<&str>) -> Option<SourceSpan> {
        let range = self.declaration(field)?;
        let written = &self.text[range.clone()];
        if let Some(needle) = needle.filter(|needle| !needle.is_empty()) {
            if let Some(offset) = written.find(needle) {
                return Some(SourceSpan::new((range.start + offset).into(), needle.len()));
            }
        }
        let name = match written.find(field) {
            Some(offset) if !field.is_empty() => range.start + offset,
            _ => range.start,
        };
        Some(SourceSpan::new(name.into(), field.len()))
    }

    fn offset(&self, statement: &Stmt) -> Option<usize> {
        let position = match statement {
            Stmt::Expr(expression) => expression.start_position(),
            other => other.position(),
        };
        let line = position.line()?;
        Some(span_at(&self.text, line, position.position().unwrap_or(1)).offset())
    }
}
