//! `serpent completions SHELL`: the generated scripts, sourced in the real shells, complete
//! subcommands, options, spin, target and stage names and recipe paths.

use crate::test::Test;

/// A project with two spins, a stage with a recipe and a file that is not a script.
fn project() -> Test {
    Test::new()
        .file("recipes/spins/mini.rhai", "")
        .file("recipes/spins/mine.rhai", "")
        .file("recipes/stage1/musl.rhai", "")
        .file("recipes/stage1/notes.txt", "")
}

/// PATH with the serpent under test first, as a user's shell would find it.
fn path_with_serpent() -> String {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_serpent"))
        .parent()
        .unwrap();
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap())
}

/// What bash's completion offers for the last word of `words`, one candidate per line.
fn bash_completes(test: &Test, words: &[&str]) -> Vec<String> {
    let script = format!(
        r#"source <(serpent completions bash)
function=$(complete -p serpent | sed -E 's/.* -F ([^ ]+) .*/\1/')
COMP_WORDS=({words})
COMP_CWORD={cword}
COMP_TYPE=9
"$function" serpent "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#,
        words = words
            .iter()
            .map(|word| format!("'{word}'"))
            .collect::<Vec<_>>()
            .join(" "),
        cword = words.len() - 1,
    );
    let output = test
        .command("bash")
        .env("PATH", path_with_serpent())
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_spin_names_from_the_project() {
    let test = project();
    assert_eq!(
        bash_completes(&test, &["serpent", "--spin", ""]),
        ["mine", "mini"]
    );
    assert_eq!(
        bash_completes(&test, &["serpent", "build", "--spin", "min"]),
        ["mine", "mini"]
    );
    assert_eq!(
        bash_completes(&test, &["serpent", "--spin", "mini"]),
        ["mini"]
    );
}

#[test]
fn bash_completes_target_and_stage_names() {
    let test = project();
    assert_eq!(
        bash_completes(&test, &["serpent", "-t", ""]),
        ["aarch64", "x86_64"]
    );
    let stages = bash_completes(&test, &["serpent", "build", "st"]);
    assert_eq!(stages, ["stage1"]);
}

#[test]
fn bash_completes_subcommands_options_and_recipe_paths() {
    let test = project();
    assert_eq!(bash_completes(&test, &["serpent", "comp"]), ["completions"]);
    let options = bash_completes(&test, &["serpent", "build", "--of"]);
    assert_eq!(options, ["--offline"]);
    let recipes = bash_completes(&test, &["serpent", "run", "recipes/stage1/"]);
    assert_eq!(
        recipes,
        ["recipes/stage1/musl.rhai", "recipes/stage1/stage.rhai"]
    );
}

#[test]
fn fish_completes_spin_names() {
    let test = project();
    let output = test
        .command("fish")
        .env("PATH", path_with_serpent())
        .args([
            "-c",
            "serpent completions fish | source; complete --do-complete 'serpent --spin mi'",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.lines().collect::<Vec<_>>(), ["mine", "mini"]);
}

/// zsh completes only in its line editor, so an interactive zsh runs in a pseudo-terminal
/// (zsh's own zpty module) and gets `serpent --spin mi` and Tab twice typed into it: the first
/// Tab completes the common prefix, the second lists the candidates.
#[test]
fn zsh_completes_spin_names() {
    let test = project();
    let script = r#"
zmodload zsh/zpty
zpty -b z 'PS1="> " zsh -f -i'
zpty -w z 'autoload -Uz compinit && compinit -u -D && source <(serpent completions zsh) && print READY_$((1+1))'
zpty -r z out '*READY_2*'
zpty -w -n z $'serpent --spin mi\t'
zpty -r z out '*--spin min*'
zpty -w -n z $'\t'
zpty -r z out '*mine*mini*'
print -r -- "${out##*$'\n'}"
zpty -d z
"#;
    let output = test
        .command("timeout")
        .env("PATH", path_with_serpent())
        .args(["60", "zsh", "-f", "-c", script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listing: String = stdout.chars().filter(|c| !c.is_control()).collect();
    assert!(listing.contains("mine  mini"), "{stdout:?}");
}
