//! `serpent doctor`: the host checked for what the mini spin needs, each miss named with its fix.

use crate::test::{Test, REPO};

/// `serpent --root REPO --spin mini doctor ARGS...` in a throw-away project, with `path` as PATH;
/// doctor reports on stdout only.
fn doctor(test: Test, path: &str, args: &[&str]) -> Test {
    test.env("PATH", path)
        .args(["--root", REPO, "--spin", "mini", "doctor"])
        .args(args.iter().copied())
        .stderr_empty()
}

/// A folder for PATH holding only the host's clang (as a link, as /usr/bin/clang is).
fn path_with_only_clang(test: &Test) -> String {
    let bin = test.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let clang = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|dir| dir.join("clang"))
        .find(|path| path.is_file())
        .expect("clang on PATH (scripts/setup installs it)");
    std::os::unix::fs::symlink(clang, bin.join("clang")).unwrap();
    bin.to_string_lossy().into_owned()
}

#[test]
fn the_mini_spin_can_build_on_this_host() {
    let stdout = doctor(Test::new(), &std::env::var("PATH").unwrap(), &[])
        .stdout_contains("ok      user namespaces: a sandbox was set up as builds do")
        .stdout_contains("ok      qemu-aarch64-static: /")
        .stdout_contains("ok      binfmt_misc for qemu-aarch64: ")
        .stdout_contains("ok      clang: ")
        .stdout_contains("ok      lld and LLVM tools: all 11 next to clang")
        .stdout_contains("ok      free space in the work dir: ")
        .stdout_contains("ok      free space in the store: ")
        .run()
        .stdout;
    assert_eq!(stdout.lines().count(), 7, "{stdout}");
}

#[test]
fn without_qemu_it_fails_naming_qemu_aarch64_and_how_to_install_it() {
    let test = Test::new();
    let path = path_with_only_clang(&test);
    doctor(test, &path, &[])
        .status(1)
        .stdout_contains(
            "missing qemu-aarch64-static: not on PATH; target aarch64 runs its programs through \
             it; fix: install qemu-user-static, which has qemu-aarch64-static (apt-get install \
             qemu-user-static)",
        )
        .stdout_contains("ok      clang: ")
        .stdout_lacks("binfmt_misc")
        .run();
}

#[test]
fn without_clang_the_quick_stage1_is_missing_its_compiler() {
    let test = Test::new();
    let empty = test.dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    doctor(test, empty.to_str().unwrap(), &[])
        .status(1)
        .stdout_contains("missing clang: not on PATH; the quick stage1 uses the host's clang and lld; fix: apt-get install clang lld llvm")
        .run();
}

#[test]
fn free_space_is_checked_against_what_is_asked_for() {
    let path = std::env::var("PATH").unwrap();
    let mut test = doctor(Test::new(), &path, &["--min-free", "1000T"])
        .status(1)
        .stdout_contains("missing free space in the store: ");
    let stdout = test.run().stdout;
    let work_dir = test.work();
    let line = stdout
        .lines()
        .find(|line| line.starts_with("missing free space in the work dir: "))
        .unwrap_or_else(|| panic!("no work dir line:\n{stdout}"));
    assert!(
        line.contains(&format!(
            "free at {}, 1000.0 TiB wanted",
            work_dir.display()
        )),
        "{line}"
    );
    assert!(
        line.ends_with("or give serpent another work dir with --work-dir"),
        "{line}"
    );

    test = doctor(test, &path, &["--min-free", "1M"]);
    test.run();
}

#[test]
fn a_size_that_is_not_one_is_refused() {
    Test::new()
        .args(["--root", REPO, "doctor", "--min-free", "lots"])
        .status(2)
        .stderr_contains("`lots` is not a size: write a number with K, M, G or T, e.g. 20G")
        .run();
}

/// util-linux's unshare gives serpent a user namespace of its own in which no further user
/// namespace may be created (user.max_user_namespaces is per namespace), as on a host that
/// forbids them.
#[test]
fn without_user_namespaces_it_fails_and_says_how_to_allow_them() {
    let test = Test::new();
    let script = format!(
        "echo 0 > /proc/sys/user/max_user_namespaces && exec {} --root {REPO} --spin mini doctor",
        env!("CARGO_BIN_EXE_serpent")
    );
    let output = test
        .command("unshare")
        .args(["--user", "--map-root-user", "sh", "-c", &script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let line = stdout.lines().next().unwrap_or_default();
    assert!(
        line.starts_with("missing user namespaces: cannot create the user, mount, pid, ipc, uts and network namespaces: ENOSPC"),
        "{stdout}"
    );
    assert!(
        line.ends_with("; fix: allow unprivileged user namespaces: `sysctl user.max_user_namespaces` above 0, and kernel.unprivileged_userns_clone=1 (older Debian kernels) or kernel.apparmor_restrict_unprivileged_userns=0 (Ubuntu)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("missing binfmt_misc for qemu-aarch64: not checked: no sandbox can be set up without user namespaces"),
        "{stdout}"
    );
}
