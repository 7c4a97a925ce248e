use std::path::{Path, PathBuf};

/// The folder of a stage that holds the journals of merges under way.
pub const MERGING: &str = "merging";

/// Where one recipe instance's files live under the work dir:
/// `<work>/<target>/<stage>/{<root>, pkgs/<name>, views/<name>, tmp/<name>, logs/<name>,
/// records/<name>.json, merging/<name>, pulling/<name>}`.
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

    /// What a build of this package sees as its stage's root: the packages it depends on,
    /// assembled before the build (see [`crate::view`]).
    pub fn view(&self) -> PathBuf {
        self.stage_dir.join("views").join(&self.name)
    }

    /// Scratch space for a build in progress; kept when the build is interrupted, so the next
    /// run of the same key resumes in it.
    pub fn scratch(&self) -> PathBuf {
        self.stage_dir.join("tmp").join(&self.name)
    }

    /// Where a package pulled from the remote cache is written before it replaces the scratch
    /// folder, which is kept until then for a build to resume.
    pub fn pulling(&self) -> PathBuf {
        self.stage_dir.join("pulling").join(&self.name)
    }

    /// Which steps of the build in progress finished.
    pub fn build_state(&self) -> PathBuf {
        self.scratch().join("state.json")
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

    /// The files and links the package put into the root, one a line.
    pub fn file_list(&self) -> PathBuf {
        self.record().with_extension("files")
    }

    /// The journal of the package's merge into the root, present only while it runs (or when
    /// it was killed, until the next run plays it back).
    pub fn journal(&self) -> PathBuf {
        self.stage_dir.join(MERGING).join(&self.name)
    }

    /// Every merge journal folder in the work dir.
    pub fn journals(work_dir: &Path) -> Vec<PathBuf> {
        let children = |dir: &Path| -> Vec<PathBuf> {
            std::fs::read_dir(dir)
                .map(|entries| entries.flatten().map(|entry| entry.path()).collect())
                .unwrap_or_default()
        };
        children(work_dir)
            .iter()
            .flat_map(|target| children(target))
            .flat_map(|stage| children(&stage.join(MERGING)))
            .collect()
    }

    /// The layout of the package whose merge journal is `journal`, in a root named `root_name`.
    pub fn of_journal(work_dir: &Path, journal: &Path, root_name: &str) -> Layout {
        let stage_dir = journal
            .parent()
            .and_then(Path::parent)
            .unwrap_or(work_dir)
            .to_path_buf();
        Layout {
            work_dir: work_dir.to_path_buf(),
            stage_dir,
            root_name: root_name.to_string(),
            name: journal
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }
    }
}
