//! `serpent sbom` writes an SPDX 2.3 document of what is built, which the SPDX project's own
//! validator accepts, naming each package's version, license, sources, patches and
//! dependencies; recipes' LICENSE is checked as SPDX.

use std::path::PathBuf;

use serde_json::Value;

use crate::server::Server;
use crate::tarball::{source_tarball, Compression};
use crate::test::{sha256, Test, HOST_STAGE2};

const HEADERS: &str = r#"
    const NAME = "headers";
    const VERSION = "3";
    const LICENSE = "MIT";
    const FILES = ["libz.h"];
    fn install(ctx) {
        ctx.copy(`${ctx.srcdir}/libz.h`, `${ctx.destdir}/usr/include/libz.h`);
    }
"#;

const PATCH: &str = "--- a/README\n+++ b/README\n@@ -1 +1 @@\n-hello from the tarball\n+hello from the patched tarball\n";

/// Built from an asset the loopback server serves.
fn app(server: &Server, asset: &[u8]) -> String {
    format!(
        r##"
        const NAME = "app";
        const VERSION = "0.9";
        const LICENSE = "GPL-2.0-or-later AND LicenseRef-app-artwork";
        const SOURCES = [#{{ url: "{}/app-icons.tar.gz", sha256: "{}" }}];
        fn install(ctx) {{
            ctx.write(`${{ctx.destdir}}/usr/bin/app`, "#!/bin/sh\n");
        }}
        "##,
        server.base,
        sha256(asset)
    )
}

/// libz's tarball, put into the store (`serpent fetch --import`) under the upstream URL its
/// recipe names, a patch for it and a dependency in stage1; in stage2 a package built on them
/// from an asset fetched over HTTP.
fn project(server: &Server, tarball: &[u8], asset: &[u8]) -> Test {
    let libz = format!(
        r#"
        const NAME = "libz";
        const VERSION = "1.0";
        const DESCRIPTION = "a compression library";
        const HOMEPAGE = "https://libz.example.org/";
        const LICENSE = "Zlib";
        const SOURCES = [#{{ url: "{LIBZ_URL}", sha256: "{}" }}];
        const DEPENDS = ["headers"];
        fn install(ctx) {{
            ctx.copy(`${{ctx.srcdir}}/README`, `${{ctx.destdir}}/usr/share/libz/README`);
        }}
        "#,
        sha256(tarball)
    );
    let mut test = Test::new()
        .file("libz-1.0.tar.gz", tarball)
        .script("recipes/stage1/headers.rhai", HEADERS)
        .file("recipes/files/headers/libz.h", "int compress(void);\n")
        .script("recipes/stage1/libz.rhai", &libz)
        .file("recipes/patches/libz/fix-readme.patch", PATCH)
        .script("recipes/stage2/stage.rhai", HOST_STAGE2)
        .script("recipes/stage2/app.rhai", &app(server, asset))
        .args(["fetch", "--import", "libz-1.0.tar.gz"]);
    test.run();
    test
}

const LIBZ_URL: &str = "https://libz.example.org/releases/libz-1.0.tar.gz";

/// A build of the project, its sources from the store and the loopback server.
fn built() -> (Test, Server, Vec<u8>, Vec<u8>) {
    let tarball = source_tarball("libz-1.0", Compression::Gzip);
    let asset = source_tarball("icons", Compression::Gzip);
    let server = Server::start(vec![("/app-icons.tar.gz", asset.clone())]);
    let mut test = project(&server, &tarball, &asset)
        .args(["sbom", "--target", "x86_64"])
        .status(2)
        .stderr_contains("x86_64/stage1/libz (never built)")
        .stderr_contains("run `serpent build --target x86_64` first");
    test.run();
    test = test.args(["build", "--target", "x86_64", "--jobs", "1"]);
    test.run();
    (test, server, tarball, asset)
}

/// pyspdxtools on PATH, or where scripts/setup installs it.
fn validator() -> Option<PathBuf> {
    let venv = std::env::var_os("SERPENT_SPDX_TOOLS")
        .map(PathBuf::from)
        .or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| Some(PathBuf::from(std::env::var_os("HOME")?).join(".cache")))?;
            Some(cache.join("serpent/spdx-tools"))
        })?;
    let installed = venv.join("bin/pyspdxtools");
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("pyspdxtools"))
            .find(|candidate| candidate.is_file())
    });
    on_path.or_else(|| installed.is_file().then_some(installed))
}

/// Runs the SPDX project's validator on `file`; it must find nothing wrong. Without it (it
/// comes from scripts/setup), the test fails in CI and says so loudly elsewhere.
fn validate(file: &std::path::Path) {
    let Some(pyspdxtools) = validator() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "pyspdxtools is missing: scripts/setup installs it, and CI runs scripts/setup"
        );
        // Straight to the file descriptor: the test harness captures eprintln!.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n!!! SKIPPED: the SBOM was not validated: pyspdxtools is not installed (run scripts/setup) !!!\n"
        );
        return;
    };
    let output = std::process::Command::new(&pyspdxtools)
        .arg("-i")
        .arg(file)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "pyspdxtools rejects the SBOM:\n{said}"
    );
    assert!(!said.contains("error"), "pyspdxtools:\n{said}");
}

fn package<'a>(document: &'a Value, spdx_id: &str) -> &'a Value {
    document["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|package| package["SPDXID"] == spdx_id)
        .unwrap_or_else(|| panic!("no package {spdx_id}"))
}

/// The relationships as `A TYPE B` lines.
fn relationships(document: &Value) -> Vec<String> {
    document["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|relation| {
            format!(
                "{} {} {}",
                relation["spdxElementId"].as_str().unwrap(),
                relation["relationshipType"].as_str().unwrap(),
                relation["relatedSpdxElement"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn the_sbom_of_a_build_passes_spdx_validation_and_names_sources_patches_and_dependencies() {
    let (mut test, server, tarball, asset) = built();
    test = test.args(["sbom", "--target", "x86_64", "--output", "sbom.spdx.json"]);
    test.run();
    let file = test.root().join("sbom.spdx.json");
    validate(&file);
    let document: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(document["spdxVersion"], "SPDX-2.3");

    let libz = package(&document, "SPDXRef-Package-x86-64-stage1-libz");
    assert_eq!(libz["name"], "libz");
    assert_eq!(libz["versionInfo"], "1.0");
    assert_eq!(libz["licenseDeclared"], "Zlib");
    assert_eq!(libz["homepage"], "https://libz.example.org/");
    let source_id = format!("SPDXRef-Source-{}", &sha256(&tarball)[..16]);
    let source = package(&document, &source_id);
    assert_eq!(source["downloadLocation"], LIBZ_URL);
    assert_eq!(source["checksums"][0]["algorithm"], "SHA256");
    assert_eq!(source["checksums"][0]["checksumValue"], sha256(&tarball));
    let app = package(&document, "SPDXRef-Package-x86-64-stage2-app");
    assert_eq!(
        app["licenseDeclared"],
        "GPL-2.0-or-later AND LicenseRef-app-artwork"
    );
    // SPDX takes no IP address as a download location: the URL is kept beside it.
    let asset_id = format!("SPDXRef-Source-{}", &sha256(&asset)[..16]);
    let icons = package(&document, &asset_id);
    assert_eq!(icons["downloadLocation"], "NOASSERTION");
    let url = format!("{}/app-icons.tar.gz", server.base);
    assert!(
        icons["sourceInfo"].as_str().unwrap().contains(&url),
        "{icons}"
    );
    assert_eq!(icons["checksums"][0]["checksumValue"], sha256(&asset));

    let file = |name: &str| {
        document["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|file| file["fileName"] == name)
            .unwrap_or_else(|| panic!("no file {name}"))
    };
    let patch = file("./recipes/patches/libz/fix-readme.patch");
    assert_eq!(patch["checksums"][0]["algorithm"], "SHA1");
    assert_eq!(
        patch["checksums"][1]["checksumValue"],
        sha256(PATCH.as_bytes())
    );
    let header_id = file("./recipes/files/headers/libz.h")["SPDXID"]
        .as_str()
        .unwrap();
    let patch_id = patch["SPDXID"].as_str().unwrap();

    let relations = relationships(&document);
    for expected in [
        "SPDXRef-DOCUMENT DESCRIBES SPDXRef-Package-x86-64-stage2-app".to_string(),
        "SPDXRef-DOCUMENT DESCRIBES SPDXRef-Package-x86-64-stage1-libz".to_string(),
        format!("SPDXRef-Package-x86-64-stage1-libz GENERATED_FROM {source_id}"),
        format!("SPDXRef-Package-x86-64-stage2-app GENERATED_FROM {asset_id}"),
        format!("{patch_id} PATCH_APPLIED SPDXRef-Package-x86-64-stage1-libz"),
        format!("SPDXRef-Package-x86-64-stage1-headers GENERATED_FROM {header_id}"),
        "SPDXRef-Package-x86-64-stage1-libz DEPENDS_ON SPDXRef-Package-x86-64-stage1-headers"
            .to_string(),
        "SPDXRef-Package-x86-64-stage1-libz BUILD_DEPENDENCY_OF SPDXRef-Package-x86-64-stage2-app"
            .to_string(),
    ] {
        assert!(relations.contains(&expected), "{expected}\n{relations:#?}");
    }
    let depends_on: Vec<&String> = relations
        .iter()
        .filter(|relation| relation.contains(" DEPENDS_ON "))
        .collect();
    assert_eq!(depends_on.len(), 1, "{depends_on:#?}");
}

#[test]
fn the_sbom_of_one_stage_describes_it_and_what_it_was_built_from() {
    let (mut test, ..) = built();
    test = test.args(["sbom", "stage1", "--target", "x86_64"]);
    let document: Value = serde_json::from_str(&test.run().stdout).unwrap();
    let described: Vec<String> = relationships(&document)
        .into_iter()
        .filter(|relation| relation.starts_with("SPDXRef-DOCUMENT DESCRIBES"))
        .collect();
    assert_eq!(described.len(), 2, "{described:#?}");
    assert!(!document.to_string().contains("stage2-app"));

    // With SOURCE_DATE_EPOCH, the same build gives the same document.
    let again = || {
        let output = test
            .command(env!("CARGO_BIN_EXE_serpent"))
            .args(["sbom", "--target", "x86_64"])
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap()
    };
    let first = again();
    assert_eq!(first, again());
    let document: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(document["creationInfo"]["created"], "2023-11-14T22:13:20Z");

    // A recipe changed since the build: its record no longer describes it.
    let recipe = test.root().join("recipes/stage2/app.rhai");
    let changed = std::fs::read_to_string(&recipe)
        .unwrap()
        .replace("0.9", "1.0");
    std::fs::write(&recipe, changed).unwrap();
    test = test
        .args(["sbom", "stage2", "--target", "x86_64"])
        .status(2)
        .stderr_contains("x86_64/stage2/app (built from other inputs)")
        .stderr_contains("run `serpent build stage2 --target x86_64` first");
    test.run();
}

#[test]
fn check_warns_about_a_missing_or_invalid_license_and_still_passes() {
    let output = Test::new()
        .script("recipes/stage1/headers.rhai", HEADERS)
        .file("recipes/files/headers/libz.h", "int compress(void);\n")
        .script(
            "recipes/stage1/bad.rhai",
            r#"
            const NAME = "bad";
            const VERSION = "1";
            const LICENSE = "GPL-2.0+ AND Frobnicate";
            fn install(ctx) {}
            "#,
        )
        .script(
            "recipes/stage1/none.rhai",
            r#"
            const NAME = "none";
            const VERSION = "1";
            fn install(ctx) {}
            "#,
        )
        .args(["check"])
        .stdout_contains("checked 3 recipe(s)")
        .run();
    insta::assert_snapshot!(output.stderr_filtered());
}

#[test]
fn every_recipe_of_the_repository_declares_a_valid_license() {
    Test::new()
        .args(["check", "--root", crate::test::REPO])
        .stderr_lacks("LICENSE")
        .run();
}
