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
pub mod completers;
pub mod completions;
pub mod config;
pub mod context;
pub mod declaration;
pub mod definitions;
pub mod describe;
pub mod difference;
pub mod digest;
pub mod doctor;
pub mod error;
pub mod fetch;
pub mod file_conflict;
pub mod input_details;
pub mod interpreter;
pub mod interrupt_relay;
pub mod isolation;
pub mod keeper;
pub mod key;
pub mod layout;
pub mod license;
pub mod limits;
pub mod lint;
pub mod lock;
pub mod man;
pub mod merge;
pub mod new_recipe;
pub mod overlay;
pub mod patch;
pub mod plan;
pub mod problems;
pub mod progress;
pub mod project;
pub mod recipe;
pub mod recipe_env;
pub mod recipe_files;
pub mod recipe_lookup;
pub mod record;
pub mod remote_build;
pub mod remote_cache;
pub mod remote_exec;
pub mod remove;
pub mod report;
pub mod reproducible;
pub mod resume;
pub mod sandbox;
pub mod sbom;
pub mod script;
pub mod script_error;
pub mod scripts;
pub mod session;
pub mod signatures;
pub mod size;
pub mod source_cache;
pub mod source_tree;
pub mod spin;
pub mod spin_base;
pub mod spin_changes;
pub mod stage;
pub mod store;
pub mod suggest;
pub mod target;
pub mod template;
pub mod timeline;
pub mod trace;
pub mod tree;
pub mod undeclared;
pub mod unpack;
pub mod usage;
pub mod verify;
pub mod view;
pub mod widening;

use std::io::IsTerminal;

use clap::Parser;

/// Runs the command line and returns the process exit code: 0 done, 1 a build failed,
/// 2 bad usage or a bad recipe.
pub fn main() -> i32 {
    completions::answer_if_asked();
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
