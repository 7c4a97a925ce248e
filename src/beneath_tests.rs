use super::*;
use std::os::unix::fs::symlink;

/// A sandbox folder with a root inside it and a bystander folder beside the root, so a write
/// that escapes shows up somewhere a test can look.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("root")).unwrap();
        std::fs::create_dir_all(dir.path().join("outside")).unwrap();
        Sandbox { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn outside(&self) -> PathBuf {
        self.dir.path().join("outside")
    }

    fn link(&self, name: &str, target: &str) {
        let path = self.root().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        symlink(target, path).unwrap();
    }

    fn beneath(&self, scope: Scope) -> Beneath {
        Beneath::open(&self.root(), scope).unwrap()
    }

    fn outside_is_empty(&self) -> bool {
        std::fs::read_dir(self.outside()).unwrap().next().is_none()
    }
}

/// Links that each look harmless but chain out of the root, in both orders of creation.
fn chains(sandbox: &Sandbox, depth: usize, link_first: bool) {
    let target = format!("{}{}outside", "a/".repeat(depth), "../".repeat(depth + 1));
    if link_first {
        sandbox.link("b", &target);
        sandbox.link("a", ".");
    } else {
        sandbox.link("a", ".");
        sandbox.link("b", &target);
    }
}

#[test]
fn chained_links_cannot_be_written_through() {
    for depth in 1..5 {
        for link_first in [true, false] {
            let sandbox = Sandbox::new();
            chains(&sandbox, depth, link_first);
            let beneath = sandbox.beneath(Scope::Contained);
            let error = beneath
                .write(Path::new("b/escaped"), b"x", 0o644)
                .unwrap_err();
            assert!(
                matches!(&error, BeneathError::ThroughLink { link, .. } if link == Path::new("b")),
                "depth {depth}: {error}"
            );
            assert!(error.to_string().contains("through the symlink b -> a/"));
            assert!(beneath.create_dir_all(Path::new("b/d")).is_err());
            assert!(beneath.symlink(Path::new("x"), Path::new("b/l")).is_err());
            assert!(sandbox.outside_is_empty(), "depth {depth}");
        }
    }
}

#[test]
fn absolute_links_are_refused_when_contained_and_rooted_otherwise() {
    let sandbox = Sandbox::new();
    sandbox.link("usr/lib64", &sandbox.outside().to_string_lossy());
    let contained = sandbox.beneath(Scope::Contained);
    let error = contained
        .write(Path::new("usr/lib64/libc.so"), b"x", 0o644)
        .unwrap_err();
    assert!(error.to_string().contains("usr/lib64"), "{error}");

    // Inside the root, the link means the root's own copy of that folder.
    let inside = sandbox
        .root()
        .join(sandbox.outside().strip_prefix("/").unwrap());
    std::fs::create_dir_all(&inside).unwrap();
    let rooted = sandbox.beneath(Scope::Rooted);
    rooted
        .write(Path::new("usr/lib64/libc.so"), b"x", 0o644)
        .unwrap();
    assert!(sandbox.outside_is_empty());
    assert_eq!(std::fs::read(inside.join("libc.so")).unwrap(), b"x");
}

#[test]
fn climbing_out_is_refused_even_without_links() {
    let sandbox = Sandbox::new();
    let beneath = sandbox.beneath(Scope::Contained);
    for path in ["../outside/x", "/etc/x", "a/../../outside/x"] {
        assert!(
            beneath.write(Path::new(path), b"x", 0o644).is_err(),
            "{path}"
        );
    }
    assert!(sandbox.outside_is_empty());
}

#[test]
fn a_link_in_the_last_place_is_replaced_not_followed() {
    let sandbox = Sandbox::new();
    sandbox.link("file", &sandbox.outside().join("victim").to_string_lossy());
    let beneath = sandbox.beneath(Scope::Contained);
    beneath.write(Path::new("file"), b"mine", 0o644).unwrap();
    assert!(sandbox.outside_is_empty());
    assert!(!std::fs::symlink_metadata(sandbox.root().join("file"))
        .unwrap()
        .file_type()
        .is_symlink());
    beneath.remove(Path::new("file")).unwrap();
    assert!(!sandbox.root().join("file").exists());
}

#[test]
fn removing_a_folder_never_follows_links_inside_it() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.outside().join("keep"), b"k").unwrap();
    sandbox.link("tree/escape", &sandbox.outside().to_string_lossy());
    let beneath = sandbox.beneath(Scope::Contained);
    beneath.remove(Path::new("tree")).unwrap();
    assert!(!sandbox.root().join("tree").exists());
    assert!(sandbox.outside().join("keep").exists());
}

#[test]
fn links_that_stay_inside_are_followed() {
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.root().join("real/sub")).unwrap();
    sandbox.link("alias", "real");
    sandbox.link("real/sub/up", "../..");
    let beneath = sandbox.beneath(Scope::Contained);
    beneath
        .write(Path::new("alias/sub/up/real/f"), b"ok", 0o644)
        .unwrap();
    assert_eq!(std::fs::read(sandbox.root().join("real/f")).unwrap(), b"ok");
    assert_eq!(beneath.read(Path::new("alias/f")).unwrap(), b"ok");
}

#[test]
fn a_real_dir_has_no_link_left_in_it() {
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.root().join("real")).unwrap();
    sandbox.link("alias", "real");
    sandbox.link("out", &sandbox.outside().to_string_lossy());
    let beneath = sandbox.beneath(Scope::Contained);
    let real = beneath.real_dir(Path::new("alias/new")).unwrap();
    assert_eq!(
        real,
        sandbox.root().canonicalize().unwrap().join("real/new")
    );
    assert!(beneath.real_dir(Path::new("out/new")).is_err());
    assert!(sandbox.outside_is_empty());
}

#[test]
fn a_dangling_link_is_followed_inside_a_rooted_root_by_creating_its_target() {
    let sandbox = Sandbox::new();
    let outside = sandbox.outside();
    sandbox.link("usr/lib", &outside.join("lib").to_string_lossy());
    let rooted = sandbox.beneath(Scope::Rooted);
    let mut created = Vec::new();
    rooted
        .create_dirs(Path::new("usr/lib/pkgconfig"), &mut |path| {
            created.push(path.to_path_buf());
            Ok(())
        })
        .unwrap();
    let inside = sandbox.root().join(outside.strip_prefix("/").unwrap());
    assert!(inside.join("lib/pkgconfig").is_dir());
    assert!(sandbox.outside_is_empty());
    // Every folder made is heard of, by a path from the root with no link in it.
    assert_eq!(
        created.last().unwrap(),
        &outside.strip_prefix("/").unwrap().join("lib/pkgconfig")
    );
    for path in &created {
        let made = sandbox.root().join(path);
        assert_eq!(
            std::fs::canonicalize(&made).unwrap(),
            sandbox.root().canonicalize().unwrap().join(path)
        );
    }
}

#[test]
fn a_dangling_link_is_not_followed_when_contained_and_a_loop_ends() {
    let sandbox = Sandbox::new();
    sandbox.link("lib", "missing/deeper");
    let contained = sandbox.beneath(Scope::Contained);
    assert!(contained.create_dir_all(Path::new("lib/x")).is_err());
    assert!(!sandbox.root().join("missing").exists());

    sandbox.link("a", "b");
    sandbox.link("b", "a");
    let rooted = sandbox.beneath(Scope::Rooted);
    let error = rooted.create_dir_all(Path::new("a/x")).unwrap_err();
    assert!(error.to_string().contains("a"), "{error}");
}

#[test]
fn overwriting_keeps_a_files_permissions_and_never_leaves_through_a_link() {
    use std::os::unix::fs::PermissionsExt;
    let sandbox = Sandbox::new();
    let script = sandbox.root().join("configure");
    std::fs::write(&script, "old").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let beneath = sandbox.beneath(Scope::Contained);
    beneath.overwrite(Path::new("configure"), b"new").unwrap();
    assert_eq!(std::fs::read(&script).unwrap(), b"new");
    let mode = std::fs::metadata(&script).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);

    beneath.overwrite(Path::new("made/here"), b"x").unwrap();
    assert_eq!(
        std::fs::read(sandbox.root().join("made/here")).unwrap(),
        b"x"
    );

    sandbox.link(
        "dangling",
        &sandbox.outside().join("victim").to_string_lossy(),
    );
    chains(&sandbox, 2, true);
    for path in ["dangling", "b/victim"] {
        let error = beneath.overwrite(Path::new(path), b"x").unwrap_err();
        assert!(
            matches!(error, BeneathError::ThroughLink { .. }),
            "{path}: {error}"
        );
    }
    assert!(sandbox.outside_is_empty());
}
