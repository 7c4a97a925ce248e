use std::collections::BTreeMap;
use std::os::unix::fs::symlink;

use super::*;

/// A work dir with one stage whose root is `sysroot`, and a folder beside the work dir that no
/// merge may touch.
struct Stage {
    dir: tempfile::TempDir,
}

impl Stage {
    fn new() -> Stage {
        let stage = Stage {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(stage.outside()).unwrap();
        std::fs::write(stage.outside().join("keep"), "the host's").unwrap();
        std::fs::create_dir_all(stage.layout("none").root()).unwrap();
        stage
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    fn outside(&self) -> PathBuf {
        self.dir.path().join("outside")
    }

    fn layout(&self, name: &str) -> Layout {
        Layout::new(&self.work(), "x86_64", "stage1", "sysroot", name)
    }

    /// Fills `name`'s destdir: `files` maps paths to contents, or to `-> target` for links.
    fn package(&self, name: &str, files: &[(&str, &str)]) -> Layout {
        let layout = self.layout(name);
        let dest = layout.destdir();
        std::fs::create_dir_all(&dest).unwrap();
        for (path, content) in files {
            let path = dest.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            match content.strip_prefix("-> ") {
                Some(target) => symlink(target, &path).unwrap(),
                None if path.to_string_lossy().ends_with('/') => {
                    std::fs::create_dir_all(&path).unwrap()
                }
                None => std::fs::write(&path, content).unwrap(),
            }
        }
        layout
    }
}

/// Every entry below `dir`: its type, permissions and content or link target.
pub(super) fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut entries = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let Ok(children) = std::fs::read_dir(&folder) else {
            continue;
        };
        for child in children.flatten() {
            let path = child.path();
            let meta = path.symlink_metadata().unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            let description = if meta.file_type().is_symlink() {
                format!("link -> {}", std::fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                pending.push(path.clone());
                format!("folder {mode:o}")
            } else {
                let content = std::fs::read(&path).unwrap();
                format!("file {mode:o} {}", String::from_utf8_lossy(&content))
            };
            entries.insert(path.strip_prefix(dir).unwrap().to_path_buf(), description);
        }
    }
    entries
}

fn merge_package(layout: &Layout) -> Result<()> {
    let files = list_files(&layout.destdir());
    merge(layout, &files, &merged_files(layout), &|_| None)
}

#[test]
fn a_new_version_replaces_the_previous_ones_files_and_a_failure_undoes_it_all() {
    let stage = Stage::new();
    let old = stage.package("p", &[("usr/bin/tool", "1"), ("usr/share/p/gone", "1")]);
    merge_package(&old).unwrap();
    let root = old.root();
    let before = snapshot(&root);

    // The new version has a file where the root has a folder: refused, after other changes.
    std::fs::create_dir_all(root.join("usr/share/zz")).unwrap();
    let before_with_folder = snapshot(&root);
    let new = stage.package("p", &[("usr/bin/tool", "2"), ("usr/share/zz", "clash")]);
    let error = merge_package(&new).unwrap_err().to_string();
    assert!(error.contains("usr/share/zz"), "{error}");
    assert_eq!(snapshot(&root), before_with_folder);
    assert!(!new.journal().exists());
    std::fs::remove_dir(root.join("usr/share/zz")).unwrap();
    assert_eq!(snapshot(&root), before);

    let new = stage.package("p", &[("usr/bin/tool", "2")]);
    merge_package(&new).unwrap();
    assert_eq!(
        std::fs::read_to_string(root.join("usr/bin/tool")).unwrap(),
        "2"
    );
    assert!(!root.join("usr/share/p/gone").exists());
}

#[test]
fn a_journal_left_by_a_kill_is_played_back_by_recover() {
    let stage = Stage::new();
    let old = stage.package("p", &[("usr/lib/libp.so", "1"), ("lib64", "-> /usr/lib")]);
    merge_package(&old).unwrap();
    let root = old.root();
    let before = snapshot(&root);
    let before_package = snapshot(&old.package());

    let new = stage.package("p", &[("lib64/libq.so", "2"), ("usr/lib/libp.so", "2")]);
    let files = list_files(&new.destdir());
    let mut transaction = Transaction::begin(&new).unwrap();
    transaction
        .apply(&files, &["lib64".into(), "usr/lib/libp.so".into()], &|_| {
            None
        })
        .unwrap();
    // Killed before the commit: the journal stays behind.
    std::mem::forget(transaction);
    assert_ne!(snapshot(&root), before);

    assert_eq!(recover(&stage.work()).unwrap(), ["x86_64/stage1/p"]);
    assert_eq!(snapshot(&root), before);
    assert_eq!(snapshot(&old.package()), before_package);
    assert!(!new.journal().exists());
    assert_eq!(snapshot(&stage.outside()).len(), 1);
}

#[test]
fn a_file_may_not_replace_the_link_it_is_reached_through() {
    // `a -> .` makes the package's `a/a` the root's `a` itself: merged, the file would take the
    // link's place and its own path would no longer lead to it.
    let stage = Stage::new();
    merge_package(&stage.package("p0", &[("a", "-> .")])).unwrap();
    let root = stage.layout("p0").root();
    let before = snapshot(&root);
    let layout = stage.package("p1", &[("a/a", "file")]);
    let files = list_files(&layout.destdir());
    let error = format!("{:?}", merge(&layout, &files, &[], &|_| None).unwrap_err());
    assert!(error.contains("would not be found by its path"), "{error}");
    assert_eq!(snapshot(&root), before);
}

mod property {
    //! Random packages of files, folders and links (relative, absolute, chains through `a -> .`)
    //! merged one after another into one root.

    use proptest::prelude::*;

    use super::*;

    const NAMES: [&str; 3] = ["a", "lib", "usr"];

    /// How deep the work dir lies in the sandbox: a merge that climbed out of the root with
    /// `..` would still land in the sandbox, where the property sees it.
    const GUARD_DEPTH: usize = 12;

    /// A link target, made concrete once the sandbox's path is known.
    #[derive(Debug, Clone)]
    enum Target {
        Dot,
        Relative {
            up: usize,
            rest: String,
        },
        /// `a/a/…/../../…rest`: reads as staying below, climbs on disk when `a -> .`.
        Chain {
            down: usize,
            up: usize,
            rest: String,
        },
        /// An absolute path into the sandbox's outside folder, as a host folder would be.
        Outside(String),
        /// The root's own absolute path on the host, which inside the root means something else.
        RootItself(String),
    }

    #[derive(Debug, Clone)]
    enum Node {
        File(u8),
        Folder,
        Link(Target),
    }

    fn rest() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(&NAMES[..]), 0..3)
            .prop_map(|parts| parts.join("/"))
    }

    fn target() -> impl Strategy<Value = Target> {
        prop_oneof![
            1 => Just(Target::Dot),
            1 => (0..4usize, rest()).prop_map(|(up, rest)| Target::Relative { up, rest }),
            2 => (1..5usize, 1..6usize, rest()).prop_map(|(down, up, rest)| Target::Chain {
                down,
                up,
                rest
            }),
            // Absolute links into a host folder are what the merge must take as the root's.
            3 => rest().prop_map(Target::Outside),
            1 => rest().prop_map(Target::RootItself),
        ]
    }

    fn node() -> impl Strategy<Value = Node> {
        prop_oneof![
            any::<u8>().prop_map(Node::File),
            Just(Node::Folder),
            target().prop_map(Node::Link),
        ]
    }

    fn path() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(&NAMES[..]), 1..4)
            .prop_map(|parts| parts.join("/"))
    }

    /// A package: its name (a few, so that later ones replace earlier versions) and entries.
    fn package() -> impl Strategy<Value = (usize, Vec<(String, Node)>)> {
        (0..3usize, prop::collection::vec((path(), node()), 1..12))
    }

    struct Sandbox {
        dir: tempfile::TempDir,
    }

    impl Sandbox {
        fn new() -> Sandbox {
            let sandbox = Sandbox {
                dir: tempfile::tempdir().unwrap(),
            };
            std::fs::create_dir_all(sandbox.outside().join("lib")).unwrap();
            std::fs::write(sandbox.outside().join("keep"), "the host's").unwrap();
            std::fs::create_dir_all(sandbox.layout("p0").root()).unwrap();
            sandbox
        }

        fn outside(&self) -> PathBuf {
            self.dir.path().join("outside")
        }

        fn work(&self) -> PathBuf {
            self.dir
                .path()
                .join("guard/".repeat(GUARD_DEPTH))
                .join("work")
        }

        fn layout(&self, name: &str) -> Layout {
            Layout::new(&self.work(), "x86_64", "stage1", "sysroot", name)
        }

        /// Everything in the sandbox but the work dir.
        fn around(&self) -> BTreeMap<PathBuf, String> {
            let work = self.work();
            let work = work.strip_prefix(self.dir.path()).unwrap();
            snapshot(self.dir.path())
                .into_iter()
                .filter(|(path, _)| !path.starts_with(work))
                .collect()
        }

        fn render(&self, target: &Target) -> PathBuf {
            match target {
                Target::Dot => PathBuf::from("."),
                Target::Relative { up: 0, rest } if rest.is_empty() => PathBuf::from("."),
                Target::Relative { up, rest } => {
                    PathBuf::from(format!("{}{rest}", "../".repeat(*up)))
                }
                Target::Chain { down, up, rest } => {
                    PathBuf::from(format!("{}{}{rest}", "a/".repeat(*down), "../".repeat(*up)))
                }
                Target::Outside(rest) => self.outside().join(rest),
                Target::RootItself(rest) => self.layout("p0").root().join(rest),
            }
        }

        /// Fills a destdir with `entries`, skipping those whose folder is not a folder in it:
        /// the test itself must not write through the links it makes.
        fn fill(&self, dest: &Path, entries: &[(String, Node)]) {
            std::fs::create_dir_all(dest).unwrap();
            'entries: for (path, node) in entries {
                let path = Path::new(path);
                let mut folder = dest.to_path_buf();
                for part in path.parent().unwrap().iter() {
                    folder.push(part);
                    match folder.symlink_metadata() {
                        Ok(meta) if meta.is_dir() => {}
                        Ok(_) => continue 'entries,
                        Err(_) => std::fs::create_dir(&folder).unwrap(),
                    }
                }
                let at = dest.join(path);
                if at.symlink_metadata().is_ok() {
                    continue;
                }
                match node {
                    Node::File(byte) => std::fs::write(&at, [*byte]).unwrap(),
                    Node::Folder => std::fs::create_dir(&at).unwrap(),
                    Node::Link(target) => symlink(self.render(target), &at)
                        .unwrap_or_else(|error| panic!("{}: {error}", at.display())),
                }
            }
        }
    }

    fn config() -> ProptestConfig {
        let cases = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|cases| cases.parse().ok())
            .unwrap_or(16);
        ProptestConfig {
            cases,
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    proptest! {
        #![proptest_config(config())]

        /// Merging never writes outside the root, a merge that is undone leaves the root (and
        /// the package's previous version) exactly as it was, and one that fails does too.
        #[test]
        fn merge_property(packages in prop::collection::vec(package(), 1..5)) {
            let sandbox = Sandbox::new();
            let around = sandbox.around();
            for (number, entries) in &packages {
                let layout = sandbox.layout(&format!("p{number}"));
                let root = layout.root();
                let before = (snapshot(&root), snapshot(&layout.package()), merged_files(&layout));

                sandbox.fill(&layout.destdir(), entries);
                let files = list_files(&layout.destdir());
                let previous = merged_files(&layout);
                let mut transaction = Transaction::begin(&layout).unwrap();
                let applied = transaction.apply(&files, &previous, &|_| None);
                transaction.roll_back().unwrap();
                prop_assert_eq!(&sandbox.around(), &around, "written outside the root");
                // The destdir went with the undone merge; what is left must be as before.
                let _ = std::fs::remove_dir_all(layout.scratch());
                prop_assert_eq!(&(snapshot(&root), snapshot(&layout.package()), merged_files(&layout)), &before, "undone: {:?}", applied.err());

                sandbox.fill(&layout.destdir(), entries);
                let merged = merge(&layout, &files, &previous, &|_| None);
                prop_assert_eq!(&sandbox.around(), &around, "written outside the root");
                if let Err(error) = merged {
                    let _ = std::fs::remove_dir_all(layout.scratch());
                    prop_assert_eq!(&(snapshot(&root), snapshot(&layout.package()), merged_files(&layout)), &before, "failed: {}", error);
                } else {
                    for file in &files {
                        let merged = Beneath::open(&root, Scope::Rooted).unwrap();
                        prop_assert!(merged.symlink_metadata(Path::new(file)).unwrap().is_some(), "{} is missing", file);
                    }
                }
            }
        }
    }
}
