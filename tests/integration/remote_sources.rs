//! Sources shared through the remote cache, against a real BuildGrid on loopback (installed by
//! scripts/setup) and the loopback HTTP server as upstream: one store uploads what it fetched
//! or holds, an empty store gets them from the cache with upstream gone, an entry naming
//! another file is refused, and a cache that is down only costs a warning.

use bazel_remote_apis::build::bazel::remote::execution::v2::{
    action_cache_client::ActionCacheClient, batch_update_blobs_request,
    content_addressable_storage_client::ContentAddressableStorageClient, Action, ActionResult,
    BatchUpdateBlobsRequest, Command, Digest, OutputFile, UpdateActionResultRequest,
};
use prost::Message;

use crate::remote_cache::BuildGrid;
use crate::server::Server;
use crate::test::{sha256, Test};

/// Nothing listens on port 1 of loopback: a connection there is refused at once.
const CLOSED: &str = "127.0.0.1:1";

/// A recipe whose one source is copied, not unpacked, into share/NAME/ of the package.
fn recipe(name: &str, url: &str, data: &[u8]) -> String {
    format!(
        r#"const NAME = "{name}";
const VERSION = "1.0";
const SOURCES = [#{{ url: "{url}", sha256: "{sha}", unpack: false }}];

fn install(ctx) {{
    ctx.copy(ctx.srcdir, `${{ctx.destdir}}/share/{name}`);
}}
"#,
        sha = sha256(data)
    )
}

/// The source as it ends up in NAME's package.
fn packaged(test: &Test, name: &str) -> Vec<u8> {
    let path = test
        .work()
        .join(format!("x86_64/stage1/pkgs/{name}/share/{name}/{name}.tar"));
    std::fs::read(path).unwrap()
}

fn digest(bytes: &[u8]) -> Digest {
    Digest {
        hash: sha256(bytes),
        size_bytes: bytes.len() as i64,
    }
}

/// Writes the cache's entry for the source of `sha`, in the format docs/remote.md gives, naming
/// the blob `named`, after putting `blob` in the CAS: what a careless or hostile writer could do.
fn write_entry(cache: &str, sha: &str, named: Digest, blob: &[u8]) {
    let command = Command {
        arguments: vec!["serpent-source-v1".into(), sha.into()],
        output_paths: vec!["source".into()],
        ..Default::default()
    };
    let action = Action {
        command_digest: Some(digest(&command.encode_to_vec())),
        input_root_digest: Some(digest(&[])),
        ..Default::default()
    };
    let result = ActionResult {
        output_files: vec![OutputFile {
            path: "source".into(),
            digest: Some(named),
            ..Default::default()
        }],
        ..Default::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let uri = cache.replace("grpc://", "http://");
        let channel = tonic::transport::Endpoint::from_shared(uri)
            .unwrap()
            .connect()
            .await
            .unwrap();
        let upload = BatchUpdateBlobsRequest {
            requests: vec![batch_update_blobs_request::Request {
                digest: Some(digest(blob)),
                data: blob.to_vec(),
                ..Default::default()
            }],
            ..Default::default()
        };
        ContentAddressableStorageClient::new(channel.clone())
            .batch_update_blobs(upload)
            .await
            .unwrap();
        let update = UpdateActionResultRequest {
            action_digest: Some(digest(&action.encode_to_vec())),
            action_result: Some(result),
            ..Default::default()
        };
        ActionCacheClient::new(channel)
            .update_action_result(update)
            .await
            .unwrap();
    });
}

const A: &[u8] = b"the bytes of a.tar\n";
/// Over 1 MiB: it moves through ByteStream, not in a batch.
fn b_data() -> Vec<u8> {
    (0..200_000u32)
        .flat_map(|n| format!("{n:07}\n").into_bytes())
        .collect()
}

#[test]
fn sources_uploaded_from_one_store_are_fetched_into_an_empty_one_with_upstream_gone() {
    let scratch = tempfile::tempdir().unwrap();
    let Some(grid) = BuildGrid::start(scratch.path()) else {
        return;
    };
    let cache = grid.address();
    let b = b_data();
    let upstream = Server::start(vec![("/a.tar", A.to_vec()), ("/b.tar", b.clone())]);
    let mut test = Test::new()
        .file(
            "recipes/stage1/a.rhai",
            recipe("a", &upstream.url("/a.tar"), A),
        )
        .file(
            "recipes/stage1/b.rhai",
            recipe("b", &upstream.url("/b.tar"), &b),
        );

    // a is in the store before the cache is used; b is fetched while writing.
    test = test
        .args(["fetch", "recipes/stage1/a.rhai"])
        .stdout_contains("(from upstream)");
    test.run();
    test = test
        .args(["fetch", "--remote-cache", &cache, "--remote-cache-write"])
        .stdout_contains(format!(
            "{}  {}  (in the store)",
            sha256(A),
            upstream.url("/a.tar")
        ))
        .stdout_contains(format!(
            "{}  {}  (from upstream)",
            sha256(&b),
            upstream.url("/b.tar")
        ))
        .stderr_lacks("warning");
    test.run();
    assert_eq!((upstream.hits("/a.tar"), upstream.hits("/b.tar")), (1, 1));

    // Another machine: an empty store, and upstream out of reach.
    std::fs::remove_dir_all(test.store()).unwrap();
    test = test
        .file(
            "recipes/stage1/a.rhai",
            recipe("a", &format!("http://{CLOSED}/a.tar"), A),
        )
        .file(
            "recipes/stage1/b.rhai",
            recipe("b", &format!("http://{CLOSED}/b.tar"), &b),
        )
        .args(["build", "--target", "x86_64", "--remote-cache", &cache])
        .stdout_contains("built 2 recipe instance(s)")
        .stderr_contains(format!(
            "2 of 2 source(s) came from the remote cache {cache}"
        ))
        .stderr_lacks("warning");
    test.run();
    assert_eq!(packaged(&test, "a"), A);
    assert_eq!(packaged(&test, "b"), b);
    assert_eq!(upstream.hits("/a.tar") + upstream.hits("/b.tar"), 2);

    // `serpent fetch` says where they came from.
    std::fs::remove_dir_all(test.store()).unwrap();
    test = test
        .args(["fetch", "--remote-cache", &cache])
        .stdout_contains(format!("(from the remote cache {cache})"))
        .stdout_lacks("(from upstream)");
    test.run();
}

#[test]
fn an_entry_naming_another_file_is_refused_and_the_source_comes_from_upstream() {
    let scratch = tempfile::tempdir().unwrap();
    let Some(grid) = BuildGrid::start(scratch.path()) else {
        return;
    };
    let cache = grid.address();
    let upstream = Server::start(vec![("/a.tar", A.to_vec())]);
    let other = b"not the bytes of a.tar\n";
    write_entry(&cache, &sha256(A), digest(other), other);
    let mut test = Test::new()
        .file("recipes/stage1/a.rhai", recipe("a", &upstream.url("/a.tar"), A))
        .args(["build", "--target", "x86_64", "--remote-cache", &cache])
        .stdout_contains("built 1 recipe instance(s)")
        .stderr_contains(format!(
            "warning: remote cache {cache} is not usable (its entry for source {} names blob {}, another file); fetching sources without it",
            sha256(A),
            sha256(other)
        ));
    test.run();
    assert_eq!(upstream.hits("/a.tar"), 1);
    assert_eq!(packaged(&test, "a"), A);
    assert_eq!(
        std::fs::read(test.store().join("sha256").join(sha256(A))).unwrap(),
        A
    );
}

#[test]
fn a_cache_that_is_down_only_warns_and_the_source_comes_from_upstream() {
    let upstream = Server::start(vec![("/a.tar", A.to_vec())]);
    let cache = format!("grpc://{CLOSED}");
    let mut test = Test::new()
        .file(
            "recipes/stage1/a.rhai",
            recipe("a", &upstream.url("/a.tar"), A),
        )
        .args(["fetch", "--remote-cache", &cache, "--remote-cache-write"])
        .stdout_contains("(from upstream)")
        .stderr_contains(format!("warning: remote cache {cache} is not usable"))
        .stderr_contains("fetching sources without it");
    test.run();

    std::fs::remove_dir_all(test.store()).unwrap();
    test = test
        .args(["build", "--target", "x86_64", "--remote-cache", &cache])
        .stdout_contains("built 1 recipe instance(s)")
        .stderr_contains("fetching sources without it");
    let output = test.run();
    assert_eq!(
        output.stderr.matches("warning: remote cache").count(),
        1,
        "one warning for the sources and the packages:\n{}",
        output.stderr
    );
    assert_eq!(upstream.hits("/a.tar"), 2);
    assert_eq!(packaged(&test, "a"), A);
}

#[test]
fn a_build_that_writes_the_cache_uploads_its_sources_even_those_in_its_store() {
    let scratch = tempfile::tempdir().unwrap();
    let Some(grid) = BuildGrid::start(scratch.path()) else {
        return;
    };
    let cache = grid.address();
    let upstream = Server::start(vec![("/a.tar", A.to_vec())]);
    let mut test = Test::new()
        .file(
            "recipes/stage1/a.rhai",
            recipe("a", &upstream.url("/a.tar"), A),
        )
        .args(["fetch"]);
    test.run();
    test = test
        .args([
            "build",
            "--target",
            "x86_64",
            "--remote-cache",
            &cache,
            "--remote-cache-write",
        ])
        .stdout_contains("built 1 recipe instance(s)")
        .stderr_lacks("warning");
    test.run();
    assert_eq!(upstream.hits("/a.tar"), 1);

    std::fs::remove_dir_all(test.store()).unwrap();
    test = test
        .file(
            "recipes/stage1/a.rhai",
            recipe("a", &format!("http://{CLOSED}/a.tar"), A),
        )
        .args(["fetch", "--remote-cache", &cache])
        .stdout_contains(format!("(from the remote cache {cache})"));
    test.run();
}
