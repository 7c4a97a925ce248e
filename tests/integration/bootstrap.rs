use std::path::{Path, PathBuf};
use std::process::Command;

use crate::getconf_getent::{
    compile, getconf_differences, getconf_table, getent_script, with_test_etc, write_databases,
    DATABASES, MUSL_OWN_VALUES, VOLATILE,
};
use crate::test::{Test, REPO};

/// The source store scripts/setup seeds from Debian's source packages.
pub fn seeded_store() -> String {
    let store = std::env::var("SERPENT_TEST_STORE")
        .unwrap_or_else(|_| format!("{}/.cache/serpent/sources", std::env::var("HOME").unwrap()));
    for (what, sha256) in [
        (
            "musl 1.2.6",
            "d585fd3b613c66151fc3249e8ed44f77020cb5e6c1e635a616d3f9f82460512a",
        ),
        (
            "busybox 1.38.0",
            "34f9ea6ff8636f2c9241153b9114eefa9e65674a45318ae1ef95bb5f31c53bb2",
        ),
        (
            "llvm-toolchain-14",
            "d9bce5f42381d781e273c724db1ab0acd66259bf2782b79891664dbf1953d22c",
        ),
        (
            "linux 6.12.107",
            "efc76d3c78a5d65f42724118c437d11db1c9f6309a5f024ee9a8b1978fdc6919",
        ),
        (
            "make-dfsg 4.3",
            "be4c17542578824e745f83bcd2a9ba264206187247cb6a5f5df99b0a9d1f9047",
        ),
        (
            "tcc",
            "d63c113bcdd657f51c8ee197a0b0a24203603313e19a52b5f678d40ab7f5df35",
        ),
        (
            "zlib 1.2.13",
            "71feb7947e3c00ef125f83b79a4e529bde31171e5babe48b391f06758d1ab0a1",
        ),
    ] {
        assert!(
            Path::new(&store).join("sha256").join(sha256).is_file(),
            "{what} is not in the source store {store}; run scripts/setup first"
        );
    }
    store
}

/// The version a stage's record says a package was built at.
fn recorded_version(stage_dir: &Path, name: &str) -> String {
    let path = stage_dir.join("records").join(format!("{name}.json"));
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    record["version"].as_str().unwrap().to_string()
}

/// What `file` says about a path.
fn file_kind(path: &Path) -> String {
    let output = Command::new("file").arg("-b").arg(path).output().unwrap();
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Runs a target binary: natively on the host's architecture, else through qemu-user.
fn run_on(arch: &str, binary: &Path) -> String {
    let output = if arch == std::env::consts::ARCH {
        Command::new(binary).output().unwrap()
    } else {
        Command::new(format!("qemu-{arch}-static"))
            .arg(binary)
            .output()
            .unwrap()
    };
    assert!(output.status.success(), "{}: {output:?}", binary.display());
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs a dynamic program of `root` with the root's own loader and libraries: through the
/// loader directly on the host's architecture, else through qemu-user with `-L root`.
fn run_dynamic_on(arch: &str, root: &Path, program: &str) -> String {
    let output = if arch == std::env::consts::ARCH {
        Command::new(root.join(format!("usr/lib/ld-musl-{arch}.so.1")))
            .arg(root.join(program))
            .arg("--version")
            .output()
            .unwrap()
    } else {
        Command::new(format!("qemu-{arch}-static"))
            .arg("-L")
            .arg(root)
            .arg(root.join(program))
            .arg("--version")
            .output()
            .unwrap()
    };
    assert!(output.status.success(), "{program}: {output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Compiles `source` with one of stage1's `<triple>-clang` wrappers, statically.
fn compile_with_wrapper(wrapper: &Path, source: &Path, output: &Path) {
    let status = Command::new(wrapper)
        .args(["-static", "-O2", "-o"])
        .arg(output)
        .arg(source)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "{} {} failed",
        wrapper.display(),
        source.display()
    );
}

const HELLO_C: &str = "#include <stdio.h>\nint main(void) { long double x = 1.5L; printf(\"hello from musl %.3Lf\\n\", x * 2.25L); return 0; }\n";
const HELLO_CXX: &str = "#include <iostream>\n#include <stdexcept>\n#include <vector>\nint main() {\n  std::vector<int> v{1, 2, 3};\n  try { throw std::runtime_error(\"caught\"); }\n  catch (const std::exception &e) { std::cout << e.what() << ' ' << v.size() << std::endl; }\n}\n";

/// Inside stage3: write a C program that uses the zlib built there, compile it with stage2's
/// cc, run it, and say which machine it ran on.
const INSIDE: &str = r#"set -e
cd /tmp
printf '#include <stdio.h>\n#include <zlib.h>\nint main(void) { printf("hello from stage3, zlib %%s\\n", zlibVersion()); return 0; }\n' > hello.c
cc -o hello hello.c -lz
./hello
uname -m
"#;

/// Compiles one of this repository's C tools with one of stage1's `<triple>-clang` wrappers,
/// warnings as errors: they must build cleanly against musl with clang, too.
fn compile_warning_free(wrapper: &Path, tool: &str, output: &Path) {
    let source = Path::new(REPO).join(format!("recipes/files/{tool}/{tool}.c"));
    let result = Command::new(wrapper)
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-c", "-o"])
        .arg(output)
        .arg(&source)
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{tool}.c with {}: {result:?}",
        wrapper.display()
    );
}

/// The cases `test-ucontext` runs, one line each when it passes.
const UCONTEXT_CASES: &str = "ok getcontext-setcontext\nok makecontext-arguments\n\
    ok swapcontext-rounds\nok callee-saved-registers\nok signal-mask\nok rounding-mode\nok fiber-siglongjmp\n\
    ok no-uc_link-exits\n";

/// Builds musl-shim's ucontext functions and their test with one of stage1's `<triple>-clang`
/// wrappers, statically and warnings as errors, and runs the test on the target's machine.
fn check_ucontext_shim(wrapper: &Path, arch: &str, dir: &Path) {
    let files = Path::new(REPO).join("recipes/files/musl-shim");
    let binary = dir.join(format!("test-ucontext-{arch}"));
    let result = Command::new(wrapper)
        .args(["-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&binary)
        .arg(files.join("ucontext.c"))
        .arg(files.join(format!("ucontext-{arch}.S")))
        .arg(files.join("test-ucontext.c"))
        .output()
        .unwrap();
    assert!(result.status.success(), "musl-shim for {arch}: {result:?}");
    assert_eq!(run_on(arch, &binary), UCONTEXT_CASES, "{arch}: musl-shim");
}

/// stage3's getent reads the test databases from the root's /etc and must print what glibc's
/// getent printed from the same files on the host (`expected`). The root's own files (links to
/// the filesystem package's) are set aside, never written, and put back after.
fn check_getent_in_stage3(mut test: Test, arch: &str, common: &[String], expected: &str) -> Test {
    let etc = test
        .dir
        .path()
        .join("work")
        .join(arch)
        .join("stage3/root/etc");
    let aside = test.dir.path().join(format!("{arch}-etc-aside"));
    std::fs::create_dir_all(&aside).unwrap();
    let own: Vec<&str> = DATABASES
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| etc.join(name).exists())
        .collect();
    for name in &own {
        std::fs::rename(etc.join(name), aside.join(name)).unwrap();
    }
    write_databases(&etc);
    test = test
        .args(["shell", "stage3", "--target", arch])
        .args(common.to_vec())
        .args(["--", "sh", "-c", &getent_script("getent")]);
    let output = test.run();
    assert_eq!(output.stdout, expected, "{arch}: {}", output.stderr);
    for (name, _) in DATABASES {
        std::fs::remove_file(etc.join(name)).unwrap();
    }
    for name in own {
        std::fs::rename(aside.join(name), etc.join(name)).unwrap();
    }
    test
}

/// stage3's getconf knows every name the same source built against glibc knows, prints glibc's
/// value wherever musl takes it from the same place, and refuses an unknown name.
fn check_getconf_in_stage3(mut test: Test, arch: &str, common: &[String]) -> Test {
    let root = test.dir.path().join("work").join(arch).join("stage3/root");
    let script = "getconf -a /; getconf NO_SUCH_NAME 2>/dev/null; echo \"exit $?\"";
    test = test
        .args(["shell", "stage3", "--target", arch])
        .args(common.to_vec())
        .args(["--", "sh", "-c", script]);
    let output = test.run();
    let (table, status) = output.stdout.rsplit_once("exit ").unwrap();
    assert_eq!(status, "1\n", "{arch}: getconf NO_SUCH_NAME");
    let ours = getconf_table(table);
    let host_built = compile("getconf", test.dir.path());
    let names = Command::new(&host_built)
        .args(["-a", "/"])
        .output()
        .unwrap();
    let names = getconf_table(&String::from_utf8_lossy(&names.stdout));
    assert!(ours.keys().eq(names.keys()), "{arch}: {table}");
    // glibc asks the file system of the same folder the chroot's / is.
    let glibc = Command::new("getconf")
        .arg("-a")
        .arg(&root)
        .output()
        .unwrap();
    let glibc = getconf_table(&String::from_utf8_lossy(&glibc.stdout));
    let mut ignored: Vec<&str> = [MUSL_OWN_VALUES, &VOLATILE].concat();
    if arch == "aarch64" {
        // char is unsigned on aarch64 and signed on the x86_64 host.
        ignored.extend(["CHAR_MAX", "CHAR_MIN"]);
    }
    let differences = getconf_differences(&ours, &glibc, &ignored);
    assert!(differences.is_empty(), "{arch}: {differences:#?}");
    test
}

/// The CI-sized bootstrap, both targets, from the source store alone: the quick stage1 (host
/// clang; compiler-rt, kernel headers, musl and the C++ runtimes for the target), stage2 cross-
/// compiled (musl, static busybox, make, tcc), and stage3 in the chroot with stage2 at
/// /serpent: musl from the host, then zlib configured, built, tested and installed natively
/// with tcc (through qemu for aarch64), and this repository's getconf and getent compiled
/// there. Each layer is checked the way its user would.
#[test]
fn the_mini_spin_bootstraps_both_targets_and_a_program_built_inside_stage3_runs() {
    let store = seeded_store();
    let mut test = Test::new();
    let work = test.dir.path().join("work");
    let glibc_getent = with_test_etc(&test.dir.path().join("glibc"), &getent_script("getent"));
    let common = [
        "--root",
        REPO,
        "--spin",
        "mini",
        "--offline",
        "--store",
        &store,
        "--work-dir",
        work.to_str().unwrap(),
    ]
    .map(str::to_string);
    test = test
        .args(["build"])
        .args(common.clone())
        .stdout_contains("built 34 recipe instance(s), 0 up to date");
    test.run();

    let sources = test.dir.path().join("src");
    std::fs::create_dir_all(&sources).unwrap();
    std::fs::write(sources.join("hello.c"), HELLO_C).unwrap();
    std::fs::write(sources.join("hello.cpp"), HELLO_CXX).unwrap();
    for (arch, machine) in [("x86_64", "x86-64"), ("aarch64", "ARM aarch64")] {
        let stage = |name: &str| -> PathBuf { work.join(arch).join(name) };

        // stage1: `<triple>-clang` and `<triple>-clang++` just work.
        let bin = stage("stage1").join("sysroot/toolchain/bin");
        let c = test.dir.path().join(format!("hello-{arch}"));
        compile_with_wrapper(
            &bin.join(format!("{arch}-serpent-linux-musl-clang")),
            &sources.join("hello.c"),
            &c,
        );
        let kind = file_kind(&c);
        assert!(
            kind.contains(machine) && kind.contains("statically linked"),
            "{kind}"
        );
        assert_eq!(run_on(arch, &c), "hello from musl 3.375\n", "{arch}");
        let cxx = test.dir.path().join(format!("hello-cxx-{arch}"));
        compile_with_wrapper(
            &bin.join(format!("{arch}-serpent-linux-musl-clang++")),
            &sources.join("hello.cpp"),
            &cxx,
        );
        assert_eq!(
            run_on(arch, &cxx),
            "caught 3\n",
            "{arch}: C++ exceptions through libunwind"
        );
        for tool in ["getconf", "getent"] {
            let object = test.dir.path().join(format!("{tool}-{arch}.o"));
            compile_warning_free(
                &bin.join(format!("{arch}-serpent-linux-musl-clang")),
                tool,
                &object,
            );
        }
        check_ucontext_shim(
            &bin.join(format!("{arch}-serpent-linux-musl-clang")),
            arch,
            test.dir.path(),
        );

        // stage2: the target's own programs, in a usr-merged root.
        let root2 = stage("stage2").join("root");
        assert_eq!(
            std::fs::read_link(root2.join("bin")).unwrap(),
            Path::new("usr/bin")
        );
        let busybox = file_kind(&root2.join("usr/bin/busybox"));
        assert!(
            busybox.contains(machine) && busybox.contains("statically linked"),
            "{busybox}"
        );
        for program in ["make", "tcc"] {
            let kind = file_kind(&root2.join("usr/bin").join(program));
            assert!(
                kind.starts_with("ELF") && kind.contains(machine),
                "{program}: {kind}"
            );
        }
        let version = recorded_version(&stage("stage2"), "busybox");
        let banner = run_on(arch, &root2.join("usr/bin/busybox"));
        assert!(
            banner.contains(&format!("BusyBox v{version}")),
            "{arch}: busybox {version} does not run: {banner}"
        );
        // The loader link is relative, so the root's dynamic programs run from outside it.
        let loader = root2.join(format!("usr/lib/ld-musl-{arch}.so.1"));
        assert_eq!(std::fs::read_link(&loader).unwrap(), Path::new("libc.so"));
        let make = run_dynamic_on(arch, &root2, "usr/bin/make");
        assert!(make.contains("GNU Make"), "{arch}: {make}");

        // stage3: zlib was built and tested inside, and a program built inside runs there.
        let root3 = stage("stage3").join("root");
        let zlib = recorded_version(&stage("stage3"), "zlib");
        let libz = file_kind(&root3.join(format!("usr/lib/libz.so.{zlib}")));
        assert!(
            libz.contains("shared object") && libz.contains(machine),
            "{libz}"
        );
        let check = std::fs::read_to_string(stage("stage3").join("logs/zlib/check.log")).unwrap();
        assert!(check.contains("*** zlib test OK ***"), "{check}");
        test = test
            .args(["shell", "stage3", "--target", arch])
            .args(common.clone())
            .args(["--", "sh", "-c", INSIDE]);
        let output = test.run();
        assert_eq!(
            output.stdout,
            format!("hello from stage3, zlib {zlib}\n{arch}\n"),
            "{}",
            output.stderr
        );

        // stage3: getconf and getent, compiled there by tcc without a warning, answer as the
        // host's glibc tools do.
        for tool in ["getconf", "getent"] {
            let log = stage("stage3").join(format!("logs/{tool}/build.log"));
            let log = std::fs::read_to_string(log).unwrap();
            assert!(!log.contains("warning"), "{arch}: {log}");
        }
        test = check_getent_in_stage3(test, arch, &common, &glibc_getent);
        test = check_getconf_in_stage3(test, arch, &common);
    }

    // A second run finds everything built and does nothing.
    test = test
        .args(["build"])
        .args(common.clone())
        .stdout_contains("nothing to do: 34 recipe instance(s) up to date");
    test.run();

    // The same inputs built again from nothing, in a work dir at another path, give the same
    // packages, bit for bit.
    let elsewhere = test.dir.path().join("another/place");
    test = test
        .args(["verify", "stage2", "--target", "x86_64", "--into"])
        .args([elsewhere.to_str().unwrap()])
        .args(common)
        .stdout_contains("12 of 12 package(s) identical");
    test.run();
}

/// A new target as pure script: examples/riscv64 adds a target and a spin, the quick stage1
/// cross-builds compiler-rt, kernel headers and musl for riscv64, and the overlay's hello
/// recipe links against them; the program runs under qemu-riscv64.
#[test]
fn the_riscv64_example_builds_musl_and_hello_and_runs_under_qemu() {
    let store = seeded_store();
    let mut test = Test::new();
    let work = test.dir.path().join("work");
    let spin = Path::new(REPO).join("examples/riscv64/spins/riscv64.rhai");
    test = test
        .args(["build", "--root", REPO, "--offline", "--store", &store])
        .args([
            "--spin",
            spin.to_str().unwrap(),
            "--work-dir",
            work.to_str().unwrap(),
        ])
        .stdout_contains("built 6 recipe instance(s)");
    test.run();
    let hello = work.join("riscv64/hello/root/usr/bin/hello");
    let kind = file_kind(&hello);
    assert!(
        kind.contains("RISC-V") && kind.contains("statically linked"),
        "{kind}"
    );
    assert_eq!(run_on("riscv64", &hello), "hello from riscv64, 3.375\n");
}
