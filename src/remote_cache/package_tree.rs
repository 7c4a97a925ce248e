//! A package folder as a REAPI `Tree` (its folders as `Directory` messages, its files as CAS
//! blobs), and back. Modes and times travel as node properties, so a pulled package hashes
//! the same as the one uploaded; so do hard links (REAPI has none): each name of a file with
//! several carries the same `serpent-hard-link` property, and comes back as one file again.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use bazel_remote_apis::build::bazel::remote::execution::v2::{
    Digest, Directory, DirectoryNode, FileNode, NodeProperties, NodeProperty, SymlinkNode, Tree,
};
use bazel_remote_apis::google::protobuf::{Timestamp, UInt32Value};
use prost::Message;

use super::server::Failure;

/// The node property naming a file's hard-link group: every name of one file carries the
/// same value.
const HARD_LINK: &str = "serpent-hard-link";

/// The digest REAPI gives `bytes`: their sha256 and their length.
pub fn digest_of(bytes: &[u8]) -> Digest {
    Digest {
        hash: crate::digest::sha256(bytes),
        size_bytes: bytes.len() as i64,
    }
}

/// A folder read for upload: its tree and, by hash, where each file's bytes are.
pub struct PackageTree {
    pub tree: Tree,
    pub files: BTreeMap<String, (Digest, PathBuf)>,
}

/// Hard-link groups by device and inode, numbered in the order they are met.
pub type LinkGroups = BTreeMap<(u64, u64), usize>;

impl PackageTree {
    pub fn read(root: &Path) -> std::io::Result<PackageTree> {
        PackageTree::read_linked(root, &mut LinkGroups::new())
    }

    /// Reads `root` numbering its hard links in `links`, which several folders placed in one
    /// tree share: a file linked from two of them is one group, and two groups never clash.
    pub fn read_linked(root: &Path, links: &mut LinkGroups) -> std::io::Result<PackageTree> {
        let mut files = BTreeMap::new();
        let mut children = Vec::new();
        let root_directory = read_directory(root, &mut files, &mut children, links)?;
        Ok(PackageTree {
            tree: Tree {
                root: Some(root_directory),
                children,
            },
            files,
        })
    }
}

/// One folder as a `Directory`, its subfolders added to `children` first. `links` numbers the
/// files with more than one name by device and inode, in the order they are met.
fn read_directory(
    dir: &Path,
    files: &mut BTreeMap<String, (Digest, PathBuf)>,
    children: &mut Vec<Directory>,
    links: &mut LinkGroups,
) -> std::io::Result<Directory> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|entry| entry.file_name());
    let mut directory = Directory {
        node_properties: Some(properties(&std::fs::symlink_metadata(dir)?)),
        ..Default::default()
    };
    for entry in entries {
        let path = entry.path();
        let name = entry
            .file_name()
            .to_str()
            .map(str::to_string)
            .ok_or_else(|| {
                std::io::Error::other(format!(
                    "{} is not UTF-8, which REAPI needs",
                    path.display()
                ))
            })?;
        let meta = entry.path().symlink_metadata()?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path)?;
            directory.symlinks.push(SymlinkNode {
                name,
                target: target.to_string_lossy().into_owned(),
                node_properties: None,
            });
        } else if meta.is_dir() {
            let child = read_directory(&path, files, children, links)?;
            let digest = digest_of(&child.encode_to_vec());
            children.push(child);
            directory.directories.push(DirectoryNode {
                name,
                digest: Some(digest),
            });
        } else if meta.is_file() {
            let digest = digest_of(&std::fs::read(&path)?);
            files.insert(digest.hash.clone(), (digest.clone(), path));
            let mut node_properties = properties(&meta);
            if meta.nlink() > 1 {
                let next = links.len();
                let group = *links.entry((meta.dev(), meta.ino())).or_insert(next);
                node_properties.properties.push(NodeProperty {
                    name: HARD_LINK.into(),
                    value: group.to_string(),
                });
            }
            directory.files.push(FileNode {
                name,
                digest: Some(digest),
                is_executable: meta.permissions().mode() & 0o111 != 0,
                node_properties: Some(node_properties),
            });
        } else {
            return Err(std::io::Error::other(format!(
                "{} is neither a file, a folder nor a link",
                path.display()
            )));
        }
    }
    Ok(directory)
}

pub fn properties(meta: &std::fs::Metadata) -> NodeProperties {
    NodeProperties {
        properties: Vec::new(),
        mtime: Some(Timestamp {
            seconds: meta.mtime(),
            nanos: 0,
        }),
        unix_mode: Some(UInt32Value {
            value: meta.permissions().mode() & 0o7777,
        }),
    }
}

/// The folders of a tree by digest, and every file blob it names.
pub struct PulledTree {
    root: Directory,
    directories: BTreeMap<String, Directory>,
}

impl PulledTree {
    pub fn new(tree: Tree) -> Result<PulledTree, Failure> {
        let root = tree.root.ok_or("the tree has no root folder")?;
        let named = std::iter::once(&root)
            .chain(&tree.children)
            .flat_map(|directory| directory.files.iter().map(|file| &file.digest));
        for digest in named {
            let hash = digest.as_ref().map(|digest| digest.hash.as_str());
            if !hash.is_some_and(crate::digest::is_sha256) {
                return Err(format!(
                    "the tree names a file by {hash:?}, which is no sha256"
                ));
            }
        }
        let directories = tree
            .children
            .into_iter()
            .map(|child| (digest_of(&child.encode_to_vec()).hash, child))
            .collect();
        Ok(PulledTree { root, directories })
    }

    /// Every file blob the tree names, each once.
    pub fn file_digests(&self) -> Vec<Digest> {
        let mut found = BTreeMap::new();
        for directory in std::iter::once(&self.root).chain(self.directories.values()) {
            for file in &directory.files {
                if let Some(digest) = &file.digest {
                    found.insert(digest.hash.clone(), digest.clone());
                }
            }
        }
        found.into_values().collect()
    }

    /// Writes the tree into `dest`, which must not exist yet, copying each file's contents from
    /// `blobs/<hash>` (already checked against its digest). Names are checked first: a tree
    /// from the cache is not trusted to stay inside `dest`.
    pub fn write(&self, dest: &Path, blobs: &Path) -> Result<(), Failure> {
        self.write_directory(&self.root, dest, blobs, &mut Linked::default(), 0)
    }

    fn write_directory(
        &self,
        directory: &Directory,
        dir: &Path,
        blobs: &Path,
        linked: &mut Linked,
        depth: usize,
    ) -> Result<(), Failure> {
        if depth > 256 {
            return Err("the tree nests folders deeper than 256".into());
        }
        let io = |path: &Path, error: std::io::Error| {
            format!("cannot write {}: {error}", path.display())
        };
        check_names(directory)?;
        std::fs::create_dir(dir).map_err(|error| io(dir, error))?;
        for file in &directory.files {
            let path = dir.join(&file.name);
            let hash = file
                .digest
                .as_ref()
                .map(|digest| digest.hash.as_str())
                .unwrap_or_default();
            let group = hard_link_group(file);
            if let Some((first, first_hash)) = group.and_then(|group| linked.get(group)) {
                if first_hash != hash {
                    return Err(format!(
                        "the tree links {} to {}, whose contents differ",
                        path.display(),
                        first.display()
                    ));
                }
                std::fs::hard_link(first, &path).map_err(|error| io(&path, error))?;
                continue;
            }
            if let Some(group) = group {
                linked.insert(group.to_string(), (path.clone(), hash.to_string()));
            }
            let mut blob = std::fs::File::open(blobs.join(hash))
                .map_err(|error| format!("no blob for {}: {error}", path.display()))?;
            let mut out = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|error| io(&path, error))?;
            std::io::copy(&mut blob, &mut out)
                .map(drop)
                .map_err(|error| io(&path, error))?;
            let mode = mode_of(
                file.node_properties.as_ref(),
                if file.is_executable { 0o755 } else { 0o644 },
            );
            out.set_permissions(std::fs::Permissions::from_mode(mode))
                .map_err(|error| io(&path, error))?;
            set_time(&path, file.node_properties.as_ref()).map_err(|error| io(&path, error))?;
        }
        for link in &directory.symlinks {
            let path = dir.join(&link.name);
            std::os::unix::fs::symlink(&link.target, &path).map_err(|error| io(&path, error))?;
        }
        for child in &directory.directories {
            let hash = child
                .digest
                .as_ref()
                .map(|digest| digest.hash.as_str())
                .unwrap_or_default();
            let node = self
                .directories
                .get(hash)
                .ok_or_else(|| format!("the tree lacks the folder {}", child.name))?;
            self.write_directory(node, &dir.join(&child.name), blobs, linked, depth + 1)?;
        }
        let mode = mode_of(directory.node_properties.as_ref(), 0o755);
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
            .map_err(|error| io(dir, error))?;
        set_time(dir, directory.node_properties.as_ref()).map_err(|error| io(dir, error))
    }
}

/// The first name written of each hard-link group, with its contents' hash.
type Linked = BTreeMap<String, (PathBuf, String)>;

fn hard_link_group(file: &FileNode) -> Option<&str> {
    file.node_properties
        .as_ref()?
        .properties
        .iter()
        .find(|property| property.name == HARD_LINK)
        .map(|property| property.value.as_str())
}

/// Refuses names that would leave the folder or name one entry twice.
fn check_names(directory: &Directory) -> Result<(), Failure> {
    let names = directory
        .files
        .iter()
        .map(|file| &file.name)
        .chain(directory.directories.iter().map(|child| &child.name))
        .chain(directory.symlinks.iter().map(|link| &link.name));
    let mut seen = std::collections::BTreeSet::new();
    for name in names {
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
            return Err(format!("the tree has an entry named {name:?}"));
        }
        if !seen.insert(name) {
            return Err(format!("the tree names {name:?} twice in one folder"));
        }
    }
    Ok(())
}

fn mode_of(properties: Option<&NodeProperties>, default: u32) -> u32 {
    properties
        .and_then(|properties| properties.unix_mode.as_ref())
        .map(|mode| mode.value)
        .unwrap_or(default)
        & 0o7777
}

pub fn set_time(path: &Path, properties: Option<&NodeProperties>) -> std::io::Result<()> {
    let Some(seconds) = properties
        .and_then(|properties| properties.mtime.as_ref())
        .and_then(|time| u64::try_from(time.seconds).ok())
    else {
        return Ok(());
    };
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds);
    std::fs::File::open(path)?.set_times(std::fs::FileTimes::new().set_modified(time))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The package's files as the cache would hand them over: by hash in one folder.
    fn blobs_of(read: &PackageTree, dir: &Path) -> PathBuf {
        let blobs = dir.join("blobs");
        std::fs::create_dir_all(&blobs).unwrap();
        for (hash, (_, path)) in &read.files {
            std::fs::copy(path, blobs.join(hash)).unwrap();
        }
        blobs
    }

    #[test]
    fn a_package_comes_back_with_its_modes_links_and_times() {
        let dir = tempfile::tempdir().unwrap();
        let package = dir.path().join("package");
        std::fs::create_dir_all(package.join("usr/bin")).unwrap();
        std::fs::write(package.join("usr/bin/tool"), b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            package.join("usr/bin/tool"),
            PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        std::fs::write(package.join("usr/read-only"), b"same").unwrap();
        std::fs::write(package.join("usr/copy"), b"same").unwrap();
        std::fs::set_permissions(
            package.join("usr/read-only"),
            PermissionsExt::from_mode(0o444),
        )
        .unwrap();
        std::os::unix::fs::symlink("bin/tool", package.join("usr/link")).unwrap();
        crate::reproducible::clamp_times(&package, 1_000_000).unwrap();

        let read = PackageTree::read(&package).unwrap();
        let encoded = read.tree.encode_to_vec();
        let pulled = PulledTree::new(Tree::decode(encoded.as_slice()).unwrap()).unwrap();
        assert_eq!(pulled.file_digests().len(), 2, "two distinct contents");
        let copy = dir.path().join("copy");
        pulled.write(&copy, &blobs_of(&read, dir.path())).unwrap();

        assert_eq!(
            crate::tree::digest(&copy).unwrap(),
            crate::tree::digest(&package).unwrap()
        );
        let time = |path: &Path| std::fs::symlink_metadata(path).unwrap().mtime();
        assert_eq!(
            time(&copy.join("usr/bin/tool")),
            time(&package.join("usr/bin/tool"))
        );
        assert_eq!(time(&copy.join("usr")), time(&package.join("usr")));
    }

    #[test]
    fn hard_links_come_back_as_one_file_and_equal_copies_stay_apart() {
        let dir = tempfile::tempdir().unwrap();
        let package = dir.path().join("package");
        std::fs::create_dir_all(package.join("usr/bin")).unwrap();
        std::fs::create_dir_all(package.join("usr/libexec")).unwrap();
        std::fs::write(package.join("usr/bin/tool"), b"#!/bin/sh\n").unwrap();
        std::fs::hard_link(package.join("usr/bin/tool"), package.join("usr/bin/alias")).unwrap();
        std::fs::hard_link(
            package.join("usr/bin/tool"),
            package.join("usr/libexec/tool"),
        )
        .unwrap();
        std::fs::write(package.join("usr/bin/copy"), b"#!/bin/sh\n").unwrap();
        std::fs::write(package.join("usr/bin/other"), b"other").unwrap();
        std::fs::hard_link(package.join("usr/bin/other"), package.join("usr/other")).unwrap();

        let read = PackageTree::read(&package).unwrap();
        let encoded = read.tree.encode_to_vec();
        let pulled = PulledTree::new(Tree::decode(encoded.as_slice()).unwrap()).unwrap();
        let copy = dir.path().join("copy");
        pulled.write(&copy, &blobs_of(&read, dir.path())).unwrap();

        let inode = |path: &str| std::fs::metadata(copy.join(path)).unwrap().ino();
        assert_eq!(inode("usr/bin/tool"), inode("usr/bin/alias"));
        assert_eq!(inode("usr/bin/tool"), inode("usr/libexec/tool"));
        assert_eq!(
            std::fs::metadata(copy.join("usr/bin/tool"))
                .unwrap()
                .nlink(),
            3
        );
        assert_ne!(inode("usr/bin/tool"), inode("usr/bin/copy"));
        assert_eq!(inode("usr/bin/other"), inode("usr/other"));
        assert_ne!(inode("usr/bin/tool"), inode("usr/other"));
        assert_eq!(
            crate::tree::digest(&copy).unwrap(),
            crate::tree::digest(&package).unwrap()
        );
    }

    #[test]
    fn a_hard_link_between_different_contents_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = dir.path().join("blobs");
        std::fs::create_dir_all(&blobs).unwrap();
        let linked = |name: &str, contents: &[u8]| {
            let digest = digest_of(contents);
            std::fs::write(blobs.join(&digest.hash), contents).unwrap();
            FileNode {
                name: name.into(),
                digest: Some(digest),
                node_properties: Some(NodeProperties {
                    properties: vec![NodeProperty {
                        name: HARD_LINK.into(),
                        value: "0".into(),
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            }
        };
        let tree = Tree {
            root: Some(Directory {
                files: vec![linked("a", b"one"), linked("b", b"two")],
                ..Default::default()
            }),
            children: Vec::new(),
        };
        let error = PulledTree::new(tree)
            .unwrap()
            .write(&dir.path().join("dest"), &blobs)
            .unwrap_err();
        assert!(error.contains("whose contents differ"), "{error}");
    }

    fn tree_with(names: &[&str]) -> Tree {
        Tree {
            root: Some(Directory {
                symlinks: names
                    .iter()
                    .map(|name| SymlinkNode {
                        name: name.to_string(),
                        target: "/etc/passwd".into(),
                        node_properties: None,
                    })
                    .collect(),
                ..Default::default()
            }),
            children: Vec::new(),
        }
    }

    #[test]
    fn names_that_leave_the_folder_or_repeat_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for (names, refusal) in [
            (&["../escape"][..], "named \"../escape\""),
            (&[".."][..], "named \"..\""),
            (&["twice", "twice"][..], "names \"twice\" twice"),
        ] {
            let dest = dir.path().join("dest");
            let error = PulledTree::new(tree_with(names))
                .unwrap()
                .write(&dest, dir.path())
                .unwrap_err();
            assert!(error.contains(refusal), "{error}");
            assert!(!dir.path().join("escape").exists());
            let _ = std::fs::remove_dir_all(&dest);
        }
    }

    #[test]
    fn a_file_named_by_anything_but_a_sha256_is_refused() {
        let tree = Tree {
            root: Some(Directory {
                files: vec![FileNode {
                    name: "passwd".into(),
                    digest: Some(Digest {
                        hash: "../../../etc/passwd".into(),
                        size_bytes: 1,
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            children: Vec::new(),
        };
        let error = PulledTree::new(tree).err().unwrap();
        assert!(error.contains("which is no sha256"), "{error}");
    }
}
