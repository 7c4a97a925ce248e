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
