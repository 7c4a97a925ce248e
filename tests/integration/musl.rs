use std::path::Path;
use std::process::Command;

use crate::test::{Test, REPO};

/// The first real recipe end to end: musl 1.2.3 from the source store (seeded by
/// scripts/setup from Debian's identical orig tarball), built with the host's clang and lld,
/// then a static hello world compiled against the sysroot and run.
#[test]
fn musl_builds_and_a_static_hello_runs() {
    let store = std::env::var("SERPENT_TEST_STORE")
        .unwrap_or_else(|_| format!("{}/.cache/serpent/sources", std::env::var("HOME").unwrap()));
    let musl = "7d5b0b6062521e4627e099e4c9dc8248d32a30285e959b7eecaa780cf8cfd4a4";
    assert!(
        Path::new(&store).join("sha256").join(musl).is_file(),
        "musl 1.2.3 is not in the source store {store}; run scripts/setup first"
    );
    let mut test = Test::new();
    let work = test.dir.path().join("work");
    test = test
        .args([
            "run",
            &format!("{REPO}/recipes/stage1/musl.rhai"),
            "--target",
            "x86_64",
            "--offline",
        ])
        .args(["--store", &store, "--work-dir", work.to_str().unwrap()]);
    let output = test.run();
    assert!(
        output.stderr.contains("x86_64/stage1/musl: built"),
        "{}",
        output.stderr
    );

    let sysroot = work.join("x86_64/stage1/sysroot");
    for file in [
        "usr/lib/libc.a",
        "usr/lib/libc.so",
        "usr/lib/crt1.o",
        "usr/include/stdio.h",
    ] {
        assert!(
            sysroot.join(file).is_file(),
            "{file} is missing from the sysroot"
        );
    }
    assert_eq!(
        std::fs::read_link(sysroot.join("lib/ld-musl-x86_64.so.1")).unwrap(),
        Path::new("/usr/lib/libc.so")
    );
    assert!(work.join("x86_64/stage1/records/musl.json").is_file());

    let hello = test.dir.path().join("hello.c");
    std::fs::write(
        &hello,
        "#include <stdio.h>\nint main(void) { printf(\"hello from musl %d\\n\", 42); return 0; }\n",
    )
    .unwrap();
    let binary = test.dir.path().join("hello");
    let status = Command::new("clang")
        .args([
            "--target=x86_64-serpent-linux-musl",
            "--gcc-toolchain=/nonexistent",
            "-rtlib=compiler-rt",
            "-unwindlib=none",
            "-fuse-ld=lld",
            "-static",
        ])
        .arg(format!("--sysroot={}", sysroot.display()))
        .arg(&hello)
        .arg("-o")
        .arg(&binary)
        .status()
        .unwrap();
    assert!(status.success());
    let file = Command::new("file").arg(&binary).output().unwrap();
    let description = String::from_utf8_lossy(&file.stdout);
    assert!(description.contains("statically linked"), "{description}");
    assert!(description.contains("x86-64"), "{description}");
    let run = Command::new(&binary).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&run.stdout), "hello from musl 42\n");
}
