//! `serpent man DIR`: a page per subcommand, rendered by man(1) from the clap definition.

use clap::CommandFactory;

use crate::test::Test;

/// `man -l FILE` as a user reads it, without a pager, with the justified lines' runs of
/// spaces and line breaks made single spaces.
fn render(test: &Test, page: &std::path::Path) -> String {
    let output = test
        .command("man")
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .arg("-l")
        .arg(page)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "man -l {}: {stderr}",
        page.display()
    );
    assert!(
        !stderr.contains("warning"),
        "man -l {}: {stderr}",
        page.display()
    );
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn every_subcommand_has_a_page_that_man_renders() {
    let mut test = Test::new();
    let dir = test.dir.path().join("man");
    test = test.args(["man", dir.to_str().unwrap()]);
    test.run();

    let main = render(&test, &dir.join("serpent.1"));
    assert!(
        main.contains("Bootstrap a musl + LLVM Linux system from source"),
        "{main}"
    );
    assert!(main.contains("serpent-build(1)"), "{main}");

    let cli = serpent::cli::Cli::command();
    let mut pages = 0;
    for subcommand in cli.get_subcommands() {
        let name = subcommand.get_name();
        let page = dir.join(format!("serpent-{name}.1"));
        if subcommand.is_hide_set() {
            assert!(
                !page.exists(),
                "{} documents a hidden command",
                page.display()
            );
            continue;
        }
        let text = render(&test, &page);
        let about = subcommand.get_about().unwrap().to_string();
        let first_words: String = about
            .split_whitespace()
            .take(4)
            .collect::<Vec<_>>()
            .join(" ");
        assert!(text.contains(&format!("serpent-{name} - ")), "{text}");
        assert!(
            text.contains(&first_words),
            "{name}: {first_words:?} missing\n{text}"
        );
        assert!(
            text.contains("--spin"),
            "{name}: the global options are missing\n{text}"
        );
        pages += 1;
    }
    let written = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(
        written,
        pages + 1,
        "one page per visible subcommand and serpent.1"
    );
}
