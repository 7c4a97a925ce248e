//! Downloading sources into the store, with checksum verification and
//! mirrors.
//!
//! [`Fetcher::fetch`] makes sure the file with a given SHA-256 is in the
//! [`Store`]. It looks, in order, at:
//!
//! 1. the store itself (no network at all on a hit);
//! 2. the remote cache, when one is in use ([`Fetcher::use_remote`]); one that fails or sends
//!    what does not hash right is given up for the run with one warning;
//! 3. each mirror, in the order given. A mirror is a `file:///dir` folder (a
//!    plain absolute path is accepted too) or an `http://` / `https://` base
//!    URL, and for each one two locations are tried: `<base>/<file name of
//!    the URL>` (a distfiles folder) and `<base>/sha256/<hash>` (a copy of a
//!    store);
//! 4. the upstream URL.
//!
//! When the remote cache takes uploads, every source fetched or found in the store is uploaded
//! to it, once per run.
//!
//! A missing file (404 / 410 / no such file) moves on to the next location
//! quietly; any other failure, including a download whose hash is wrong, is
//! remembered and moves on too. If nothing works, the error lists every
//! location tried.
//!
//! Downloads are streamed into a temporary file next to the store entries
//! while being hashed, and only renamed into place once the hash matches, so
//! the store never holds a partial or unverified file. The store's per-entry
//! lock is held for the whole fetch so concurrent processes download a file
//! only once.
//!
//! With `offline` set, http(s) mirrors and http(s) upstream URLs are skipped;
//! `file://` locations are still used.

use std::collections::{BTreeMap, HashSet};
use std::error::Error as StdError;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use reqwest::blocking::Client;
use reqwest::{StatusCode, Url};

use crate::source_cache::SourceCache;
use crate::store::{is_sha256_hex, Staging, Store, StoreError, CHUNK};

/// How long to wait for a TCP (and TLS) connection to be established.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long to wait for response headers, and for each read of the body.
const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// Maximum number of HTTP redirects followed.
const MAX_REDIRECTS: usize = 10;

/// Why fetching (or storing) a source failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The source store failed.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// The checksum given is not 64 lowercase hex digits.
    #[error("invalid sha256 '{sha256}': expected 64 lowercase hexadecimal digits")]
    InvalidHash { sha256: String },

    /// A URL (source or mirror) could not be parsed.
    #[error("invalid URL '{url}': {reason}")]
    InvalidUrl { url: String, reason: String },

    /// A URL (source or mirror) uses a scheme other than http, https or file.
    #[error("unsupported URL '{url}': only http://, https:// and file:// URLs are accepted")]
    UnsupportedUrl { url: String },

    /// The HTTP client could not be set up.
    #[error("cannot set up the HTTP client: {message}")]
    Client { message: String },

    /// The downloaded data does not have the expected hash (the only
    /// location tried). Nothing was stored.
    #[error(
        "checksum mismatch for {url}\n  expected sha256 {expected}\n  actual   sha256 {actual}"
    )]
    ChecksumMismatch {
        url: String,
        expected: String,
        actual: String,
    },

    /// The only location tried does not have the file (HTTP 404 / 410, or
    /// no such local file).
    #[error("cannot fetch {url}: not found")]
    NotFound { url: String },

    /// The only location tried answered with an unexpected HTTP status.
    #[error("cannot fetch {url}: server answered HTTP {status}")]
    HttpStatus { url: String, status: u16 },

    /// The only location tried failed with a network or read error
    /// (connection refused, reset, truncated body, timeout, ...).
    #[error("cannot fetch {url}: {message}")]
    Download { url: String, message: String },

    /// Offline, and the file is neither in the store nor in a `file://`
    /// mirror. `attempts` lists local locations that failed other than by
    /// not having the file (e.g. a wrong hash).
    #[error(
        "cannot fetch {url}: not in the source store and --offline is set\n  \
         expected sha256 {expected}{}{}",
        OfflineAdvice { name, stored_as },
        AttemptList(attempts)
    )]
    Offline {
        url: String,
        expected: String,
        /// The URL's file name.
        name: String,
        /// Hashes of files of that name in the store: the recipe may expect the wrong one.
        stored_as: Vec<String>,
        attempts: Vec<Attempt>,
    },

    /// A fetch for the source a recipe declares, naming where it is declared.
    #[error("{error}\n  the source is declared at {place}")]
    ForSource {
        place: String,
        error: Box<FetchError>,
    },

    /// Several locations were tried and none worked.
    #[error("cannot fetch {url}: every location failed:{}", AttemptList(attempts))]
    AllFailed { url: String, attempts: Vec<Attempt> },
}

/// One location that was tried and did not yield the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The URL or local path tried.
    pub location: String,
    pub failure: Failure,
}

/// How one location failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// HTTP 404 / 410, or no such local file.
    NotFound,
    /// Any other non-success HTTP status.
    HttpStatus(u16),
    /// The data was downloaded but had the wrong hash; it was discarded.
    ChecksumMismatch { expected: String, actual: String },
    /// A network or read error.
    Error(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::NotFound => f.write_str("not found"),
            Failure::HttpStatus(status) => write!(f, "server answered HTTP {status}"),
            Failure::ChecksumMismatch { expected, actual } => {
                write!(
                    f,
                    "checksum mismatch (expected sha256 {expected}, actual sha256 {actual})"
                )
            }
            Failure::Error(message) => f.write_str(message),
        }
    }
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.failure)
    }
}

/// What to do about a file missing offline: import it, or, when the store has a file of that
/// name with another hash, correct the recipe's hash (importing the file again would change
/// nothing).
struct OfflineAdvice<'a> {
    name: &'a str,
    stored_as: &'a [String],
}

impl fmt::Display for OfflineAdvice<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.stored_as.is_empty() {
            return f
                .write_str("\n  import it with 'serpent fetch --import FILE' or drop --offline");
        }
        write!(
            f,
            "\n  a file named {} is in the store with another hash:",
            self.name
        )?;
        for hash in self.stored_as {
            write!(f, "\n    sha256 {hash}")?;
        }
        f.write_str(
            "\n  if it is the right file, the recipe's sha256 is wrong \
             (importing it again changes nothing)",
        )
    }
}

/// Renders attempts as indented lines, each preceded by a newline.
struct AttemptList<'a>(&'a [Attempt]);

impl fmt::Display for AttemptList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for attempt in self.0 {
            write!(f, "\n  {attempt}")?;
        }
        Ok(())
    }
}

/// Where a fetched file came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// It was already in the store (possibly put there by a concurrent
    /// fetch this one waited for).
    Cache,
    /// Downloaded or copied from this mirror (the base as configured).
    Mirror(String),
    /// Pulled from the remote cache at this address.
    RemoteCache(String),
    /// Downloaded from (or copied from, for `file://`) the URL itself.
    Upstream,
}

impl Origin {
    /// Where the file came from, in words: `from upstream`, `in the store`...
    pub fn describe(&self) -> String {
        match self {
            Origin::Cache => "in the store".to_string(),
            Origin::Mirror(mirror) => format!("from {mirror}"),
            Origin::RemoteCache(address) => format!("from the remote cache {address}"),
            Origin::Upstream => "from upstream".to_string(),
        }
    }
}

/// The result of a successful fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The store entry, `<root>/sha256/<hex>`.
    pub path: PathBuf,
    pub origin: Origin,
}

/// Shows a warning to the user, the way the command at hand shows messages.
pub type Warn = Arc<dyn Fn(&str) + Send + Sync>;

/// Gets sources into a [`Store`].
pub struct Fetcher {
    store: Store,
    mirrors: Vec<String>,
    offline: bool,
    /// Built on the first network fetch; building it loads TLS roots and
    /// starts a runtime thread, which cache hits should not pay for.
    client: OnceLock<Client>,
    /// Where each hash is declared (`recipe:line:column`), for errors.
    declared: Mutex<BTreeMap<String, String>>,
    /// The shared cache looked in after the store, and how its failure is told.
    remote: OnceLock<(Arc<dyn SourceCache>, Warn)>,
    /// The sources uploaded to it (or tried) in this run.
    shared: Mutex<HashSet<String>>,
}

/// A single place a file can be read from.
#[derive(Debug, Clone)]
enum Location {
    Local(PathBuf),
    Remote(String),
}

impl Location {
    fn is_remote(&self) -> bool {
        matches!(self, Location::Remote(_))
    }

    fn describe(&self) -> String {
        match self {
            Location::Local(path) => path.display().to_string(),
            Location::Remote(url) => url.clone(),
        }
    }
}

/// Outcome of trying one location that did not produce the file.
enum TryError {
    /// Record and move on to the next location.
    Skip(Failure),
    /// Stop everything (e.g. the store itself cannot be written).
    Fatal(FetchError),
}

impl From<FetchError> for TryError {
    fn from(e: FetchError) -> TryError {
        TryError::Fatal(e)
    }
}

impl From<StoreError> for TryError {
    fn from(e: StoreError) -> TryError {
        TryError::Fatal(e.into())
    }
}

/// The upstream URL, parsed.
struct Upstream {
    location: Location,
    /// The last path segment, still percent-encoded, if there is one.
    file_name: Option<String>,
}

impl Fetcher {
    /// A fetcher filling `store`, trying `mirrors` (in order) before the
    /// upstream URL. With `offline`, only the store and `file://` locations
    /// are used.
    pub fn new(store: Store, mirrors: Vec<String>, offline: bool) -> Fetcher {
        Fetcher {
            store,
            mirrors,
            offline,
            client: OnceLock::new(),
            declared: Mutex::new(BTreeMap::new()),
            remote: OnceLock::new(),
            shared: Mutex::new(HashSet::new()),
        }
    }

    /// Looks in `cache` after the store from now on (and uploads to it when it takes uploads),
    /// telling its failure through `warn`. Only the first cache given is used.
    pub fn use_remote(&self, cache: Arc<dyn SourceCache>, warn: Warn) {
        let _ = self.remote.set((cache, warn));
    }

    /// Whether sources are uploaded to a remote cache, so even those in the store are worth
    /// fetching.
    pub fn uploads(&self) -> bool {
        self.remote
            .get()
            .is_some_and(|(cache, _)| cache.takes_uploads() && cache.usable())
    }

    /// Makes errors fetching these sources, given as (sha256, where it is declared), name where
    /// they are declared (the first place, when two recipes declare one file).
    pub fn know_sources<'a>(&self, sources: impl IntoIterator<Item = (&'a str, &'a str)>) {
        let mut declared = self.declared.lock().unwrap_or_else(|e| e.into_inner());
        for (sha256, declared_at) in sources {
            declared
                .entry(sha256.to_string())
                .or_insert_with(|| declared_at.to_string());
        }
    }

    /// The store this fetcher fills.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Ensures the file with this sha256 is in the store, getting it from the
    /// remote cache, a mirror or `url` if it is not there yet.
    pub fn fetch(&self, url: &str, sha256: &str) -> Result<Fetched, FetchError> {
        let fetched = self.fetch_anonymous(url, sha256);
        if let Ok(fetched) = &fetched {
            self.share(sha256, fetched);
        }
        fetched.map_err(|error| {
            let declared = self.declared.lock().unwrap_or_else(|e| e.into_inner());
            match declared.get(sha256) {
                Some(place) => FetchError::ForSource {
                    place: place.clone(),
                    error: Box::new(error),
                },
                None => error,
            }
        })
    }

    fn fetch_anonymous(&self, url: &str, sha256: &str) -> Result<Fetched, FetchError> {
        if !is_sha256_hex(sha256) {
            return Err(FetchError::InvalidHash {
                sha256: sha256.to_string(),
            });
        }
        let upstream = parse_upstream(url)?;
        if let Some(hit) = self.cached(sha256) {
            return Ok(hit);
        }
        let mirrors = self
            .mirrors
            .iter()
            .map(|m| Ok((m.as_str(), parse_mirror(m)?)))
            .collect::<Result<Vec<_>, FetchError>>()?;

        let _lock = self.store.lock(sha256)?;
        // Another process may have fetched it while we waited for the lock.
        if let Some(hit) = self.cached(sha256) {
            return Ok(hit);
        }

        let mut attempts = Vec::new();
        let name = upstream
            .file_name
            .as_deref()
            .map(|name| String::from_utf8_lossy(&percent_decode(name)).into_owned())
            .unwrap_or_default();
        let found = match self.try_remote(sha256, &mut attempts)? {
            Some(fetched) => Some(fetched),
            None => self.try_everywhere(&upstream, &mirrors, sha256, &mut attempts)?,
        };
        if let Some(fetched) = found {
            self.store.remember_name(&name, sha256);
            return Ok(fetched);
        }
        let skipped_network = self.offline
            && (upstream.location.is_remote() || mirrors.iter().any(|(_, m)| m.is_remote()));
        let url = url.to_string();
        if skipped_network {
            attempts.retain(|a| a.failure != Failure::NotFound);
            let stored_as = self.store.hashes_named(&name);
            return Err(FetchError::Offline {
                url,
                expected: sha256.to_string(),
                name,
                stored_as,
                attempts,
            });
        }
        Err(single_failure(url, attempts))
    }

    /// Tries each mirror, then the URL itself, skipping the network when offline.
    fn try_everywhere(
        &self,
        upstream: &Upstream,
        mirrors: &[(&str, Location)],
        sha256: &str,
        attempts: &mut Vec<Attempt>,
    ) -> Result<Option<Fetched>, FetchError> {
        for (name, base) in mirrors {
            if self.offline && base.is_remote() {
                continue;
            }
            for location in mirror_locations(base, upstream.file_name.as_deref(), sha256) {
                if let Some(path) = self.try_location(&location, sha256, attempts)? {
                    return Ok(Some(Fetched {
                        path,
                        origin: Origin::Mirror(name.to_string()),
                    }));
                }
            }
        }
        if self.offline && upstream.location.is_remote() {
            return Ok(None);
        }
        let found = self.try_location(&upstream.location, sha256, attempts)?;
        Ok(found.map(|path| Fetched {
            path,
            origin: Origin::Upstream,
        }))
    }

    /// Looks in the remote cache while it is usable. What it sends goes through the store's
    /// checked insert like any download; a cache that fails or sends another file is given up
    /// with a warning, and the fetch goes on at the mirrors and upstream.
    fn try_remote(
        &self,
        sha256: &str,
        attempts: &mut Vec<Attempt>,
    ) -> Result<Option<Fetched>, FetchError> {
        let Some((cache, warn)) = self.remote.get().filter(|(cache, _)| cache.usable()) else {
            return Ok(None);
        };
        let mut staging = self.store.begin()?;
        // The store failing to take a piece stops the fetch; the cache failing does not.
        let mut stopped = None;
        let answer = cache.get_source(sha256, &mut |piece| {
            staging.write(piece).map_err(|error| {
                let failure = error.to_string();
                stopped = Some(error);
                failure
            })
        });
        if let Some(error) = stopped {
            return Err(error.into());
        }
        let failure = match answer {
            Ok(false) => Failure::NotFound,
            Err(failure) => Failure::Error(failure),
            Ok(true) => match self.finish(staging, sha256) {
                Ok(path) => {
                    let origin = Origin::RemoteCache(cache.address().to_string());
                    return Ok(Some(Fetched { path, origin }));
                }
                Err(TryError::Fatal(error)) => return Err(error),
                Err(TryError::Skip(failure)) => failure,
            },
        };
        let why = match &failure {
            Failure::NotFound => None,
            Failure::ChecksumMismatch { expected, actual } => Some(format!(
                "the file it sent as source {expected} has sha256 {actual}"
            )),
            other => Some(other.to_string()),
        };
        if let Some(message) = why.and_then(|why| cache.give_up(&why)) {
            warn(&message);
        }
        attempts.push(Attempt {
            location: format!("remote cache {}", cache.address()),
            failure,
        });
        Ok(None)
    }

    /// Uploads a source that did not come from the remote cache to it, once per run, when it
    /// takes uploads; a failure gives the cache up.
    fn share(&self, sha256: &str, fetched: &Fetched) {
        let Some((cache, warn)) = self.remote.get() else {
            return;
        };
        if !cache.takes_uploads()
            || !cache.usable()
            || matches!(fetched.origin, Origin::RemoteCache(_))
            || !self.shared.lock().unwrap().insert(sha256.to_string())
        {
            return;
        }
        if let Err(failure) = cache.put_source(sha256, &fetched.path) {
            if let Some(message) = cache.give_up(&failure) {
                warn(&message);
            }
        }
    }

    fn cached(&self, sha256: &str) -> Option<Fetched> {
        self.store.contains(sha256).then(|| Fetched {
            path: self.store.path_of(sha256),
            origin: Origin::Cache,
        })
    }

    /// Tries one location: `Some(path)` if the file is now in the store,
    /// `None` (with the failure recorded) to move on.
    fn try_location(
        &self,
        location: &Location,
        sha256: &str,
        attempts: &mut Vec<Attempt>,
    ) -> Result<Option<PathBuf>, FetchError> {
        let result = match location {
            Location::Local(path) => self.copy_local(path, sha256),
            Location::Remote(url) => self.download(url, sha256),
        };
        match result {
            Ok(path) => Ok(Some(path)),
            Err(TryError::Skip(failure)) => {
                attempts.push(Attempt {
                    location: location.describe(),
                    failure,
                });
                Ok(None)
            }
            Err(TryError::Fatal(e)) => Err(e),
        }
    }

    fn client(&self) -> Result<&Client, FetchError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let builder = Client::builder()
            .user_agent(concat!("serpent/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(IO_TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS));
        // Tests talk to a server on 127.0.0.1; keep a proxy set in the
        // environment out of the way.
        #[cfg(test)]
        let builder = builder.no_proxy();
        let client = builder.build().map_err(|e| FetchError::Client {
            message: error_chain(&e),
        })?;
        // If another thread won the race, its client is used and ours dropped.
        let _ = self.client.set(client);
        Ok(self.client.get().expect("client was just set"))
    }

    fn download(&self, url: &str, sha256: &str) -> Result<PathBuf, TryError> {
        let mut response = self
            .client()?
            .get(url)
            .send()
            .map_err(|e| TryError::Skip(Failure::Error(error_chain(&e.without_url()))))?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
            return Err(TryError::Skip(Failure::NotFound));
        }
        if !status.is_success() {
            return Err(TryError::Skip(Failure::HttpStatus(status.as_u16())));
        }
        let expected_len = response.content_length();
        let staging = self.receive(&mut response, expected_len)?;
        self.finish(staging, sha256)
    }

    fn copy_local(&self, path: &Path, sha256: &str) -> Result<PathBuf, TryError> {
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(TryError::Skip(Failure::NotFound));
            }
            Err(e) => return Err(TryError::Skip(Failure::Error(e.to_string()))),
        };
        let staging = self.receive(&mut file, None)?;
        self.finish(staging, sha256)
    }

    /// Streams `reader` into a new staging file, hashing as it goes. Read
    /// errors are per-location failures; write errors are fatal. On any
    /// error the staging file is dropped, which deletes it.
    fn receive(
        &self,
        reader: &mut dyn Read,
        expected_len: Option<u64>,
    ) -> Result<Staging, TryError> {
        let mut staging = self.store.begin()?;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(TryError::Skip(Failure::Error(error_chain(&e)))),
            };
            staging.write(&buf[..n])?;
        }
        if let Some(expected) = expected_len {
            if staging.len() != expected {
                return Err(TryError::Skip(Failure::Error(format!(
                    "incomplete download: received {} of {expected} bytes",
                    staging.len()
                ))));
            }
        }
        Ok(staging)
    }

    /// Verifies the staged data and moves it into the store.
    fn finish(&self, staging: Staging, sha256: &str) -> Result<PathBuf, TryError> {
        let actual = staging.sha256();
        if actual != sha256 {
            return Err(TryError::Skip(Failure::ChecksumMismatch {
                expected: sha256.to_string(),
                actual,
            }));
        }
        Ok(self.store.commit(staging, sha256)?)
    }
}

/// The error for a fetch that failed everywhere it was tried: that one failure when there was
/// one place, else the list.
fn single_failure(url: String, mut attempts: Vec<Attempt>) -> FetchError {
    if attempts.len() != 1 {
        return FetchError::AllFailed { url, attempts };
    }
    let Attempt { location, failure } = attempts.remove(0);
    match failure {
        Failure::NotFound => FetchError::NotFound { url: location },
        Failure::HttpStatus(status) => FetchError::HttpStatus {
            url: location,
            status,
        },
        Failure::ChecksumMismatch { expected, actual } => FetchError::ChecksumMismatch {
            url: location,
            expected,
            actual,
        },
        Failure::Error(message) => FetchError::Download {
            url: location,
            message,
        },
    }
}

/// Parses the upstream URL of a source.
fn parse_upstream(url: &str) -> Result<Upstream, FetchError> {
    let parsed = Url::parse(url).map_err(|e| FetchError::InvalidUrl {
        url: url.to_string(),
        reason: e.to_string(),
    })?;
    let file_name = parsed
        .path_segments()
        .and_then(|mut segments| segments.next_back())
        .filter(|name| !name.is_empty())
        .map(str::to_string);
    let location = url_location(url, &parsed)?;
    Ok(Upstream {
        location,
        file_name,
    })
}

/// Parses a mirror: an http(s) base URL, a `file://` folder, or an absolute
/// path to a folder.
fn parse_mirror(mirror: &str) -> Result<Location, FetchError> {
    if mirror.starts_with('/') {
        return Ok(Location::Local(PathBuf::from(mirror)));
    }
    let parsed = Url::parse(mirror).map_err(|e| FetchError::InvalidUrl {
        url: mirror.to_string(),
        reason: e.to_string(),
    })?;
    match url_location(mirror, &parsed)? {
        Location::Remote(_) => Ok(Location::Remote(mirror.trim_end_matches('/').to_string())),
        local => Ok(local),
    }
}

fn url_location(raw: &str, parsed: &Url) -> Result<Location, FetchError> {
    match parsed.scheme() {
        "http" | "https" => Ok(Location::Remote(raw.to_string())),
        "file" => parsed
            .to_file_path()
            .map(Location::Local)
            .map_err(|()| FetchError::InvalidUrl {
                url: raw.to_string(),
                reason: "not a local absolute path".to_string(),
            }),
        _ => Err(FetchError::UnsupportedUrl {
            url: raw.to_string(),
        }),
    }
}

/// The two places to look for a file in a mirror: `<base>/<file name>` (if
/// the URL has a usable file name) and `<base>/sha256/<hash>`.
fn mirror_locations(base: &Location, file_name: Option<&str>, sha256: &str) -> Vec<Location> {
    let mut out = Vec::with_capacity(2);
    match base {
        Location::Remote(base) => {
            if let Some(name) = file_name {
                out.push(Location::Remote(format!("{base}/{name}")));
            }
            out.push(Location::Remote(format!("{base}/sha256/{sha256}")));
        }
        Location::Local(dir) => {
            let decoded = file_name.map(percent_decode);
            if let Some(name) = decoded.filter(|n| is_plain_file_name(n)) {
                out.push(Location::Local(
                    dir.join(std::ffi::OsStr::from_bytes(&name)),
                ));
            }
            out.push(Location::Local(dir.join("sha256").join(sha256)));
        }
    }
    out
}

/// A decoded file name that cannot escape its folder.
fn is_plain_file_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.contains(&b'/') && !name.contains(&0)
}

/// Decodes `%XX` escapes; malformed escapes are kept literally.
fn percent_decode(s: &str) -> Vec<u8> {
    fn hex_value(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// An error and its sources, joined with ": ", skipping a source whose text
/// is already part of what came before.
fn error_chain(error: &dyn StdError) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !text.is_empty() && !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = e.source();
    }
    message
}

#[cfg(test)]
#[path = "../tests/integration/server.rs"]
mod server;

#[cfg(test)]
#[path = "fetch_tests.rs"]
mod tests;
