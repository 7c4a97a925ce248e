//! Merging packages into a stage root: links a package leaves there are the root's own, and a
//! merge that fails or is killed leaves the root as it was.

use std::path::{Path, PathBuf};

use crate::test::Test;

/// A recipe without sources whose install phase is `install`.
fn recipe(name: &str, depends: &[&str], install: &str) -> String {
    let depends: Vec<String> = depends.iter().map(|dep| format!("\"{dep}\"")).collect();
    format!(
        "const NAME = \"{name}\";\nconst VERSION = \"1\";\nconst DEPENDS = [{}];\n\nfn install(ctx) {{\n{install}\n}}\n",
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
        "    ctx.symlink(\"{}\", `${{ctx.destdir}}/usr/lib`);",
        host.display()
    );
    let files = "    ctx.write(`${ctx.destdir}/usr/lib/libb.so`, \"b\");\n    ctx.write(`${ctx.destdir}/usr/lib/pkgconfig/b.pc`, \"pc\");";
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
        "    ctx.write(`${{ctx.destdir}}/{own}/liba.so`, \"a\");\n    ctx.symlink(\"{}\", `${{ctx.destdir}}/lib64`);",
        host.display()
    );
    let b = "    ctx.write(`${ctx.destdir}/lib64/libb.so`, \"b\");";
    let mut test = test
        .file("recipes/stage1/a.rhai", recipe("a", &[], &a))
        .file("recipes/stage1/b.rhai", recipe("b", &["a"], b))
        .args(["build", "--target", "x86_64"]);
    test.run();

    assert!(entries(&host).is_empty(), "b's file went to the host");
    let own = inside(&sysroot(&test), &host);
    assert_eq!(entries(&own), ["liba.so", "libb.so"]);
}
