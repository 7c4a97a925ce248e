//! The python_module build style: a pure-Python sdist installed without pip into the root's
//! site-packages, byte-compiled there, and checked by importing it. Run on the host (stage1),
//! with the host's python3, the way stage3 runs it with its own.

use std::path::{Path, PathBuf};

use crate::server::Server;
use crate::tarball::{tarball, Compression, Entry};
use crate::test::{sha256, Test};

const RECIPE: &str = "recipes/stage1/demo.rhai";

/// An sdist of the package `demo` whose PKG-INFO gives `version`.
fn sdist(version: &str) -> Vec<u8> {
    let pkg_info = format!("Metadata-Version: 2.1\nName: demo\nVersion: {version}\n");
    tarball(
        &[
            Entry::File("demo-1.0/PKG-INFO", pkg_info.as_bytes()),
            Entry::File(
                "demo-1.0/src/demo/__init__.py",
                b"def greet():\n    return 'hello from demo'\n",
            ),
            Entry::File("demo-1.0/src/demo/parts/words.py", b"WORDS = ['a', 'b']\n"),
            Entry::File("demo-1.0/tests/test_demo.py", b"import demo\n"),
        ],
        Compression::Gzip,
    )
}

/// A project whose one recipe builds `demo` 1.0 with the style from the sdist `server` serves.
fn project(server: &Server, archive: &[u8]) -> Test {
    let recipe = format!(
        r#"const NAME = "demo";
const VERSION = "1.0";
const SOURCES = [#{{ url: "{}", sha256: "{}" }}];
const STYLE = "python_module";
"#,
        server.url("/demo-1.0.tar.gz"),
        sha256(archive)
    );
    Test::new()
        .file(RECIPE, recipe)
        .args(["run", RECIPE, "--target", "x86_64"])
}

/// The host python's site-packages, which the style asks python3 for.
fn site_packages() -> PathBuf {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('purelib'))",
        ])
        .output()
        .unwrap();
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

fn in_root(test: &Test, path: &Path) -> PathBuf {
    test.work()
        .join("x86_64/stage1/sysroot")
        .join(path.strip_prefix("/").unwrap())
}

#[test]
fn a_pure_python_sdist_is_installed_byte_compiled_with_its_metadata() {
    let archive = sdist("1.0");
    let server = Server::start(vec![("/demo-1.0.tar.gz", archive.clone())]);
    let mut test = project(&server, &archive).stderr_contains("x86_64/stage1/demo: built");
    test.run();
    let site = site_packages();
    let installed = in_root(&test, &site);
    assert!(installed.join("demo/parts/words.py").is_file());
    assert!(
        !installed.join("tests").exists(),
        "only the package folder is installed"
    );
    let metadata = std::fs::read_to_string(installed.join("demo-1.0.dist-info/METADATA")).unwrap();
    assert!(metadata.contains("Version: 1.0"), "{metadata}");
    // The byte code names the file where it lies in the root, not in the work dir.
    let cache = installed.join("demo/__pycache__");
    let compiled = std::fs::read_dir(&cache)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.to_string_lossy().ends_with(".pyc"))
        .expect("a .pyc for __init__.py");
    let bytes = std::fs::read(&compiled).unwrap();
    let source = site.join("demo/__init__.py");
    let named = |path: &Path| {
        let text = path.to_string_lossy().into_owned().into_bytes();
        bytes.windows(text.len()).any(|window| window == text)
    };
    assert!(
        named(&source),
        "{} does not name {}",
        compiled.display(),
        source.display()
    );
    assert!(
        !named(&test.work()),
        "{} names the work dir",
        compiled.display()
    );
    // What is installed imports and runs.
    let run = std::process::Command::new("python3")
        .args(["-c", "import demo, demo.parts.words; print(demo.greet())"])
        .env("PYTHONPATH", &installed)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&run.stdout).trim(),
        "hello from demo"
    );
}

#[test]
fn an_sdist_whose_metadata_names_another_version_fails_its_check() {
    let archive = sdist("2.0");
    let server = Server::start(vec![("/demo-1.0.tar.gz", archive.clone())]);
    let mut test = project(&server, &archive)
        .status(1)
        .stderr_contains("phase check comes from STYLE \"python_module\"")
        .stderr_contains("its metadata says version 2.0, not 1.0");
    test.run();
    assert!(!test.work().join("x86_64/stage1/records/demo.json").exists());
}
