use std::path::{Path, PathBuf};

/// Where one recipe instance's files live under the work dir:
/// `<work>/<target>/<stage>/{<root>, pkgs/<name>, tmp/<name>, logs/<name>, records/<name>.json}`.
#[derive(Debug, Clone)]
pub struct Layout {
    pub work_dir: PathBuf,
    pub stage_dir: PathBuf,
    pub root_name: String,
    pub name: String,
}

impl Layout {
    pub fn new(work_dir: &Path, target: &str, stage: &str, root_name: &str, name: &str) -> Layout {
        Layout {
            work_dir: work_dir.to_path_buf(),
            stage_dir: work_dir.join(target).join(stage),
            root_name: root_name.to_string(),
            name: name.to_string(),
        }
    }

    /// The stage's root for this target, assembled from finished packages.
    pub fn root(&self) -> PathBuf {
        self.stage_dir.join(&self.root_name)
    }

    /// The finished package: present only once every phase succeeded.
    pub fn package(&self) -> PathBuf {
        self.stage_dir.join("pkgs").join(&self.name)
    }

    /// Scratch space for a build in progress; wiped at the start of each build.
    pub fn scratch(&self) -> PathBuf {
        self.stage_dir.join("tmp").join(&self.name)
    }

    pub fn srcdir(&self) -> PathBuf {
        self.scratch().join("src")
    }

    pub fn builddir(&self) -> PathBuf {
        self.scratch().join("build")
    }

    pub fn destdir(&self) -> PathBuf {
        self.scratch().join("dest")
    }

    pub fn logs(&self) -> PathBuf {
        self.stage_dir.join("logs").join(&self.name)
    }

    /// Written last: the proof that the package is complete.
    pub fn record(&self) -> PathBuf {
        self.stage_dir
            .join("records")
            .join(format!("{}.json", self.name))
    }
}
