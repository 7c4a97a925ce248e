//! How long merging a package of 30,000 files into a stage root takes, the size of LLVM's:
//! into an empty root, and in place of a previous version with as many files. Run with
//! `cargo bench --bench merge`; it prints the best of three runs of each.

use std::path::Path;
use std::time::{Duration, Instant};

use serpent::layout::Layout;
use serpent::merge;

const FOLDERS: usize = 100;
const FILES_PER_FOLDER: usize = 300;
const RUNS: usize = 3;

/// Fills the destdir with the package's files, each a line naming its version.
fn install(destdir: &Path, version: usize) {
    for folder in 0..FOLDERS {
        let folder_path = destdir.join(format!("usr/lib/d{folder}"));
        std::fs::create_dir_all(&folder_path).unwrap();
        for file in 0..FILES_PER_FOLDER {
            let content = format!("version {version} of file {file} in folder {folder}\n");
            std::fs::write(folder_path.join(format!("f{file}")), content).unwrap();
        }
    }
}

/// Installs `version` and times its merge.
fn timed_merge(layout: &Layout, version: usize) -> Duration {
    install(&layout.destdir(), version);
    let files = merge::list_files(&layout.destdir());
    let previous = merge::merged_files(layout);
    let started = Instant::now();
    merge::merge(layout, &files, &previous, &|_| None).unwrap();
    started.elapsed()
}

fn main() {
    let (mut fresh, mut replacing) = (Duration::MAX, Duration::MAX);
    for _ in 0..RUNS {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path(), "x86_64", "stage1", "sysroot", "big");
        fresh = fresh.min(timed_merge(&layout, 1));
        replacing = replacing.min(timed_merge(&layout, 2));
    }
    let files = FOLDERS * FILES_PER_FOLDER;
    println!(
        "merge {files} files into an empty root: {:.3} s",
        fresh.as_secs_f64()
    );
    println!(
        "merge them in place of a previous version's {files}: {:.3} s",
        replacing.as_secs_f64()
    );
}
