use std::path::Path;
use std::process::Command;

use crate::test::{Test, REPO};

/// The quick stage1 end to end, for both targets: musl's headers, compiler-rt's builtins
/// (from Debian's llvm-toolchain-14 orig, which the quick spin pins by hash) and musl 1.2.3,
/// all from the source store that scripts/setup seeds, built with the host's clang and lld.
/// Then a static hello world, using long double (aarch64's needs the tf builtins), is linked
/// against each sysroot and run: natively, and through qemu for aarch64.
#[test]
fn the_quick_stage1_builds_musl_and_a_static_hello_runs_on_both_targets() {
    let store = std::env::var("SERPENT_TEST_STORE")
        .unwrap_or_else(|_| format!("{}/.cache/serpent/sources", std::env::var("HOME").unwrap()));
    for (what, sha256) in [
        (
            "musl 1.2.3",
            "7d5b0b6062521e4627e099e4c9dc8248d32a30285e959b7eecaa780cf8cfd4a4",
        ),
        (
            "llvm-toolchain-14",
            "d9bce5f42381d781e273c724db1ab0acd66259bf2782b79891664dbf1953d22c",
        ),
    ] {
        assert!(
            Path::new(&store).join("sha256").join(sha256).is_file(),
            "{what} is not in the source store {store}; run scripts/setup first"
        );
    }
    let mut test = Test::new();
    let work = test.dir.path().join("work");
    test = test
        .args(["build", "--root", REPO, "--spin", "quick", "--offline"])
        .args(["--store", &store, "--work-dir", work.to_str().unwrap()]);
    let output = test.run();
    assert!(
        output.stdout.contains("built 6 recipe instance(s)"),
        "{}",
        output.stdout
    );

    let hello = test.dir.path().join("hello.c");
    std::fs::write(
        &hello,
        "#include <stdio.h>\nint main(void) { long double x = 1.5L; printf(\"hello from musl %.3Lf\\n\", x * 2.25L); return 0; }\n",
    )
    .unwrap();
    for (arch, description) in [("x86_64", "x86-64"), ("aarch64", "ARM aarch64")] {
        let sysroot = work.join(arch).join("stage1/sysroot");
        for file in [
            "usr/lib/libc.a",
            "usr/lib/libc.so",
            "usr/lib/crt1.o",
            "usr/include/stdio.h",
        ] {
            assert!(
                sysroot.join(file).is_file(),
                "{arch}: {file} is missing from the sysroot"
            );
        }
        let builtins = format!("usr/lib/clang-runtime/lib/linux/libclang_rt.builtins-{arch}.a");
        assert!(
            sysroot.join(&builtins).is_file(),
            "{arch}: {builtins} is missing"
        );
        assert_eq!(
            std::fs::read_link(sysroot.join(format!("lib/ld-musl-{arch}.so.1"))).unwrap(),
            Path::new("/usr/lib/libc.so")
        );
        let binary = test.dir.path().join(format!("hello-{arch}"));
        let status = Command::new("clang")
            .arg(format!("--target={arch}-serpent-linux-musl"))
            .arg(format!("--sysroot={}", sysroot.display()))
            .arg(format!(
                "-resource-dir={}/usr/lib/clang-runtime",
                sysroot.display()
            ))
            .args([
                "--gcc-toolchain=/nonexistent",
                "-rtlib=compiler-rt",
                "-unwindlib=none",
                "-fuse-ld=lld",
                "-static",
            ])
            .arg(&hello)
            .arg("-o")
            .arg(&binary)
            .status()
            .unwrap();
        assert!(status.success(), "{arch}: linking hello failed");
        let file = Command::new("file").arg(&binary).output().unwrap();
        let kind = String::from_utf8_lossy(&file.stdout);
        assert!(
            kind.contains("statically linked") && kind.contains(description),
            "{kind}"
        );
        let run = if arch == std::env::consts::ARCH {
            Command::new(&binary).output().unwrap()
        } else {
            Command::new(format!("qemu-{arch}-static"))
                .arg(&binary)
                .output()
                .unwrap()
        };
        assert_eq!(
            String::from_utf8_lossy(&run.stdout),
            "hello from musl 3.375\n",
            "{arch}"
        );
    }
}
