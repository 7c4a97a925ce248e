use std::fmt;
use std::path::PathBuf;

use miette::Diagnostic;

use crate::script_error::ScriptError;

/// A command run by a recipe that did not succeed.
#[derive(Debug)]
pub struct CommandFailure {
    pub recipe: String,
    pub phase: String,
    pub command: String,
    pub status: String,
    pub log: PathBuf,
    pub tail: Vec<String>,
    /// Where in the scripts the command was started, once known.
    pub location: Option<ScriptError>,
    /// Dependencies the log shows the build needed and the recipe does not declare.
    pub undeclared: Vec<ScriptError>,
}

impl fmt::Display for CommandFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: phase {} failed: `{}` {}",
            self.recipe, self.phase, self.command, self.status
        )?;
        if !self.tail.is_empty() {
            write!(f, "\nlast {} lines of the log:", self.tail.len())?;
            for line in &self.tail {
                write!(f, "\n  | {line}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for CommandFailure {}

impl Diagnostic for CommandFailure {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("serpent::command"))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(format!("full log: {}", self.log.display())))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        let related = self
            .location
            .iter()
            .chain(&self.undeclared)
            .map(|error| error as &dyn Diagnostic);
        Some(Box::new(related))
    }
}
