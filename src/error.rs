use std::path::PathBuf;

use miette::Diagnostic;
use thiserror::Error as ThisError;

use crate::command_failure::CommandFailure;
use crate::fetch::FetchError;
use crate::patch::PatchError;
use crate::script_error::ScriptError;
use crate::unpack::UnpackError;

/// A problem with a script's declarations, pointing at the place in the file.
#[derive(Debug, ThisError, Diagnostic)]
#[error("{message}")]
#[diagnostic(code(serpent::recipe))]
pub struct RecipeProblem {
    pub message: String,
    #[source_code]
    pub source_code: miette::NamedSource<String>,
    #[label("{label}")]
    pub span: Option<miette::SourceSpan>,
    pub label: String,
    #[help]
    pub help: Option<String>,
}

/// Everything that can stop a `serpent` command.
#[derive(Debug, ThisError, Diagnostic)]
pub enum Error {
    #[error("{0}")]
    #[diagnostic(code(serpent::usage))]
    Usage(String),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Recipe(Box<RecipeProblem>),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Script(Box<ScriptError>),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Command(Box<CommandFailure>),

    #[error(transparent)]
    #[diagnostic(code(serpent::fetch))]
    Fetch(Box<FetchError>),

    #[error("{context}")]
    #[diagnostic(code(serpent::unpack))]
    Unpack {
        context: String,
        #[source]
        source: Box<UnpackError>,
    },

    #[error("{context}")]
    #[diagnostic(code(serpent::patch), help("{help}"))]
    Patch {
        context: String,
        help: String,
        #[source]
        source: Box<PatchError>,
    },

    #[error("{action} {}", path.display())]
    #[diagnostic(code(serpent::io))]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Several independent problems, reported together (for example by `serpent check`).
    #[error("{} problem(s) found", .0.len())]
    #[diagnostic(code(serpent::many))]
    Many(#[related] Vec<Error>),
}

impl Error {
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// The process exit code: 2 for bad usage or a bad recipe, 1 for a build that failed.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::Recipe(_) => 2,
            Error::Script(script) if script.is_static() => 2,
            Error::Many(errors) => errors.iter().map(Error::exit_code).max().unwrap_or(2),
            _ => 1,
        }
    }
}

impl From<ScriptError> for Error {
    fn from(error: ScriptError) -> Error {
        Error::Script(Box::new(error))
    }
}

impl From<FetchError> for Error {
    fn from(error: FetchError) -> Error {
        Error::Fetch(Box::new(error))
    }
}

impl From<CommandFailure> for Error {
    fn from(failure: CommandFailure) -> Error {
        Error::Command(Box::new(failure))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
