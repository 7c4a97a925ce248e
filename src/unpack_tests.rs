use super::*;
use std::io::Cursor;

/// What to put in a test tarball.
enum Item<'a> {
    File(&'a str, &'a [u8], u32),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
    Fifo(&'a str),
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(1_600_000_000);
    h
}

/// Write a name (or link name) straight into the header bytes, bypassing
/// the checks `tar::Builder` applies, then fix the checksum.
fn raw_header(kind: tar::EntryType, name: &str, link: &str, size: u64) -> tar::Header {
    let mut h = header(kind, 0o644, size);
    {
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name = [0; 100];
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        gnu.linkname = [0; 100];
        gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    h.set_cksum();
    h
}

fn tarball(items: &[Item<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for item in items {
        match *item {
            Item::File(name, data, mode) => {
                let mut h = header(tar::EntryType::Regular, mode, data.len() as u64);
                b.append_data(&mut h, name, data).unwrap();
            }
            Item::Dir(name) => {
                let mut h = header(tar::EntryType::Directory, 0o755, 0);
                b.append_data(&mut h, name, io::empty()).unwrap();
            }
            Item::Symlink(name, target) => {
                let h = raw_header(tar::EntryType::Symlink, name, target, 0);
                b.append(&h, io::empty()).unwrap();
            }
            Item::HardLink(name, target) => {
                let h = raw_header(tar::EntryType::Link, name, target, 0);
                b.append(&h, io::empty()).unwrap();
            }
            Item::Fifo(name) => {
                let h = raw_header(tar::EntryType::Fifo, name, "", 0);
                b.append(&h, io::empty()).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// An archive holding a single raw entry with an arbitrary name.
fn raw_file_tarball(name: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let h = raw_header(tar::EntryType::Regular, name, "", 3);
    b.append(&h, &b"bad"[..]).unwrap();
    b.into_inner().unwrap()
}

fn compress(data: &[u8], c: Compression) -> Vec<u8> {
    match c {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Compression::Xz => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Compression::Bzip2 => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Compression::Zstd => zstd::encode_all(Cursor::new(data), 1).unwrap(),
    }
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn archive(&self, bytes: &[u8]) -> PathBuf {
        // Content-addressed store style: no extension.
        let p = self.dir.path().join("0123abcd");
        fs::write(&p, bytes).unwrap();
        p
    }
    fn dest(&self) -> PathBuf {
        self.dir.path().join("out")
    }
    fn run(&self, bytes: &[u8], opts: &UnpackOptions) -> Result<UnpackSummary, UnpackError> {
        unpack(&self.archive(bytes), &self.dest(), opts)
    }
}

fn sample() -> Vec<u8> {
    tarball(&[
        Item::Dir("pkg-1.0/"),
        Item::File("pkg-1.0/README", b"hello\n", 0o644),
        Item::Dir("pkg-1.0/bin/"),
        Item::File("pkg-1.0/bin/run", b"#!/bin/sh\n", 0o755),
        Item::File("pkg-1.0/lib/x.c", b"int x;\n", 0o600),
        Item::File("pkg-1.0/libx/y.c", b"int y;\n", 0o644),
        Item::Symlink("pkg-1.0/bin/alias", "run"),
        Item::Symlink("pkg-1.0/lib/up", "../README"),
        Item::HardLink("pkg-1.0/README.hard", "pkg-1.0/README"),
    ])
}

#[test]
fn detects_magic() {
    let tar = sample();
    assert_eq!(detect(&tar), Compression::None);
    assert!(looks_like_tar(&tar));
    for c in [
        Compression::Gzip,
        Compression::Xz,
        Compression::Bzip2,
        Compression::Zstd,
    ] {
        assert_eq!(detect(&compress(&tar, c)), c);
    }
}

#[test]
fn every_compression_unpacks() {
    for c in [
        Compression::None,
        Compression::Gzip,
        Compression::Xz,
        Compression::Bzip2,
        Compression::Zstd,
    ] {
        let fx = Fixture::new();
        let s = fx
            .run(&compress(&sample(), c), &UnpackOptions::default())
            .unwrap_or_else(|e| panic!("{c:?}: {e}"));
        let d = fx.dest().join("pkg-1.0");
        assert_eq!(fs::read(d.join("README")).unwrap(), b"hello\n", "{c:?}");
        assert_eq!(fs::read(d.join("lib/x.c")).unwrap(), b"int x;\n");
        assert_eq!(s.files, 7, "{c:?}");
        assert_eq!(s.bytes, 6 + 10 + 7 + 7);
    }
}

#[test]
fn keeps_modes_mtimes_and_links() {
    let fx = Fixture::new();
    fx.run(&sample(), &UnpackOptions::default()).unwrap();
    let d = fx.dest().join("pkg-1.0");
    let mode = |p: &str| fs::metadata(d.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("bin/run"), 0o755);
    assert_eq!(mode("lib/x.c"), 0o600);
    let mtime = fs::metadata(d.join("README")).unwrap().modified().unwrap();
    assert_eq!(mtime, mtime_of(1_600_000_000).unwrap());
    let dir_mtime = fs::metadata(d.join("bin")).unwrap().modified().unwrap();
    assert_eq!(dir_mtime, mtime_of(1_600_000_000).unwrap());
    assert_eq!(
        fs::read_link(d.join("bin/alias")).unwrap(),
        Path::new("run")
    );
    assert_eq!(fs::read(d.join("lib/up")).unwrap(), b"hello\n");
    assert_eq!(fs::read(d.join("README.hard")).unwrap(), b"hello\n");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(fs::metadata(d.join("README.hard")).unwrap().nlink(), 2);
}

#[test]
fn strip_components() {
    let fx = Fixture::new();
    let opts = UnpackOptions {
        strip: 1,
        ..Default::default()
    };
    fx.run(&sample(), &opts).unwrap();
    let d = fx.dest();
    assert_eq!(fs::read(d.join("README")).unwrap(), b"hello\n");
    assert_eq!(fs::read(d.join("bin/run")).unwrap(), b"#!/bin/sh\n");
    // The hard-link target is stripped too.
    assert_eq!(fs::read(d.join("README.hard")).unwrap(), b"hello\n");
    assert!(!d.join("pkg-1.0").exists());

    // Entries with too few components are skipped.
    let fx = Fixture::new();
    let opts = UnpackOptions {
        strip: 2,
        ..Default::default()
    };
    let tar = tarball(&[
        Item::File("top", b"t", 0o644),
        Item::File("a/b/c", b"c", 0o644),
    ]);
    fx.run(&tar, &opts).unwrap();
    assert_eq!(fs::read(fx.dest().join("c")).unwrap(), b"c");
    assert!(!fx.dest().join("top").exists());
}

#[test]
fn only_is_component_wise() {
    let fx = Fixture::new();
    let opts = UnpackOptions {
        strip: 1,
        only: vec!["./lib".into(), "README".into()],
    };
    let s = fx.run(&sample(), &opts).unwrap();
    let d = fx.dest();
    assert!(d.join("lib/x.c").exists());
    assert!(d.join("lib/up").exists());
    assert!(d.join("README").exists());
    assert!(!d.join("libx").exists());
    assert!(!d.join("bin").exists());
    assert!(!d.join("README.hard").exists());
    assert_eq!(s.files, 3);
}

fn assert_refused(tar: &[u8], needle: &str) {
    let fx = Fixture::new();
    let err = fx.run(tar, &UnpackOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
    assert!(msg.starts_with("archive "), "{msg}");
    assert!(
        !fx.dir.path().join("evil").exists(),
        "something escaped: {msg}"
    );
}

#[test]
fn refuses_parent_components() {
    assert_refused(
        &raw_file_tarball("../evil"),
        r#"entry "../evil" escapes the destination (parent directory component)"#,
    );
    assert_refused(
        &raw_file_tarball("a/../../evil"),
        r#"entry "a/../../evil" escapes the destination"#,
    );
}

#[test]
fn refuses_absolute_paths() {
    assert_refused(
        &raw_file_tarball("/tmp/evil"),
        r#"entry "/tmp/evil" escapes the destination (absolute path)"#,
    );
}

#[test]
fn refuses_escaping_symlinks() {
    assert_refused(
        &tarball(&[Item::Symlink("link", "/etc/passwd")]),
        r#"entry "link" is a symlink to "/etc/passwd", which points outside the destination"#,
    );
    assert_refused(
        &tarball(&[Item::Symlink("a/link", "../../evil")]),
        r#"entry "a/link" is a symlink to "../../evil""#,
    );
    // `x/..` is not `.` when `x` is a link: climbing out of an earlier
    // symlink is refused.
    assert_refused(
        &tarball(&[
            Item::Symlink("self", "."),
            Item::Symlink("esc", "self/../evil"),
        ]),
        r#"entry "esc" is a symlink to "self/../evil""#,
    );
}

#[test]
fn follows_a_dangling_link_through_its_target() {
    // `a` is `c/a/../..`, the destination itself: kept, as GNU tar keeps it.
    let fx = Fixture::new();
    let tar = tarball(&[Item::Symlink("b", "c/a"), Item::Symlink("a", "b/../..")]);
    fx.run(&tar, &UnpackOptions::default()).unwrap();
    assert_eq!(
        fs::read_link(fx.dest().join("a")).unwrap(),
        Path::new("b/../..")
    );
    // `a` is `c/../..`, one folder above it.
    assert_refused(
        &tarball(&[Item::Symlink("b", "c"), Item::Symlink("a", "b/../..")]),
        r#"entry "a" is a symlink to "b/../..", which leads outside the destination through the symlink "b" -> "c""#,
    );
}

#[test]
fn refuses_writing_through_symlinks() {
    // Even an in-tree symlink is never followed to write a later entry.
    assert_refused(
        &tarball(&[
            Item::Dir("d/"),
            Item::Symlink("s", "d"),
            Item::File("s/evil", b"x", 0o644),
        ]),
        r#"entry "s/evil" would be written through the symlink "s""#,
    );
}

#[test]
fn refuses_escaping_hard_links() {
    assert_refused(
        &tarball(&[Item::HardLink("h", "/etc/passwd")]),
        r#"entry "h" is a hard link to "/etc/passwd", which points outside the destination"#,
    );
    assert_refused(
        &tarball(&[Item::HardLink("h", "../evil")]),
        r#"entry "h" is a hard link to "../evil""#,
    );
    assert_refused(
        &tarball(&[
            Item::Dir("d/"),
            Item::File("d/f", b"x", 0o644),
            Item::Symlink("s", "d"),
            Item::HardLink("h", "s/f"),
        ]),
        r#"lies behind the symlink "s""#,
    );
}

#[test]
fn replaces_rather_than_follows_a_symlink() {
    let fx = Fixture::new();
    let tar = tarball(&[
        Item::File("target", b"original", 0o644),
        Item::Symlink("f", "target"),
        Item::File("f", b"new", 0o644),
    ]);
    fx.run(&tar, &UnpackOptions::default()).unwrap();
    assert_eq!(fs::read(fx.dest().join("target")).unwrap(), b"original");
    assert_eq!(fs::read(fx.dest().join("f")).unwrap(), b"new");
    assert!(!fs::symlink_metadata(fx.dest().join("f"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn long_names_and_large_files() {
    let long = format!("{}/file.txt", "d".repeat(150));
    let big: Vec<u8> = (0..(3 * CHUNK + 12345)).map(|i| (i % 251) as u8).collect();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = header(tar::EntryType::Regular, 0o644, 2);
    b.append_data(&mut h, &long, &b"hi"[..]).unwrap();
    let mut h = header(tar::EntryType::Regular, 0o644, big.len() as u64);
    b.append_data(&mut h, "big.bin", &big[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let fx = Fixture::new();
    let s = fx
        .run(&compress(&tar, Compression::Xz), &UnpackOptions::default())
        .unwrap();
    assert_eq!(fs::read(fx.dest().join(&long)).unwrap(), b"hi");
    assert_eq!(fs::read(fx.dest().join("big.bin")).unwrap(), big);
    assert_eq!(s.bytes, 2 + big.len() as u64);
}

#[test]
fn reports_truncation() {
    let tar = sample();
    for c in [
        Compression::Gzip,
        Compression::Xz,
        Compression::Bzip2,
        Compression::Zstd,
    ] {
        let mut z = compress(&tar, c);
        z.truncate(z.len() / 2);
        let fx = Fixture::new();
        let err = fx.run(&z, &UnpackOptions::default()).unwrap_err();
        assert!(matches!(err, UnpackError::Corrupt { .. }), "{c:?}: {err}");
        assert!(err.to_string().contains("corrupt or truncated"), "{err}");
    }
    let fx = Fixture::new();
    let err = fx.run(&tar[..700], &UnpackOptions::default()).unwrap_err();
    assert!(matches!(err, UnpackError::Corrupt { .. }), "{err}");
}

#[test]
fn truncation_names_the_member_even_when_skipping_it() {
    let data = vec![7u8; 5000];
    let tar = tarball(&[
        Item::File("keep", b"k", 0o644),
        Item::File("skipped.bin", &data, 0o644),
    ]);
    let opts = UnpackOptions {
        strip: 0,
        only: vec!["keep".into()],
    };
    let fx = Fixture::new();
    let err = fx.run(&tar[..3000], &opts).unwrap_err().to_string();
    assert!(err.contains(r#"entry "skipped.bin""#), "{err}");
}

#[test]
fn concatenated_xz_streams() {
    let tar = sample();
    let (a, b) = tar.split_at(1024);
    let mut z = compress(a, Compression::Xz);
    z.extend_from_slice(&compress(b, Compression::Xz));
    let fx = Fixture::new();
    fx.run(&z, &UnpackOptions::default()).unwrap();
    assert!(fx.dest().join("pkg-1.0/README.hard").exists());
}

#[test]
fn rejects_non_archives() {
    let fx = Fixture::new();
    let err = fx
        .run(&[b'x'; 2048], &UnpackOptions::default())
        .unwrap_err();
    assert!(matches!(err, UnpackError::UnknownFormat { .. }), "{err}");
}

#[test]
fn refuses_fifos_naming_them() {
    assert_refused(
        &tarball(&[Item::File("a", b"x", 0o644), Item::Fifo("pipe")]),
        r#"entry "pipe" is refused: it is a fifo"#,
    );
}

#[test]
fn refuses_a_member_continued_from_another_volume() {
    let mut b = tar::Builder::new(Vec::new());
    let h = raw_header(tar::EntryType::new(b'M'), "big.iso", "", 3);
    b.append(&h, &b"abc"[..]).unwrap();
    assert_refused(
        &b.into_inner().unwrap(),
        r#"entry "big.iso" is refused: it continues a file from the previous volume"#,
    );
}

#[test]
fn unknown_member_types_are_regular_files() {
    let mut b = tar::Builder::new(Vec::new());
    let h = raw_header(tar::EntryType::new(b'Z'), "odd", "", 3);
    b.append(&h, &b"abc"[..]).unwrap();
    let fx = Fixture::new();
    fx.run(&b.into_inner().unwrap(), &UnpackOptions::default())
        .unwrap();
    assert_eq!(fs::read(fx.dest().join("odd")).unwrap(), b"abc");
}

#[test]
fn write_errors_name_the_path() {
    let fx = Fixture::new();
    let archive = fx.archive(&sample());
    // dest is an existing regular file.
    let dest = fx.dir.path().join("plainfile");
    fs::write(&dest, b"").unwrap();
    let err = unpack(&archive, &dest, &UnpackOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("cannot write"), "{msg}");
    assert!(msg.contains("plainfile"), "{msg}");
}
