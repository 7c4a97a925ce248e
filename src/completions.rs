//! Shell completions. The script a shell sources calls serpent back for every word it completes
//! (see `completers` for the names it offers).

use clap::CommandFactory;
use clap_complete::env::{Bash, EnvCompleter, Fish, Zsh};
use clap_complete::CompleteEnv;

use crate::cli::{Cli, CompletionShell};
use crate::error::{Error, Result};

/// Set (to the shell's name) by the registered completion function when it calls serpent back.
const REQUEST_VARIABLE: &str = "SERPENT_COMPLETE";

/// Answers a shell's completion request and exits when serpent was called back for one.
pub fn answer_if_asked() {
    CompleteEnv::with_factory(Cli::command)
        .var(REQUEST_VARIABLE)
        .complete();
}

/// `serpent completions SHELL`: prints the script that registers serpent's completion.
pub fn print_registration(shell: CompletionShell) -> Result<i32> {
    let script = registration(shell)
        .map_err(|error| Error::Usage(format!("internal: cannot write the script: {error}")))?;
    print!("{script}");
    Ok(0)
}

/// The script that registers serpent's completion with `shell`; it calls the `serpent` on PATH.
fn registration(shell: CompletionShell) -> std::io::Result<String> {
    let completer: &dyn EnvCompleter = match shell {
        CompletionShell::Bash => &Bash,
        CompletionShell::Zsh => &Zsh,
        CompletionShell::Fish => &Fish,
    };
    let mut script = Vec::new();
    completer.write_registration(
        REQUEST_VARIABLE,
        "serpent",
        "serpent",
        "serpent",
        &mut script,
    )?;
    Ok(String::from_utf8_lossy(&script).into_owned())
}
