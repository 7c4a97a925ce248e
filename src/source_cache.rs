//! A shared cache of sources the fetcher looks in after the store and before mirrors and
//! upstream, and fills when it may: the remote build cache ([`crate::remote_cache`]) is one.
//! The fetcher sees only this, so fetching does not depend on how the cache is reached.

use std::path::Path;

/// What went wrong with the cache, in words for the user.
pub type Failure = String;

/// Takes the next piece of a source coming from the cache.
pub type Receive<'a> = dyn FnMut(&[u8]) -> Result<(), Failure> + 'a;

pub trait SourceCache: Send + Sync {
    /// Where the cache is, for messages: `grpc://HOST:PORT`.
    fn address(&self) -> &str;

    /// Whether it is still used in this run.
    fn usable(&self) -> bool;

    /// Whether sources found elsewhere are uploaded to it.
    fn takes_uploads(&self) -> bool;

    /// Stops using it; the warning to show, only the first time.
    fn give_up(&self, failure: &str) -> Option<String>;

    /// Hands the bytes of the source with this sha256 to `into` as they arrive; false when the
    /// cache has no entry for it. The caller still checks them: an entry is only as good as
    /// whoever wrote it.
    fn get_source(&self, sha256: &str, into: &mut Receive) -> Result<bool, Failure>;

    /// Uploads `file`, whose sha256 was checked, as the source with that hash.
    fn put_source(&self, sha256: &str, file: &Path) -> Result<(), Failure>;
}
