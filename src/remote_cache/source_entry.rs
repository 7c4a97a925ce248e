//! Sources in the remote cache, so a team mirrors its sources once. The CAS names a blob by its
//! sha256 and size, and a recipe knows only the sha256; so each source gets an Action Cache
//! entry of its own: an Action whose Command holds `serpent-source-v1` and the sha256 (input
//! root empty), whose result has one output file, `source`, naming the blob. Only the Action
//! Cache, the CAS and ByteStream are used, which every REAPI server serves (the Remote Asset API
//! is not everywhere: BuildGrid 0.4 has none).

use std::path::Path;

use bazel_remote_apis::build::bazel::remote::execution::v2::{ActionResult, Digest};
use prost::Message;

use super::package_tree::digest_of;
use super::{entry_action, output_file, Failure, RemoteCache};
use crate::source_cache::{Receive, SourceCache};

/// Changed when what serpent puts in a source's entry changes.
const FORMAT: &str = "serpent-source-v1";
/// The output file naming the source's blob.
const SOURCE: &str = "source";

impl RemoteCache {
    /// Hands the blob the cache's entry for `sha256` names to `into`; false without an entry.
    /// Checked here only for naming that hash and having the size it names: the caller hashes
    /// it on its way into the store.
    fn pull_source(&self, sha256: &str, into: &mut Receive) -> Result<bool, Failure> {
        let (action, _) = entry_action(FORMAT, sha256, SOURCE);
        let Some(result) = self
            .server
            .action_result(&digest_of(&action.encode_to_vec()))?
        else {
            return Ok(false);
        };
        let digest = result
            .output_files
            .iter()
            .find(|file| file.path == SOURCE)
            .and_then(|file| file.digest.clone())
            .ok_or_else(|| format!("its entry for source {sha256} names no file"))?;
        if digest.hash != sha256 {
            return Err(format!(
                "its entry for source {sha256} names blob {}, another file",
                digest.hash
            ));
        }
        let size = digest.size_bytes;
        let mut received = 0;
        let too_many = |received| {
            format!("the CAS sent {received} bytes or more for source {sha256}, whose entry says {size}")
        };
        self.server.read_blob(&digest, &mut |chunk| {
            received += chunk.len() as i64;
            if received > size {
                return Err(too_many(received));
            }
            into(chunk)
        })?;
        if received != size {
            return Err(format!(
                "the CAS sent {received} bytes for source {sha256}, whose entry says {size}"
            ));
        }
        Ok(true)
    }

    /// Uploads the store's file of `sha256`: the blob when `FindMissingBlobs` says the CAS
    /// lacks it, then the entry naming it, so the cache never names a blob it does not hold.
    fn push_source(&self, sha256: &str, file: &Path) -> Result<(), Failure> {
        let size = std::fs::metadata(file)
            .map_err(|error| format!("cannot read {}: {error}", file.display()))?
            .len();
        let blob = Digest {
            hash: sha256.to_string(),
            size_bytes: size as i64,
        };
        let (action, command) = entry_action(FORMAT, sha256, SOURCE);
        let messages = [action.encode_to_vec(), command.encode_to_vec()];
        let action_digest = digest_of(&messages[0]);
        let mut all: Vec<Digest> = messages.iter().map(|bytes| digest_of(bytes)).collect();
        all.push(blob.clone());
        let missing = self.server.find_missing(&all)?;
        let (blobs, messages_missing): (Vec<Digest>, Vec<Digest>) =
            missing.into_iter().partition(|digest| *digest == blob);
        self.server.upload(&messages_missing, &|digest| {
            messages
                .iter()
                .find(|bytes| digest_of(bytes) == *digest)
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "FindMissingBlobs named blob {}, which was not asked about",
                        digest.hash
                    )
                })
        })?;
        if !blobs.is_empty() {
            self.server.upload_file(&blob, file)?;
        }
        let result = ActionResult {
            output_files: vec![output_file(SOURCE, blob, None)],
            exit_code: 0,
            ..Default::default()
        };
        self.server.update_action_result(&action_digest, result)
    }
}

impl SourceCache for RemoteCache {
    fn address(&self) -> &str {
        &self.address
    }

    fn usable(&self) -> bool {
        RemoteCache::usable(self)
    }

    fn takes_uploads(&self) -> bool {
        self.write
    }

    fn give_up(&self, failure: &str) -> Option<String> {
        self.give_up_for(failure, "fetching sources without it")
    }

    fn get_source(&self, sha256: &str, into: &mut Receive) -> Result<bool, Failure> {
        self.pull_source(sha256, into)
    }

    fn put_source(&self, sha256: &str, file: &Path) -> Result<(), Failure> {
        self.push_source(sha256, file)
    }
}
