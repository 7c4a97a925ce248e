use std::fmt;
use std::path::PathBuf;

use miette::Diagnostic;

/// How many of the shared paths a conflict names before it only counts the rest.
const PATHS_SHOWN: usize = 10;

/// Files that a package would merge into its stage's root over another package's copies,
/// when nothing orders the two builds: which copy the root kept would depend on timing.
#[derive(Debug)]
pub struct FileConflict {
    /// The instance being merged, `<target>/<stage>/<name>`.
    pub package: String,
    /// The instance whose files are already in the root.
    pub owner: String,
    /// False when the owner is left in the stage from an earlier build and is not planned now.
    pub owner_planned: bool,
    /// The stage's directory under the work dir.
    pub stage_dir: PathBuf,
    pub paths: Vec<String>,
}

impl fmt::Display for FileConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = if self.owner_planned {
            "and neither package is built after the other"
        } else {
            "which this build does not include"
        };
        write!(
            f,
            "{}: {} file(s) are already in the root from {}, {why}:",
            self.package,
            self.paths.len(),
            self.owner
        )?;
        for path in self.paths.iter().take(PATHS_SHOWN) {
            write!(f, "\n  {path}")?;
        }
        if self.paths.len() > PATHS_SHOWN {
            write!(f, "\n  ... and {} more", self.paths.len() - PATHS_SHOWN)?;
        }
        Ok(())
    }
}

impl std::error::Error for FileConflict {}

impl Diagnostic for FileConflict {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("serpent::conflict"))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let short = |id: &'a str| id.rsplit('/').next().unwrap_or(id);
        let (owner, package) = (short(&self.owner), short(&self.package));
        let help = if self.owner_planned {
            format!(
                "leave one of the two out of the spin's PACKAGES, delete these files in one recipe's \
                 install phase, or add \"{owner}\" to {package}'s DEPENDS so that {package} is built \
                 after {owner} and replaces them. Nothing was merged: the root still holds {owner}'s \
                 files"
            )
        } else {
            format!(
                "{owner} was built into {} earlier and is not part of this build: remove that \
                 directory to rebuild the stage without it, or add {owner} back to the spin's PACKAGES",
                self.stage_dir.display()
            )
        };
        Some(Box::new(help))
    }
}
