use std::io::Write;

/// An entry of a generated tarball.
pub enum Entry<'a> {
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
}

pub use serpent::unpack::Compression;

/// Builds a tarball byte by byte, writing names into the header directly so that hostile
/// names (`..`, absolute paths) can be produced.
pub fn tarball(entries: &[Entry], compression: Compression) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        let (name, kind, link, data): (&str, tar::EntryType, Option<&str>, &[u8]) = match entry {
            Entry::File(name, data) => (name, tar::EntryType::Regular, None, data),
            Entry::Symlink(name, target) => (name, tar::EntryType::Symlink, Some(target), b""),
            Entry::HardLink(name, target) => (name, tar::EntryType::Link, Some(target), b""),
        };
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(link) = link {
            header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_entry_type(kind);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_mtime(1_600_000_000);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    let plain = builder.into_inner().unwrap();
    match compression {
        Compression::None => plain,
        Compression::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(&plain).unwrap();
            encoder.finish().unwrap()
        }
        Compression::Xz => {
            let mut encoder = liblzma::write::XzEncoder::new(Vec::new(), 1);
            encoder.write_all(&plain).unwrap();
            encoder.finish().unwrap()
        }
        Compression::Bzip2 => {
            let mut encoder = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            encoder.write_all(&plain).unwrap();
            encoder.finish().unwrap()
        }
        Compression::Zstd => zstd::encode_all(&plain[..], 1).unwrap(),
    }
}

/// A well-formed source tarball with a top directory, as upstream releases have.
pub fn source_tarball(top: &str, compression: Compression) -> Vec<u8> {
    let readme = format!("{top}/README");
    let main = format!("{top}/src/main.c");
    tarball(
        &[
            Entry::File(&readme, b"hello from the tarball\n"),
            Entry::File(&main, b"int main(void) {\n    return 0;\n}\n"),
        ],
        compression,
    )
}

/// A tree as `ls -lR` would let a user compare it: one line per entry with its type, mode,
/// link count and content hash, or its link target.
pub fn listing(root: &std::path::Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut lines = Vec::new();
    let mut pending = vec![std::path::PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let mut names: Vec<_> = std::fs::read_dir(root.join(&rel))
            .unwrap_or_else(|error| panic!("{}: {error}", root.join(&rel).display()))
            .map(|entry| entry.unwrap().file_name())
            .collect();
        names.sort();
        for name in names {
            let path = rel.join(&name);
            let meta = std::fs::symlink_metadata(root.join(&path)).unwrap();
            let mode = meta.mode() & 0o777;
            let shown = path.display();
            let kind = meta.file_type();
            if kind.is_symlink() {
                let target = std::fs::read_link(root.join(&path)).unwrap();
                lines.push(format!("l {shown} -> {}", target.display()));
            } else if kind.is_dir() {
                lines.push(format!("d {mode:o} {shown}"));
                pending.push(path);
            } else if kind.is_file() {
                let content = std::fs::read(root.join(&path)).unwrap();
                let (size, links) = (content.len(), meta.nlink());
                let hash = crate::test::sha256(&content);
                lines.push(format!(
                    "f {mode:o} {shown} {size} bytes, {links} links, {hash}"
                ));
            } else {
                lines.push(format!("? {mode:o} {shown}"));
            }
        }
    }
    lines.sort();
    lines
}

/// Runs GNU tar with `args` in `dir`, returning whether it succeeded and what it said.
pub fn gnu_tar(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let output = std::process::Command::new("tar")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("GNU tar runs");
    let said = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.success(), said)
}

/// Extracts `archive` with GNU tar into `dest` (made fresh), keeping modes as serpent does;
/// whether GNU tar succeeded.
pub fn gnu_extract(archive: &std::path::Path, dest: &std::path::Path) -> bool {
    std::fs::create_dir_all(dest).unwrap();
    let archive = archive.to_str().unwrap();
    gnu_tar(dest, &["-x", "-p", "--no-same-owner", "-f", archive]).0
}

/// Rewrites the numeric field at `range` of the header at `offset` (octal, as tar writes it)
/// and fixes the header's checksum: for archives written by other tools than GNU tar.
pub fn patch_header(archive: &mut [u8], offset: usize, range: std::ops::Range<usize>, value: u64) {
    let header = &mut archive[offset..offset + 512];
    let width = range.len() - 1;
    let text = format!("{value:0width$o}\0");
    header[range].copy_from_slice(text.as_bytes());
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

/// The offset of the header of the member named `name` in an uncompressed archive.
pub fn header_of(archive: &[u8], name: &str) -> usize {
    let mut field = name.as_bytes().to_vec();
    field.push(0);
    (0..archive.len())
        .step_by(512)
        .find(|offset| {
            archive[*offset..].starts_with(&field) && archive[offset + 257..].starts_with(b"ustar")
        })
        .or_else(|| {
            (0..archive.len())
                .step_by(512)
                .find(|offset| archive[*offset..].starts_with(&field))
        })
        .unwrap_or_else(|| panic!("no header for {name}"))
}
