//! serpent: a build tool whose package recipes are Rhai scripts, for bootstrapping a musl + LLVM
//! Linux system from source. The binary is a thin layer over this library.

pub mod api;
pub mod beneath;
pub mod build;
pub mod check;
pub mod cli;
pub mod command;
pub mod command_failure;
pub mod commands;
pub mod config;
pub mod context;
pub mod describe;
pub mod digest;
pub mod error;
pub mod fetch;
pub mod file_conflict;
pub mod key;
pub mod layout;
pub mod limits;
pub mod lint;
pub mod lock;
pub mod merge;
pub mod patch;
pub mod plan;
pub mod problems;
pub mod progress;
pub mod project;
pub mod recipe;
pub mod recipe_files;
pub mod record;
pub mod remote_cache;
pub mod remove;
pub mod report;
pub mod reproducible;
pub mod resume;
pub mod sandbox;
pub mod script_error;
pub mod scripts;
pub mod session;
pub mod signatures;
pub mod spin;
pub mod stage;
pub mod store;
pub mod suggest;
pub mod target;
pub mod template;
pub mod tree;
pub mod undeclared;
pub mod unpack;
pub mod usage;
pub mod verify;
pub mod view;

use std::io::IsTerminal;

use clap::Parser;

/// Runs the command line and returns the process exit code: 0 done, 1 a build failed,
/// 2 bad usage or a bad recipe.
pub fn main() -> i32 {
    let cli = cli::Cli::parse();
    let color = match cli.color {
        cli::Color::Always => true,
        cli::Color::Never => false,
        cli::Color::Auto => {
            std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
        }
    };
    let _ = miette::set_hook(Box::new(move |_| {
        let theme = if color {
            miette::GraphicalTheme::unicode()
        } else {
            miette::GraphicalTheme::unicode_nocolor()
        };
        Box::new(
            miette::GraphicalReportHandler::new_themed(theme)
                .with_width(100)
                .with_links(false)
                // Paths and commands stay whole, so they can be copied from the message.
                .with_break_words(false)
                .with_word_separator(textwrap::WordSeparator::AsciiSpace)
                .with_word_splitter(textwrap::WordSplitter::NoHyphenation),
        )
    }));
    match commands::dispatch(&cli) {
        Ok(code) => code,
        Err(error) => {
            let code = error.exit_code();
            eprintln!("{:?}", miette::Report::new(error));
            code
        }
    }
}
