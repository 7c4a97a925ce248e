//! Man pages, rendered from the same clap definition as `--help`.

use std::path::Path;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::{Error, Result};

/// `serpent man DIR`: writes serpent.1 and serpent-COMMAND.1 for every subcommand a user sees.
pub fn write_pages(dir: &Path) -> Result<i32> {
    std::fs::create_dir_all(dir).map_err(|error| Error::io("cannot create", dir, error))?;
    let mut command = Cli::command();
    // Building fills in each subcommand's display name (serpent-run), which names its page.
    command.build();
    let mut written = vec![write_page(command.clone(), dir)?];
    for subcommand in command.get_subcommands() {
        if subcommand.is_hide_set() || subcommand.get_name() == "help" {
            continue;
        }
        written.push(write_page(subcommand.clone(), dir)?);
    }
    for path in written {
        println!("{}", path.display());
    }
    Ok(0)
}

fn write_page(command: clap::Command, dir: &Path) -> Result<std::path::PathBuf> {
    let page = clap_mangen::Man::new(command);
    let path = dir.join(page.get_filename());
    page.generate_to(dir)
        .map_err(|error| Error::io("cannot write", &path, error))
}
