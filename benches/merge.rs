//! How long merging a package of 30,000 files into a stage root takes, the size of LLVM's:
//! into an empty root, and in place of a previous version with as many files. Run with
//! `cargo bench --bench merge`; it prints the best of three runs of each, wall and processor time.

use std::path::Path;
use std::time::{Duration, Instant};

use serpent::layout::Layout;
use serpent::merge;

const FOLDERS: usize = 100;
const FILES_PER_FOLDER: usize = 300;
const RUNS: usize = 3;

/// The processor time this process has used, in user and system mode: on a busy machine it
/// says more about the merge's own cost than the wall time does.
fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<nix::libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given and reads nothing else.
    let usage = unsafe {
        nix::libc::getrusage(nix::libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let time = |value: nix::libc::timeval| {
        Duration::from_secs(value.tv_sec as u64) + Duration::from_micros(value.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// The wall and processor time of one merge.
#[derive(Clone, Copy)]
struct Took {
    wall: Duration,
    cpu: Duration,
}

impl Took {
    fn best(self, other: Took) -> Took {
        Took {
            wall: self.wall.min(other.wall),
            cpu: self.cpu.min(other.cpu),
        }
    }

    fn show(self) -> String {
        format!(
            "{:.3} s ({:.3} s of processor time)",
            self.wall.as_secs_f64(),
            self.cpu.as_secs_f64()
        )
    }
}

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
fn timed_merge(layout: &Layout, version: usize) -> Took {
    install(&layout.destdir(), version);
    let files = merge::list_files(&layout.destdir());
    let previous = merge::merged_files(layout);
    let (started, cpu) = (Instant::now(), cpu_time());
    merge::merge(layout, &files, &previous, &|_| None).unwrap();
    Took {
        wall: started.elapsed(),
        cpu: cpu_time() - cpu,
    }
}

fn main() {
    let slowest = Took {
        wall: Duration::MAX,
        cpu: Duration::MAX,
    };
    let (mut fresh, mut replacing) = (slowest, slowest);
    for _ in 0..RUNS {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path(), "x86_64", "stage1", "sysroot", "big");
        fresh = fresh.best(timed_merge(&layout, 1));
        replacing = replacing.best(timed_merge(&layout, 2));
    }
    let files = FOLDERS * FILES_PER_FOLDER;
    println!("merge {files} files into an empty root: {}", fresh.show());
    println!(
        "merge them in place of a previous version's {files}: {}",
        replacing.show()
    );
}
