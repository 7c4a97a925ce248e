//! The input root of a remote action, assembled from local folders and files without copying
//! them: each is read as a REAPI tree and grafted in at its place, and the folders above the
//! grafts are made as `Directory` messages of their own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bazel_remote_apis::build::bazel::remote::execution::v2::{
    Digest, Directory, DirectoryNode, FileNode,
};
use prost::Message;

use crate::remote_cache::package_tree::{digest_of, LinkGroups, PackageTree};
use crate::remote_cache::Failure;

/// Where a blob's bytes are until it is uploaded.
pub enum Blob {
    Bytes(Vec<u8>),
    File(PathBuf),
}

impl Blob {
    pub fn read(&self) -> Result<Vec<u8>, Failure> {
        match self {
            Blob::Bytes(bytes) => Ok(bytes.clone()),
            Blob::File(path) => std::fs::read(path)
                .map_err(|error| format!("cannot read {}: {error}", path.display())),
        }
    }
}

enum Node {
    Folder(BTreeMap<String, Node>),
    /// A local folder, already read: its root `Directory`'s digest.
    Grafted(Digest),
    File(Digest, bool),
}

/// An input root under construction, and every blob it names.
#[derive(Default)]
pub struct InputRoot {
    top: BTreeMap<String, Node>,
    pub blobs: BTreeMap<String, (Digest, Blob)>,
    /// Shared by every folder: a stage root's files are hard links to its packages' files.
    links: LinkGroups,
}

impl InputRoot {
    /// Puts the local folder `local` at `at` (a relative path of plain names).
    pub fn add_folder(&mut self, at: &str, local: &Path) -> Result<(), Failure> {
        let read = PackageTree::read_linked(local, &mut self.links)
            .map_err(|error| format!("cannot read {}: {error}", local.display()))?;
        for directory in read.tree.children {
            self.keep(directory.encode_to_vec());
        }
        for (digest, path) in read.files.into_values() {
            self.blobs
                .insert(digest.hash.clone(), (digest, Blob::File(path)));
        }
        let root = read.tree.root.unwrap_or_default();
        let digest = self.keep(root.encode_to_vec());
        self.place(at, Node::Grafted(digest))
    }

    /// Puts the local file `local` at `at`.
    pub fn add_file(&mut self, at: &str, local: &Path) -> Result<(), Failure> {
        use std::os::unix::fs::PermissionsExt;
        let bytes = std::fs::read(local)
            .map_err(|error| format!("cannot read {}: {error}", local.display()))?;
        let executable = std::fs::metadata(local)
            .map(|meta| meta.permissions().mode() & 0o111 != 0)
            .unwrap_or(false);
        let digest = digest_of(&bytes);
        self.blobs.insert(
            digest.hash.clone(),
            (digest.clone(), Blob::File(local.to_path_buf())),
        );
        self.place(at, Node::File(digest, executable))
    }

    /// Keeps a message's bytes as a blob; its digest.
    pub fn keep(&mut self, bytes: Vec<u8>) -> Digest {
        let digest = digest_of(&bytes);
        self.blobs
            .insert(digest.hash.clone(), (digest.clone(), Blob::Bytes(bytes)));
        digest
    }

    fn place(&mut self, at: &str, node: Node) -> Result<(), Failure> {
        let names: Vec<&str> = at.split('/').collect();
        if names
            .iter()
            .any(|name| name.is_empty() || *name == "." || *name == "..")
        {
            return Err(format!(
                "{at:?} is no plain relative path for the input root"
            ));
        }
        let (last, folders) = names.split_last().expect("split gives one name at least");
        let mut level = &mut self.top;
        for name in folders {
            let entry = level
                .entry(name.to_string())
                .or_insert_with(|| Node::Folder(BTreeMap::new()));
            level = match entry {
                Node::Folder(children) => children,
                _ => {
                    return Err(format!(
                        "{at} lies inside something already in the input root"
                    ))
                }
            };
        }
        if level.insert(last.to_string(), node).is_some() {
            return Err(format!("{at} is in the input root twice"));
        }
        Ok(())
    }

    /// The root `Directory`'s digest, every folder above the grafts kept as a blob.
    pub fn finish(&mut self) -> Digest {
        let top = std::mem::take(&mut self.top);
        self.encode(top)
    }

    fn encode(&mut self, children: BTreeMap<String, Node>) -> Digest {
        let mut directory = Directory::default();
        for (name, node) in children {
            match node {
                Node::Folder(inner) => {
                    let digest = self.encode(inner);
                    directory.directories.push(DirectoryNode {
                        name,
                        digest: Some(digest),
                    });
                }
                Node::Grafted(digest) => directory.directories.push(DirectoryNode {
                    name,
                    digest: Some(digest),
                }),
                Node::File(digest, is_executable) => directory.files.push(FileNode {
                    name,
                    digest: Some(digest),
                    is_executable,
                    node_properties: None,
                }),
            }
        }
        self.keep(directory.encode_to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grafted_folders_sit_under_made_folders_and_clashes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("pkg/usr/bin")).unwrap();
        std::fs::write(dir.path().join("pkg/usr/bin/tool"), b"tool").unwrap();
        std::fs::write(dir.path().join("source.tar"), b"tar").unwrap();
        let mut root = InputRoot::default();
        root.add_folder("work/x/stage1/pkgs/a", &dir.path().join("pkg"))
            .unwrap();
        root.add_file("store/ab/source", &dir.path().join("source.tar"))
            .unwrap();
        assert!(root
            .add_file("work/x/stage1/pkgs/a", &dir.path().join("source.tar"))
            .is_err());
        assert!(root
            .add_file("../out", &dir.path().join("source.tar"))
            .is_err());
        let digest = root.finish();
        let (_, Blob::Bytes(bytes)) = &root.blobs[&digest.hash] else {
            panic!("the root is a message")
        };
        let top = Directory::decode(bytes.as_slice()).unwrap();
        let names: Vec<&str> = top.directories.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["store", "work"]);
        assert!(root.blobs.contains_key(&crate::digest::sha256(b"tool")));
        assert!(root.blobs.contains_key(&crate::digest::sha256(b"tar")));
    }

    #[test]
    fn a_file_linked_from_two_grafted_folders_is_staged_as_one_file() {
        use crate::remote_cache::package_tree::PulledTree;
        use bazel_remote_apis::build::bazel::remote::execution::v2::Tree;
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        for folder in ["pkg", "root", "other"] {
            std::fs::create_dir(dir.path().join(folder)).unwrap();
        }
        std::fs::write(dir.path().join("pkg/lib.a"), b"library").unwrap();
        std::fs::hard_link(dir.path().join("pkg/lib.a"), dir.path().join("root/lib.a")).unwrap();
        std::fs::write(dir.path().join("other/a"), b"a").unwrap();
        std::fs::hard_link(dir.path().join("other/a"), dir.path().join("other/b")).unwrap();
        let mut root = InputRoot::default();
        for folder in ["pkg", "root", "other"] {
            root.add_folder(folder, &dir.path().join(folder)).unwrap();
        }
        let top = root.finish();
        let message = |digest: &Digest| match &root.blobs[&digest.hash].1 {
            Blob::Bytes(bytes) => Directory::decode(bytes.as_slice()).unwrap(),
            Blob::File(_) => panic!("{} is a folder", digest.hash),
        };
        let top = message(&top);
        let children = top
            .directories
            .iter()
            .map(|node| message(node.digest.as_ref().unwrap()))
            .collect();
        let blobs = dir.path().join("blobs");
        std::fs::create_dir(&blobs).unwrap();
        for (hash, (_, blob)) in &root.blobs {
            std::fs::write(blobs.join(hash), blob.read().unwrap()).unwrap();
        }
        let staged = dir.path().join("staged");
        PulledTree::new(Tree {
            root: Some(top),
            children,
        })
        .unwrap()
        .write(&staged, &blobs)
        .unwrap();
        let inode = |path: &str| std::fs::metadata(staged.join(path)).unwrap().ino();
        assert_eq!(inode("pkg/lib.a"), inode("root/lib.a"));
        assert_eq!(inode("other/a"), inode("other/b"));
        assert_ne!(inode("pkg/lib.a"), inode("other/a"));
    }
}
