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
