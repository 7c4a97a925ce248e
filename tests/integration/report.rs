//! `serpent report` tabulates what the records say each package cost.

use crate::test::Test;

/// Spends some CPU time in a child process and installs a file of a known size.
const BUSY: &str = r#"const NAME = "busy";
const VERSION = "2.0";
fn build(ctx) {
    ctx.shell("head -c 20000000 /dev/urandom | sha256sum > sum");
}
fn install(ctx) {
    let data = "0123456789";
    data.pad(4096, "x");
    ctx.write(`${ctx.destdir}/share/data`, data);
}
"#;

#[test]
fn the_report_gives_each_built_package_its_times_memory_and_size() {
    let mut test = Test::new()
        .file("recipes/stage1/busy.rhai", BUSY)
        .script(
            "recipes/stage1/later.rhai",
            r#"
            const NAME = "later";
            const VERSION = "1";
            fn install(ctx) {}
            "#,
        )
        .args(["run", "recipes/stage1/busy.rhai", "--target", "x86_64"]);
    test.run();
    test = test.args(["report", "--target", "x86_64", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&test.run().stdout).unwrap();
    let packages = report["packages"].as_array().unwrap();
    let busy = packages.iter().find(|row| row["name"] == "busy").unwrap();
    assert_eq!(busy["version"], "2.0");
    assert_eq!(busy["built"], true);
    assert_eq!(busy["bytes"], 4096);
    // sha256sum of 20 MB takes CPU time; any process takes some memory.
    assert!(busy["cpu_seconds"].as_f64().unwrap() > 0.01, "{busy}");
    assert!(busy["peak_kib"].as_u64().unwrap() > 100, "{busy}");
    let later = packages.iter().find(|row| row["name"] == "later").unwrap();
    assert_eq!(later["built"], false);

    test = test
        .args(["report", "--target", "x86_64"])
        .stdout_contains("Not built: x86_64/stage1/later.");
    let table = test.run().stdout;
    let row = table
        .lines()
        .find(|line| line.starts_with("| x86_64/stage1/busy |"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        row.contains("| 2.0 |") && row.ends_with("| 4.0 KiB |"),
        "{row}"
    );
}

/// A project of `busy` and `later` (at `later_version`), both built for x86_64.
fn busy_and_later_built_for_x86_64(later_version: &str) -> Test {
    let later = BUSY
        .replace("\"busy\"", "\"later\"")
        .replace("2.0", later_version)
        .replace("share/data", "share/later");
    let mut test = Test::new()
        .file("recipes/stage1/busy.rhai", BUSY)
        .file("recipes/stage1/later.rhai", later)
        .args(["build", "--target", "x86_64"]);
    test.run();
    test
}

#[test]
fn packages_not_built_on_one_target_are_projected_from_another_targets_records() {
    let mut test = busy_and_later_built_for_x86_64("1");
    test = test.args(["run", "recipes/stage1/busy.rhai", "--target", "aarch64"]);
    test.run();
    let report = |test: Test, target: &str| -> (Test, serde_json::Value) {
        let mut test = test.args([
            "report",
            "--target",
            target,
            "--project-from",
            "x86_64",
            "--format",
            "json",
        ]);
        let report = serde_json::from_str(&test.run().stdout).unwrap();
        (test, report)
    };
    let (test, there) = report(test, "x86_64");
    let (mut test, here) = report(test, "aarch64");
    let field = |report: &serde_json::Value, name: &str, field: &str| {
        let packages = report["packages"].as_array().unwrap();
        let row = packages.iter().find(|row| row["name"] == name).unwrap();
        row[field]
            .as_f64()
            .unwrap_or_else(|| panic!("{name}.{field}: {row}"))
    };
    let factor = here["projection"]["factors"]["host"].clone();
    assert_eq!(factor["packages"], 1, "{here}");
    let wall_factor = field(&here, "busy", "wall_seconds") / field(&there, "busy", "wall_seconds");
    assert!((factor["wall"].as_f64().unwrap() - wall_factor).abs() < 1e-9);
    let projected = field(&here, "later", "projected_wall_seconds");
    let expected = field(&there, "later", "wall_seconds") * wall_factor;
    assert!(
        (projected - expected).abs() < 1e-9,
        "{projected} != {expected}"
    );
    let cpu_factor = field(&here, "busy", "cpu_seconds") / field(&there, "busy", "cpu_seconds");
    let projected = field(&here, "later", "projected_cpu_seconds");
    let expected = field(&there, "later", "cpu_seconds") * cpu_factor;
    assert!(
        (projected - expected).abs() < 1e-9,
        "{projected} != {expected}"
    );

    test = test
        .args(["report", "--target", "aarch64", "--project-from", "x86_64"])
        .stdout_contains("Not built: aarch64/stage1/later.")
        .stdout_contains("Projected from x86_64's records:")
        .stdout_contains("- builds with isolation host: × ")
        .stdout_contains("from 1 package(s) built on both")
        .stdout_contains("| aarch64/stage1/later | 1 | ")
        .stdout_contains("Built and projected together: ");
    test.run();
}

#[test]
fn a_report_of_a_stage_tabulates_that_stage_alone() {
    let mut test = Test::new()
        .file("recipes/stage1/busy.rhai", BUSY)
        .file("recipes/stage2/stage.rhai", crate::test::HOST_STAGE2)
        .script(
            "recipes/stage2/top.rhai",
            r#"
            const NAME = "top";
            const VERSION = "3";
            fn install(ctx) { ctx.write(`${ctx.destdir}/share/top`, "top"); }
            "#,
        )
        .args(["build", "--target", "x86_64"]);
    test.run();
    test = test
        .args(["report", "stage2", "--target", "x86_64"])
        .stdout_contains("| x86_64/stage2/top | 3 | ")
        .stdout_contains("| **1 package(s), summed** |")
        .stdout_lacks("x86_64/stage1/busy");
    test.run();
}

#[test]
fn docs_tables_are_regenerated_from_the_named_work_dirs_records() {
    let mut test = Test::new().file("recipes/stage1/busy.rhai", BUSY).args([
        "run",
        "recipes/stage1/busy.rhai",
        "--target",
        "x86_64",
    ]);
    test.run();
    test = test.args(["report", "stage1", "--target", "x86_64"]);
    let table = test.run().stdout;
    let doc = test.dir.path().join("figures.md");
    let elsewhere =
        "<!-- serpent report elsewhere: stage2 -->\n| written by hand |\n<!-- end of report -->\n";
    std::fs::write(
        &doc,
        format!(
            "# Figures\n\n<!-- serpent report here: stage1 --target x86_64 -->\n| stale |\n\
             <!-- end of report -->\n\nBetween.\n\n{elsewhere}"
        ),
    )
    .unwrap();
    let here = [format!("here={}", test.work().display())];
    let output = docs_tables(&test, &here, &doc);
    assert!(output.status.success(), "{output:?}");
    assert!(table.contains("| x86_64/stage1/busy | 2.0 |"), "{table}");
    assert_eq!(
        std::fs::read_to_string(&doc).unwrap(),
        format!(
            "# Figures\n\n<!-- serpent report here: stage1 --target x86_64 -->\n{table}\
             <!-- end of report -->\n\nBetween.\n\n{elsewhere}"
        )
    );

    let unfinished = "<!-- serpent report here: stage1 --target x86_64 -->\n| stale |\n";
    std::fs::write(&doc, unfinished).unwrap();
    let output = docs_tables(&test, &here, &doc);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("has no '<!-- end of report -->' line"),
        "{output:?}"
    );
    assert_eq!(std::fs::read_to_string(&doc).unwrap(), unfinished);
}

/// `scripts/docs-tables NAME=WORK_DIR... -- doc` with the serpent under test.
fn docs_tables(test: &Test, work_dirs: &[String], doc: &std::path::Path) -> std::process::Output {
    test.command(&format!("{}/scripts/docs-tables", crate::test::REPO))
        .env("SERPENT", env!("CARGO_BIN_EXE_serpent"))
        .args(work_dirs)
        .arg("--")
        .arg(doc)
        .output()
        .unwrap()
}

#[test]
fn every_table_of_figures_in_the_docs_is_a_report_between_markers() {
    let docs = std::path::Path::new(crate::test::REPO).join("docs");
    for entry in std::fs::read_dir(&docs).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut inside = false;
        for (number, line) in text.lines().enumerate() {
            if line.starts_with("<!-- serpent report ") {
                inside = true;
            } else if line == "<!-- end of report -->" {
                inside = false;
            } else if line.starts_with("| package | version | wall |") {
                assert!(
                    inside,
                    "{}:{}: a table of figures outside `<!-- serpent report NAME: ARGS -->` \
                     markers: scripts/docs-tables regenerates only those within them",
                    path.display(),
                    number + 1
                );
            }
        }
    }
}

#[test]
fn a_projection_reads_the_reference_targets_records_from_the_work_dir_that_built_it() {
    let mut test = busy_and_later_built_for_x86_64("2.0");
    let reference = test.work();
    test = test.args([
        "run",
        "recipes/stage1/busy.rhai",
        "--target",
        "aarch64",
        "--work-dir",
        "aarch64-work",
    ]);
    test.run();
    let report = [
        "report",
        "--target",
        "aarch64",
        "--work-dir",
        "aarch64-work",
    ];
    let aarch64_work = test.root().join("aarch64-work");

    test = test
        .args(report)
        .args(["--project-from", "x86_64"])
        .status(2)
        .stderr_contains("--project-from x86_64: the work dir")
        .stderr_contains(aarch64_work.to_str().unwrap())
        .stderr_contains("--project-from-work-dir DIR");
    test.run();

    test = test
        .args(report)
        .args(["--project-from", "x86_64", "--project-from-work-dir"])
        .args([reference.to_str().unwrap()])
        .stdout_contains("Not built: aarch64/stage1/later.")
        .stdout_contains("- builds with isolation host: × ")
        .stdout_contains("from 1 package(s) built on both")
        .stdout_contains("| aarch64/stage1/later | 2.0 | ");
    let table = test.run().stdout;

    // The docs' table of such a report names both work dirs.
    let doc = test.dir.path().join("aarch64.md");
    let marker = "<!-- serpent report there: --target aarch64 --project-from x86_64 \
                  --project-from-work-dir {here} -->\n";
    let stale = format!("{marker}| stale |\n<!-- end of report -->\n");
    std::fs::write(&doc, &stale).unwrap();
    let there = format!("there={}", aarch64_work.display());
    let output = docs_tables(&test, std::slice::from_ref(&there), &doc);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("give here=WORK_DIR too"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&doc).unwrap(), stale);
    let output = docs_tables(
        &test,
        &[there, format!("here={}", reference.display())],
        &doc,
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        std::fs::read_to_string(&doc).unwrap(),
        format!("{marker}{table}<!-- end of report -->\n")
    );
}

/// A work dir's records go with its machine; the JSON report saved from it before then projects
/// the same as the work dir did.
#[test]
fn a_projection_reads_the_reference_from_a_saved_report_once_its_work_dir_is_gone() {
    let mut test = busy_and_later_built_for_x86_64("2.0");
    test = test.args(["run", "recipes/stage1/busy.rhai", "--target", "aarch64"]);
    test.run();
    let projected = ["report", "--target", "aarch64", "--project-from", "x86_64"];
    test = test.args(projected);
    let from_work_dir = test.run().stdout;
    test = test.args(["report", "--target", "x86_64", "--format", "json"]);
    let saved = test.root().join("x86_64.json");
    std::fs::write(&saved, test.run().stdout).unwrap();
    let x86_64 = test.work().join("x86_64");
    std::fs::remove_dir_all(&x86_64).unwrap();

    test = test
        .args(projected)
        .status(2)
        .stderr_contains("--project-from-report FILE");
    test.run();
    test = test
        .args(projected)
        .args(["--project-from-report", saved.to_str().unwrap()])
        .stdout_contains("| aarch64/stage1/later | 2.0 | ");
    assert_eq!(test.run().stdout, from_work_dir);

    let broken = test.root().join("broken.json");
    std::fs::write(&broken, "{\"packages\": 3}").unwrap();
    test = test
        .args(projected)
        .args(["--project-from-report", broken.to_str().unwrap()])
        .status(2)
        .stderr_contains("broken.json: not a report serpent wrote")
        .stderr_contains("save one with");
    test.run();
}
