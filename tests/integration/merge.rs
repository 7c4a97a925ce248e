//! Merging packages into a stage root: links a package leaves there are the root's own, and a
//! merge that fails or is killed leaves the root as it was.

use std::path::{Path, PathBuf};

use crate::test::{sha256, Test};

/// A recipe without sources whose install phase is `install`.
fn recipe(name: &str, depends: &[&str], install: &str) -> String {
    let depends: Vec<String> = depends.iter().map(|dep| format!("\"{dep}\"")).collect();
    format!(
        r#"const NAME = "{name}";
const VERSION = "1";
const DEPENDS = [{}];

fn install(ctx) {{
{install}
}}
"#,
        depends.join(", ")
    )
}

fn sysroot(test: &Test) -> PathBuf {
    test.work().join("x86_64/stage1/sysroot")
}

/// `path` as the root's own path: what an absolute link target means inside the root.
fn inside(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap())
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn files_under_an_absolute_folder_link_land_in_the_roots_own_folder() {
    let test = Test::new();
    let host = test.dir.path().join("host-lib");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("bystander"), "the host's").unwrap();
    let link = format!(
        r#"    ctx.symlink("{}", `${{ctx.destdir}}/usr/lib`);"#,
        host.display()
    );
    let files = r#"    ctx.write(`${ctx.destdir}/usr/lib/libb.so`, "b");
    ctx.write(`${ctx.destdir}/usr/lib/pkgconfig/b.pc`, "pc");"#;
    let mut test = test
        .file("recipes/stage1/a.rhai", recipe("a", &[], &link))
        .file("recipes/stage1/b.rhai", recipe("b", &["a"], files))
        .args(["build", "--target", "x86_64"]);
    test.run();

    assert_eq!(entries(&host), ["bystander"], "b's files went to the host");
    let own = inside(&sysroot(&test), &host);
    assert_eq!(std::fs::read_to_string(own.join("libb.so")).unwrap(), "b");
    assert_eq!(
        std::fs::read_to_string(own.join("pkgconfig/b.pc")).unwrap(),
        "pc"
    );
    assert_eq!(
        std::fs::read_link(sysroot(&test).join("usr/lib")).unwrap(),
        host,
        "a's link is merged as it is"
    );
}

#[test]
fn an_absolute_link_to_a_folder_of_the_root_leads_to_that_folder() {
    // As `lib64 -> /usr/lib` does: the target is a folder the root has, and one the host has.
    let test = Test::new();
    let host = test.dir.path().join("host-lib");
    std::fs::create_dir_all(&host).unwrap();
    let own = host.strip_prefix("/").unwrap().display().to_string();
    let a = format!(
        r#"    ctx.write(`${{ctx.destdir}}/{own}/liba.so`, "a");
    ctx.symlink("{}", `${{ctx.destdir}}/lib64`);"#,
        host.display()
    );
    let b = r#"    ctx.write(`${ctx.destdir}/lib64/libb.so`, "b");"#;
    let mut test = test
        .file("recipes/stage1/a.rhai", recipe("a", &[], &a))
        .file("recipes/stage1/b.rhai", recipe("b", &["a"], b))
        .args(["build", "--target", "x86_64"]);
    test.run();

    assert!(entries(&host).is_empty(), "b's file went to the host");
    let own = inside(&sysroot(&test), &host);
    assert_eq!(entries(&own), ["liba.so", "libb.so"]);
}

/// Every entry below `dir`, one a line: its path, type, permissions, and the sha256 of a file's
/// content or a link's target. Times are left out: they differ between any two builds.
fn listing(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            let meta = path.symlink_metadata().unwrap();
            let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777;
            let what = if meta.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                pending.push(path.clone());
                format!("folder {mode:o}")
            } else {
                format!("file {mode:o} {}", sha256(&std::fs::read(&path).unwrap()))
            };
            let rel = path.strip_prefix(dir).unwrap().display().to_string();
            lines.push(format!("{rel} {what}"));
        }
    }
    lines.sort();
    lines
}

const FOLDERS: usize = 40;
const FILES_PER_FOLDER: usize = 500;

/// `big` at version 2: twenty thousand files in forty folders, and no longer v1's file.
fn many_files() -> String {
    let script = format!(
        "cd \"$D\" && mkdir -p share/many share/big && echo 2 > share/big/v2 && cd share/many && for d in $(seq 1 {FOLDERS}); do mkdir d$d && (cd d$d && seq 1 {FILES_PER_FOLDER} | xargs touch); done"
    );
    recipe(
        "big",
        &["base"],
        &format!("    ctx.shell({script:?}, #{{ env: #{{ D: ctx.destdir }} }});"),
    )
    .replace("VERSION = \"1\"", "VERSION = \"2\"")
}

fn with_base_and_big_v1() -> Test {
    Test::new()
        .file(
            "recipes/stage1/base.rhai",
            recipe(
                "base",
                &[],
                "    ctx.write(`${ctx.destdir}/share/base`, \"base\");",
            ),
        )
        .file(
            "recipes/stage1/big.rhai",
            recipe(
                "big",
                &["base"],
                r#"    ctx.write(`${ctx.destdir}/share/big/v1`, "1");
    ctx.symlink("v1", `${ctx.destdir}/share/big/current`);"#,
            ),
        )
}

#[test]
fn a_merge_killed_halfway_is_rolled_back_by_the_next_run() {
    let mut test =
        with_base_and_big_v1().args(["run", "recipes/stage1/big.rhai", "--target", "x86_64"]);
    test.run();
    let root = sysroot(&test);
    let before = listing(&root);
    let record = test.work().join("x86_64/stage1/records/big.json");

    let mut test = test.file("recipes/stage1/big.rhai", many_files());
    let mut serpent = test
        .command(env!("CARGO_BIN_EXE_serpent"))
        .args(["run", "recipes/stage1/big.rhai", "--target", "x86_64", "-q"])
        .spawn()
        .unwrap();
    // The first file of the merge, in the order it merges them.
    let first = root.join("share/many/d1/1");
    while first.symlink_metadata().is_err() {
        assert!(
            serpent.try_wait().unwrap().is_none(),
            "serpent ended before the merge was seen"
        );
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    serpent.kill().unwrap();
    serpent.wait().unwrap();
    let merged = walk_count(&root.join("share/many"));
    assert!(
        merged < FOLDERS * FILES_PER_FOLDER,
        "the merge finished before the kill ({merged} files)"
    );
    assert!(!record.exists(), "a half-merged package was recorded");

    // Any run plays the journal back first, here one with nothing to build.
    test = test.args(["run", "recipes/stage1/base.rhai", "--target", "x86_64"]);
    let output = test.run();
    assert_eq!(
        listing(&root),
        before,
        "the root is not as it was before the merge"
    );
    assert!(
        output
            .stderr
            .contains("x86_64/stage1/big: rolled back its unfinished merge"),
        "{}",
        output.stderr
    );

    test = test.args(["run", "recipes/stage1/big.rhai", "--target", "x86_64"]);
    test.run();
    assert!(record.exists());
    let mut clean = with_base_and_big_v1()
        .file("recipes/stage1/big.rhai", many_files())
        .args(["run", "recipes/stage1/big.rhai", "--target", "x86_64"]);
    clean.run();
    assert_eq!(listing(&root), listing(&sysroot(&clean)));
}

fn walk_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| match entry.file_type().unwrap().is_dir() {
                    true => walk_count(&entry.path()),
                    false => 1,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Runs `script` with `sh` in a user and mount namespace of its own (where a tmpfs can be
/// mounted without being root), in the project root, with serpent as `$SERPENT`.
fn in_namespace(test: &Test, script: &str) -> std::process::Output {
    test.command("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", script])
        .env("SERPENT", env!("CARGO_BIN_EXE_serpent"))
        .output()
        .unwrap()
}

#[test]
fn a_merge_that_fills_the_disk_names_the_file_and_leaves_the_root_as_it_was() {
    let test = with_base_and_big_v1();
    let blob = r#"    ctx.shell("mkdir -p \"$D/share/big\" && head -c 12582912 /dev/zero > \"$D/share/big/blob\"", #{ env: #{ D: ctx.destdir } });"#;
    let big_v2 = recipe("big", &["base"], blob).replace(r#"VERSION = "1""#, r#"VERSION = "2""#);
    let test = test.file("big-v2.rhai", big_v2);
    let out = test.dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // A 20 MiB work dir: the 12 MiB file fits in the package, but not a second time in the root.
    let script = format!(
        r#"set -e
mkdir -p build && mount -t tmpfs -o size=20m tmpfs build
run() {{ "$SERPENT" run recipes/stage1/big.rhai --target x86_64; }}
run
cp -a build/x86_64/stage1/sysroot {out}/before
cp big-v2.rhai recipes/stage1/big.rhai
if run 2> {out}/stderr; then echo "the merge did not fail" >&2; exit 1; fi
cp -a build/x86_64/stage1/sysroot {out}/after
ls build/x86_64/stage1/records > {out}/records
"#,
        out = out.display()
    );
    let output = in_namespace(&test, &script);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = std::fs::read_to_string(out.join("stderr")).unwrap();
    assert!(
        stderr.contains("sysroot/share/big/blob") && stderr.contains("No space left on device"),
        "the error does not name the file that did not fit:\n{stderr}"
    );
    assert_eq!(
        listing(&out.join("after")),
        listing(&out.join("before")),
        "the root is not as it was before the merge"
    );
    let records = std::fs::read_to_string(out.join("records")).unwrap();
    assert!(!records.contains("big.json"), "{records}");
}
