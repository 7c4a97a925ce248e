//! `serpent verify` rebuilds in a second work dir and compares; builds on the host do not
//! depend on where the work dir is or when they ran.

use crate::tarball::{tarball, Compression, Entry};
use crate::test::{sha256, Test};

/// A project whose recipe compiles a C file that records `__FILE__`, with the host's cc given
/// the prefix map as stage1's compiler wrappers give it, and runs `extra` in its install phase.
fn project(extra: &str) -> Test {
    let source = b"const char *where = __FILE__;\n";
    let archive = tarball(&[Entry::File("pkg/where.c", source)], Compression::None);
    let test = Test::new().file("dist/pkg.tar", &archive);
    let url = format!("file://{}", test.root().join("dist/pkg.tar").display());
    let recipe = format!(
        r#"const NAME = "pkg";
const VERSION = "1.0";
const SOURCES = [#{{ url: "{url}", sha256: "{sha}" }}];

fn build(ctx) {{
    ctx.shell(`cc $CFLAGS -ffile-prefix-map=$SERPENT_FILE_PREFIX_MAP -c ${{ctx.srcdir}}/where.c -o where.o`);
}}

fn install(ctx) {{
    ctx.copy(`${{ctx.builddir}}/where.o`, `${{ctx.destdir}}/lib/where.o`);
    ctx.shell(`echo "$SOURCE_DATE_EPOCH" > ${{ctx.destdir}}/epoch`);
    {extra}
}}
"#,
        sha = sha256(&archive),
    );
    test.file("recipes/stage1/pkg.rhai", recipe)
}

#[test]
fn a_host_build_is_the_same_from_another_work_dir_and_verify_says_so() {
    let mut test = project("").args(["build", "--target", "x86_64", "--jobs", "1"]);
    test.run();
    let package = test.work().join("x86_64/stage1/pkgs/pkg");
    let object = std::fs::read(package.join("lib/where.o")).unwrap();
    let work = test.work().to_string_lossy().into_owned();
    assert!(
        !String::from_utf8_lossy(&object).contains(&work),
        "the object file names the work dir"
    );
    // The archive's files carry mtime 1600000000, the release date a real tarball records.
    assert_eq!(
        std::fs::read_to_string(package.join("epoch")).unwrap(),
        "1600000000\n"
    );
    let mut test = test
        .args(["verify", "--target", "x86_64"])
        .stdout_contains("identical  x86_64/stage1/pkg\n")
        .stdout_contains("1 of 1 package(s) identical");
    test.run();
    assert!(test
        .root()
        .join("build-verify/x86_64/stage1/pkgs/pkg")
        .is_dir());
}

#[test]
fn verifying_again_rebuilds_everything_again() {
    let mut test = project("")
        .script(
            "recipes/stage1/user.rhai",
            r#"
            const NAME = "user";
            const VERSION = "1";
            const DEPENDS = ["pkg"];

            fn install(ctx) {
                ctx.copy(`${ctx.sysroot}/epoch`, `${ctx.destdir}/share/epoch`);
            }
            "#,
        )
        .args(["build", "--target", "x86_64", "--jobs", "1"]);
    test.run();
    for _ in 0..2 {
        test = test
            .args(["verify", "--target", "x86_64"])
            .stdout_contains("built 2 recipe instance(s)")
            .stdout_contains("2 of 2 package(s) identical");
        test.run();
    }
}

#[test]
fn verify_names_the_files_that_differ() {
    let mut test = project(r#"ctx.shell(`pwd > ${ctx.destdir}/built-in`);"#)
        .args(["build", "--target", "x86_64", "--jobs", "1"]);
    test.run();
    let into = test.dir.path().join("elsewhere");
    let mut test = test
        .args(["verify", "--target", "x86_64", "--into"])
        .args([into.to_string_lossy()])
        .status(1)
        .stdout_contains("DIFFERS    x86_64/stage1/pkg\n    built-in (content)\n")
        .stdout_contains("0 of 1 package(s) identical");
    test.run();
    assert!(into.join("x86_64/stage1/pkgs/pkg/built-in").is_file());
}

#[test]
fn verify_refuses_what_is_not_built() {
    project("")
        .args(["verify", "--target", "x86_64"])
        .status(2)
        .stderr_contains("not built with the current inputs: x86_64/stage1/pkg")
        .run();
}

#[test]
fn a_package_with_a_link_into_the_work_dir_is_refused() {
    let mut test = Test::new()
        .script(
            "recipes/stage1/linker.rhai",
            r#"
            const NAME = "linker";
            const VERSION = "1";
            fn install(ctx) {
                ctx.write(`${ctx.destdir}/usr/lib/libc.so`, "c");
                ctx.symlink(`${ctx.destdir}/usr/lib/libc.so`, `${ctx.destdir}/usr/lib/ld.so`);
                ctx.symlink("libc.so", `${ctx.destdir}/usr/lib/ld-relative.so`);
            }
            "#,
        )
        .args(["run", "recipes/stage1/linker.rhai", "--target", "x86_64"])
        .status(1);
    let output = test.run();
    insta::assert_snapshot!(output.stderr_filtered());
    assert!(!test
        .work()
        .join("x86_64/stage1/records/linker.json")
        .exists());
}
