use super::server::Server;
use super::*;
use std::fs;
use std::net::TcpListener;
use std::sync::{Arc, Barrier};
use std::thread;

use sha2::{Digest, Sha256};

fn sha(data: &[u8]) -> String {
    crate::store::hex(&Sha256::digest(data))
}

/// Distinct, reasonably large content (several read chunks).
fn payload(seed: u8) -> Vec<u8> {
    (0..300_000u32)
        .map(|i| (i.wrapping_mul(31) as u8) ^ seed)
        .collect()
}

/// Names in `<root>/sha256/`, without lock files.
fn entries(root: &Path) -> Vec<String> {
    let Ok(dir) = fs::read_dir(root.join("sha256")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    names.sort();
    names
}

fn fetcher(root: &Path, mirrors: &[String], offline: bool) -> Fetcher {
    Fetcher::new(Store::new(root.to_path_buf()), mirrors.to_vec(), offline)
}

#[test]
fn fetch_verifies_then_caches() {
    let server = Server::start(Vec::new());
    let data = payload(1);
    let hash = sha(&data);
    server.put("/dist/foo-1.0.tar.gz", &data);
    let tmp = tempfile::tempdir().unwrap();
    let f = fetcher(tmp.path(), &[], false);
    let url = server.url("/dist/foo-1.0.tar.gz");

    let got = f.fetch(&url, &hash).unwrap();
    assert_eq!(got.origin, Origin::Upstream);
    assert_eq!(got.path, tmp.path().join("sha256").join(&hash));
    assert_eq!(fs::read(&got.path).unwrap(), data);
    assert_eq!(server.hits("/dist/foo-1.0.tar.gz"), 1);
    assert_eq!(entries(tmp.path()), vec![hash.clone()]);

    let again = f.fetch(&url, &hash).unwrap();
    assert_eq!(again.origin, Origin::Cache);
    assert_eq!(again.path, got.path);
    assert_eq!(server.total_hits(), 1);

    // A fresh fetcher (new process) hits the cache without a client.
    let other = fetcher(tmp.path(), &[], false);
    assert_eq!(other.fetch(&url, &hash).unwrap().origin, Origin::Cache);
    assert!(other.client.get().is_none());
    assert_eq!(server.total_hits(), 1);
}

#[test]
fn checksum_mismatch_stores_nothing() {
    let server = Server::start(Vec::new());
    server.put("/bad.tar.gz", b"not what you wanted");
    let expected = sha(b"what you wanted");
    let tmp = tempfile::tempdir().unwrap();
    let f = fetcher(tmp.path(), &[], false);
    let url = server.url("/bad.tar.gz");

    let err = f.fetch(&url, &expected).unwrap_err();
    match &err {
        FetchError::ChecksumMismatch {
            url: u,
            expected: e,
            actual,
        } => {
            assert_eq!(u, &url);
            assert_eq!(e, &expected);
            assert_eq!(actual, &sha(b"not what you wanted"));
        }
        other => panic!("unexpected error: {other}"),
    }
    let text = err.to_string();
    assert_eq!(
        text,
        format!(
            "checksum mismatch for {url}\n  expected sha256 {expected}\n  actual   sha256 {}",
            sha(b"not what you wanted")
        )
    );
    assert!(!f.store().contains(&expected));
    assert_eq!(entries(tmp.path()), Vec::<String>::new());
}

#[test]
fn truncated_body_leaves_nothing() {
    let server = Server::start(Vec::new());
    let data = payload(2);
    server.put("/t.tar.xz", &data);
    server.truncate("/t.tar.xz");
    let tmp = tempfile::tempdir().unwrap();
    let f = fetcher(tmp.path(), &[], false);
    let url = server.url("/t.tar.xz");

    let err = f.fetch(&url, &sha(&data)).unwrap_err();
    assert!(
        matches!(&err, FetchError::Download { url: u, .. } if u == &url),
        "unexpected error: {err}"
    );
    assert_eq!(entries(tmp.path()), Vec::<String>::new());
}

#[test]
fn mirror_fallback_in_order() {
    let server = Server::start(Vec::new());
    let data = payload(3);
    let hash = sha(&data);
    // Second mirror is a store copy; first mirror has nothing.
    server.put(&format!("/m2/sha256/{hash}"), &data);
    server.put("/upstream/bar-2.tar.gz", &data);
    let m1 = server.url("/m1");
    let m2 = server.url("/m2/");
    let tmp = tempfile::tempdir().unwrap();
    let f = fetcher(tmp.path(), &[m1, m2.clone()], false);

    let got = f
        .fetch(&server.url("/upstream/bar-2.tar.gz"), &hash)
        .unwrap();
    assert_eq!(got.origin, Origin::Mirror(m2));
    assert_eq!(fs::read(&got.path).unwrap(), data);
    assert_eq!(server.hits("/m1/bar-2.tar.gz"), 1);
    assert_eq!(server.hits(&format!("/m1/sha256/{hash}")), 1);
    assert_eq!(server.hits("/m2/bar-2.tar.gz"), 1);
    assert_eq!(server.hits(&format!("/m2/sha256/{hash}")), 1);
    assert_eq!(server.hits("/upstream/bar-2.tar.gz"), 0);
}

#[test]
fn bad_mirror_is_reported_then_upstream_used() {
    let server = Server::start(Vec::new());
    let data = payload(4);
    let hash = sha(&data);
    server.put("/m/baz.tgz", b"corrupted copy");
    server.put("/up/baz.tgz", &data);
    let tmp = tempfile::tempdir().unwrap();
    let f = fetcher(tmp.path(), &[server.url("/m")], false);
    let got = f.fetch(&server.url("/up/baz.tgz"), &hash).unwrap();
    assert_eq!(got.origin, Origin::Upstream);
    assert_eq!(entries(tmp.path()), vec![hash.clone()]);
}

#[test]
fn everything_failing_lists_all_attempts() {
    let server = Server::start(Vec::new());
    let hash = sha(b"wanted");
    server.put("/m/q.tar.gz", b"corrupted copy");
    let tmp = tempfile::tempdir().unwrap();
    let f = fetcher(tmp.path(), &[server.url("/m")], false);
    let url = server.url("/up/q.tar.gz");
    let err = f.fetch(&url, &hash).unwrap_err();
    let FetchError::AllFailed { url: u, attempts } = &err else {
        panic!("unexpected error: {err}");
    };
    assert_eq!(u, &url);
    let failures: Vec<(&str, &Failure)> = attempts
        .iter()
        .map(|a| (a.location.as_str(), &a.failure))
        .collect();
    let mirror_file = server.url("/m/q.tar.gz");
    let mirror_store = server.url(&format!("/m/sha256/{hash}"));
    assert_eq!(
        failures,
        vec![
            (
                mirror_file.as_str(),
                &Failure::ChecksumMismatch {
                    expected: hash.clone(),
                    actual: sha(b"corrupted copy")
                }
            ),
            (mirror_store.as_str(), &Failure::NotFound),
            (url.as_str(), &Failure::NotFound),
        ]
    );
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("cannot fetch {url}: every location failed:\n  ")),
        "{text}"
    );
    assert!(text.contains(&format!("\n  {url}: not found")), "{text}");
    assert_eq!(entries(tmp.path()), Vec::<String>::new());
}

#[test]
fn connection_refused_is_reported() {
    // Bind then drop to get a port that (very likely) refuses.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tmp = tempfile::tempdir().unwrap();
    let f = fetcher(tmp.path(), &[], false);
    let url = format!("http://127.0.0.1:{port}/x.tar.gz");
    let err = f.fetch(&url, &sha(b"x")).unwrap_err();
    assert!(
        matches!(&err, FetchError::Download { url: u, .. } if u == &url),
        "unexpected error: {err}"
    );
}

#[test]
fn file_mirror_distfiles_and_store_layouts() {
    let tmp = tempfile::tempdir().unwrap();
    let distfiles = tmp.path().join("distfiles");
    fs::create_dir_all(&distfiles).unwrap();
    let a = payload(5);
    let b = payload(6);
    fs::write(distfiles.join("a+b-1.0.tar.gz"), &a).unwrap();
    let other_store = Store::new(tmp.path().join("other-store"));
    let src = tmp.path().join("b.bin");
    fs::write(&src, &b).unwrap();
    assert_eq!(other_store.import(&src).unwrap(), sha(&b));

    let mirrors = vec![
        format!("file://{}", distfiles.display()),
        format!("file://{}/", tmp.path().join("other-store").display()),
    ];
    let root = tmp.path().join("store");
    // Upstream is unreachable on purpose: the mirrors must be enough.
    let f = fetcher(&root, &mirrors, false);
    let got = f
        .fetch("http://127.0.0.1:9/src/a%2Bb-1.0.tar.gz", &sha(&a))
        .unwrap();
    assert_eq!(got.origin, Origin::Mirror(mirrors[0].clone()));
    assert_eq!(fs::read(&got.path).unwrap(), a);
    let got = f.fetch("https://example.invalid/b.bin", &sha(&b)).unwrap();
    assert_eq!(got.origin, Origin::Mirror(mirrors[1].clone()));
    assert_eq!(fs::read(&got.path).unwrap(), b);
    assert!(f.client.get().is_none(), "no network should be touched");
}

#[test]
fn file_upstream_url() {
    let tmp = tempfile::tempdir().unwrap();
    let data = payload(7);
    let src = tmp.path().join("local.tar");
    fs::write(&src, &data).unwrap();
    let f = fetcher(&tmp.path().join("store"), &[], true);
    let got = f
        .fetch(&format!("file://{}", src.display()), &sha(&data))
        .unwrap();
    assert_eq!(got.origin, Origin::Upstream);
    assert_eq!(fs::read(&got.path).unwrap(), data);
}

#[test]
fn offline_uses_store_and_file_mirrors_only() {
    let server = Server::start(Vec::new());
    let data = payload(8);
    let hash = sha(&data);
    server.put("/up/o.tar.gz", &data);
    server.put(&format!("/m/sha256/{hash}"), &data);
    let tmp = tempfile::tempdir().unwrap();
    let mirror_dir = tmp.path().join("mirror");
    let url = server.url("/up/o.tar.gz");

    // Absent everywhere local: a clear error, and no request made.
    let mirrors = vec![server.url("/m"), format!("file://{}", mirror_dir.display())];
    let f = fetcher(&tmp.path().join("store"), &mirrors, true);
    let err = f.fetch(&url, &hash).unwrap_err();
    assert!(matches!(&err, FetchError::Offline { attempts, .. } if attempts.is_empty()));
    assert_eq!(
        err.to_string(),
        format!(
            "cannot fetch {url}: not in the source store and --offline is set\n  \
             expected sha256 {hash}\n  \
             import it with 'serpent fetch --import FILE' or drop --offline"
        )
    );
    assert_eq!(server.total_hits(), 0);
    assert!(f.client.get().is_none());

    // Present in the file mirror: used.
    fs::create_dir_all(&mirror_dir).unwrap();
    fs::write(mirror_dir.join("o.tar.gz"), &data).unwrap();
    let got = f.fetch(&url, &hash).unwrap();
    assert_eq!(got.origin, Origin::Mirror(mirrors[1].clone()));

    // Present in the store: used.
    let g = fetcher(&tmp.path().join("store"), &[], true);
    assert_eq!(g.fetch(&url, &hash).unwrap().origin, Origin::Cache);
    assert_eq!(server.total_hits(), 0);
}

#[test]
fn offline_reports_bad_local_copies() {
    let tmp = tempfile::tempdir().unwrap();
    let mirror_dir = tmp.path().join("mirror");
    fs::create_dir_all(&mirror_dir).unwrap();
    fs::write(mirror_dir.join("c.tar.gz"), b"stale").unwrap();
    let hash = sha(b"fresh");
    let f = fetcher(
        &tmp.path().join("store"),
        &[mirror_dir.display().to_string()],
        true,
    );
    let err = f.fetch("https://example.org/c.tar.gz", &hash).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("--offline is set"), "{text}");
    assert!(
        text.contains(&format!(
            "\n  {}: checksum mismatch",
            mirror_dir.join("c.tar.gz").display()
        )),
        "{text}"
    );
}

#[test]
fn concurrent_fetches_download_once() {
    let server = Server::start(Vec::new());
    let data = payload(9);
    let hash = sha(&data);
    server.put("/big.tar.gz", &data);
    server.slow("/big.tar.gz");
    let tmp = tempfile::tempdir().unwrap();
    let url = server.url("/big.tar.gz");
    let barrier = Arc::new(Barrier::new(3));

    // Separate fetchers stand in for separate processes; a shared one
    // exercises threads within a process.
    let shared = Arc::new(fetcher(tmp.path(), &[], false));
    let handles: Vec<_> = (0..3)
        .map(|i| {
            let f = if i == 0 {
                Arc::new(fetcher(tmp.path(), &[], false))
            } else {
                Arc::clone(&shared)
            };
            let (url, hash, barrier) = (url.clone(), hash.clone(), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                f.fetch(&url, &hash).unwrap()
            })
        })
        .collect();
    let results: Vec<Fetched> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(server.hits("/big.tar.gz"), 1);
    let upstream = results
        .iter()
        .filter(|r| r.origin == Origin::Upstream)
        .count();
    assert_eq!(upstream, 1);
    assert!(results.iter().all(|r| r.path == results[0].path));
    assert_eq!(fs::read(&results[0].path).unwrap(), data);
    assert_eq!(entries(tmp.path()), vec![hash]);
}

#[test]
fn rejects_bad_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let f = fetcher(tmp.path(), &[], false);
    let good = sha(b"x");
    assert!(matches!(
        f.fetch("https://x/y", "ABC"),
        Err(FetchError::InvalidHash { .. })
    ));
    let err = f.fetch("ftp://x/y.tar.gz", &good).unwrap_err();
    assert!(matches!(&err, FetchError::UnsupportedUrl { url } if url == "ftp://x/y.tar.gz"));
    assert!(err.to_string().contains("ftp://x/y.tar.gz"));
    assert!(matches!(
        f.fetch("not a url", &good),
        Err(FetchError::InvalidUrl { .. })
    ));
    let g = fetcher(tmp.path(), &["rsync://m/".to_string()], false);
    assert!(matches!(
        g.fetch("https://x/y", &good),
        Err(FetchError::UnsupportedUrl { url }) if url == "rsync://m/"
    ));
}

#[test]
fn percent_decoding() {
    assert_eq!(percent_decode("a%2Bb%20c"), b"a+b c");
    assert_eq!(percent_decode("100%"), b"100%");
    assert_eq!(percent_decode("%zz%4"), b"%zz%4");
    assert!(!is_plain_file_name(&percent_decode("..")));
    assert!(!is_plain_file_name(&percent_decode("a%2Fb")));
}

/// A stand-in for a REAPI server that answers every source with `sends`, when it is some (a
/// real CAS refuses a blob under another's hash, so no real server can be made to send another
/// file), counting what is uploaded to it.
struct StandInCache {
    sends: Option<Vec<u8>>,
    given_up: std::sync::atomic::AtomicBool,
    uploaded: Mutex<Vec<String>>,
}

impl SourceCache for StandInCache {
    fn address(&self) -> &str {
        "grpc://stand-in:1"
    }
    fn usable(&self) -> bool {
        !self.given_up.load(std::sync::atomic::Ordering::Relaxed)
    }
    fn takes_uploads(&self) -> bool {
        true
    }
    fn give_up(&self, failure: &str) -> Option<String> {
        self.given_up
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Some(failure.to_string())
    }
    fn get_source(
        &self,
        _sha256: &str,
        into: &mut crate::source_cache::Receive,
    ) -> Result<bool, String> {
        match &self.sends {
            Some(bytes) => into(bytes).map(|()| true),
            None => Ok(false),
        }
    }
    fn put_source(&self, sha256: &str, _file: &Path) -> Result<(), String> {
        self.uploaded.lock().unwrap().push(sha256.to_string());
        Ok(())
    }
}

#[test]
fn a_remote_cache_sending_another_file_is_given_up_and_upstream_used() {
    let server = Server::start(Vec::new());
    let data = payload(7);
    let hash = sha(&data);
    server.put("/dist/x.tar", &data);
    let tmp = tempfile::tempdir().unwrap();
    let f = fetcher(tmp.path(), &[], false);
    let cache = Arc::new(StandInCache {
        sends: Some(payload(8)),
        given_up: Default::default(),
        uploaded: Default::default(),
    });
    let warnings = Arc::new(Mutex::new(Vec::new()));
    let told = Arc::clone(&warnings);
    f.use_remote(
        cache.clone(),
        Arc::new(move |text: &str| told.lock().unwrap().push(text.to_string())),
    );

    let got = f.fetch(&server.url("/dist/x.tar"), &hash).unwrap();
    assert_eq!(got.origin, Origin::Upstream);
    assert_eq!(fs::read(&got.path).unwrap(), data);
    assert_eq!(entries(tmp.path()), vec![hash.clone()]);
    assert_eq!(
        *warnings.lock().unwrap(),
        vec![format!(
            "the file it sent as source {hash} has sha256 {}",
            sha(&payload(8))
        )]
    );
    // Given up, it takes no uploads either.
    assert!(cache.uploaded.lock().unwrap().is_empty());
}

#[test]
fn sources_are_uploaded_once_whether_fetched_or_found_in_the_store() {
    let server = Server::start(Vec::new());
    let data = payload(9);
    let hash = sha(&data);
    server.put("/dist/y.tar", &data);
    let tmp = tempfile::tempdir().unwrap();
    let f = fetcher(tmp.path(), &[], false);
    let stored = payload(10);
    let stored_hash = f.store().import(&{
        let path = tmp.path().join("stored.tar");
        fs::write(&path, &stored).unwrap();
        path
    });
    let cache = Arc::new(StandInCache {
        sends: None,
        given_up: Default::default(),
        uploaded: Default::default(),
    });
    f.use_remote(cache.clone(), Arc::new(|_: &str| {}));
    assert!(f.uploads());

    let url = server.url("/dist/y.tar");
    assert_eq!(f.fetch(&url, &hash).unwrap().origin, Origin::Upstream);
    assert_eq!(f.fetch(&url, &hash).unwrap().origin, Origin::Cache);
    let stored_hash = stored_hash.unwrap();
    assert_eq!(
        f.fetch(&server.url("/dist/z.tar"), &stored_hash)
            .unwrap()
            .origin,
        Origin::Cache
    );
    assert_eq!(*cache.uploaded.lock().unwrap(), vec![hash, stored_hash]);
}
