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

/// A patch that did not apply.
#[derive(Debug, ThisError, Diagnostic)]
#[error("{context}")]
#[diagnostic(code(serpent::patch), help("{help}"))]
pub struct PatchFailure {
    pub context: String,
    pub help: String,
    #[source]
    pub source: PatchError,
    /// The patch itself, to point at the hunk that failed.
    #[source_code]
    pub patch: Option<miette::NamedSource<String>>,
    #[label("this hunk matches nowhere in the file")]
    pub hunk: Option<miette::SourceSpan>,
}

/// Everything that can stop a `serpent` command.
#[derive(Debug, ThisError, Diagnostic)]
pub enum Error {
    #[error("{0}")]
    #[diagnostic(code(serpent::usage))]
    Usage(String),

    #[error("{0}")]
    #[diagnostic(code(serpent::busy))]
    Busy(String),

    /// A builder thread panicked: a bug in serpent, reported instead of waiting for the thread.
    #[error("{0}: serpent itself failed while building it ({1}); this is a bug in serpent, please report it")]
    #[diagnostic(code(serpent::crashed))]
    Crashed(String, String),

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

    #[error(transparent)]
    #[diagnostic(transparent)]
    Patch(Box<PatchFailure>),

    #[error("{action} {}", path.display())]
    #[diagnostic(code(serpent::io))]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Conflict(Box<crate::file_conflict::FileConflict>),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Sandbox(Box<crate::sandbox::SandboxError>),

    #[error("{0}")]
    #[diagnostic(
        code(serpent::verify),
        help("the packages named above differ between two builds of the same inputs; what differs usually embeds a path, a time or the build's parallelism")
    )]
    NotReproducible(String),

    #[error("{0}")]
    #[diagnostic(
        code(serpent::view),
        help("a build may write only below its scratch folder and ctx.destdir: its sysroot shares its files with the packages it is built on")
    )]
    ChangedDependency(String),

    #[error("{0}")]
    #[diagnostic(
        code(serpent::link),
        help("make the link relative to where it lies (`ctx.symlink(\"../lib/libc.so\", ...)`), or absolute to its place in the root (`/usr/lib/libc.so`)")
    )]
    LinkIntoWorkDir(String),

    /// A build sent to a remote executor failed there; the worker's own report follows.
    #[error("{0}")]
    #[diagnostic(
        code(serpent::remote),
        help("the worker's serpent printed the above, as a local build would; fix the recipe and run again")
    )]
    RemoteBuild(String),

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

    /// Nothing when `errors` is empty, the one error, or all of them together.
    pub fn from_all(mut errors: Vec<Error>) -> std::result::Result<(), Error> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(Error::Many(errors)),
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

    /// Whether a patch that did not apply is among the problems.
    pub fn has_patch_failure(&self) -> bool {
        match self {
            Error::Patch(_) => true,
            Error::Many(errors) => errors.iter().any(Error::has_patch_failure),
            _ => false,
        }
    }
}

impl From<ScriptError> for Error {
    fn from(error: ScriptError) -> Error {
        Error::Script(Box::new(error))
    }
}

impl Error {
    /// A patch that did not apply, pointing at the failed hunk inside `text` when known.
    pub fn patch(
        context: String,
        help: String,
        name: &str,
        text: &str,
        error: PatchError,
    ) -> Error {
        let hunk = match &error {
            PatchError::HunkFailed { line, .. } => text
                .split_inclusive('\n')
                .scan(0, |offset, content| {
                    let start = *offset;
                    *offset += content.len();
                    Some((start, content.trim_end().len()))
                })
                .nth(line.saturating_sub(1))
                .map(|(start, length)| miette::SourceSpan::new(start.into(), length)),
            _ => None,
        };
        Error::Patch(Box::new(PatchFailure {
            context,
            help,
            source: error,
            patch: hunk.map(|_| miette::NamedSource::new(name, text.to_string())),
            hunk,
        }))
    }
}

impl From<crate::store::StoreError> for Error {
    fn from(error: crate::store::StoreError) -> Error {
        Error::Fetch(Box::new(FetchError::from(error)))
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
