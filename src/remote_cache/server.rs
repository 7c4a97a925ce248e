//! The calls serpent makes to a Remote Execution API v2 server: the Action Cache, the CAS,
//! ByteStream and Execution, each blocking on a small runtime of its own so the builder stays synchronous.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use bazel_remote_apis::build::bazel::remote::execution::v2::{
    action_cache_client::ActionCacheClient, batch_update_blobs_request,
    content_addressable_storage_client::ContentAddressableStorageClient,
    execution_client::ExecutionClient, ActionResult, BatchReadBlobsRequest,
    BatchUpdateBlobsRequest, Digest, ExecuteRequest, ExecuteResponse, FindMissingBlobsRequest,
    GetActionResultRequest, UpdateActionResultRequest,
};
use bazel_remote_apis::google::bytestream::{
    byte_stream_client::ByteStreamClient, ReadRequest, WriteRequest,
};
use bazel_remote_apis::google::longrunning::operation;
use prost::Message;
use tonic::transport::{Channel, Endpoint};

/// Blobs up to this size go in batches; larger ones through ByteStream, in chunks of it.
const BATCH_BLOB: i64 = 1 << 20;
/// The most bytes one batch request carries, well under gRPC's usual 4 MiB message limit.
const BATCH_TOTAL: i64 = 2 << 20;
/// How many digests one FindMissingBlobs request names.
const FIND_MISSING_CHUNK: usize = 1000;

/// One REAPI server and the instance name serpent uses on it.
pub struct Server {
    runtime: tokio::runtime::Runtime,
    channel: Channel,
    /// For executions, which take as long as the build they run.
    unbounded: Channel,
    instance: String,
    lookup: Duration,
}

/// What went wrong talking to the server, in words for the user.
pub type Failure = String;

/// Takes a downloaded blob as it arrives.
pub type Arrived<'a> = dyn FnMut(&Digest, Vec<u8>) -> Result<(), Failure> + 'a;

impl Server {
    /// A server at `uri` (`http://host:port`); nothing is sent until the first call. Connecting
    /// gives up after `connect`, a lookup in the Action Cache after `lookup` and any other call
    /// after `call`, so a server that is down or stuck costs seconds, not the build.
    pub fn new(
        uri: &str,
        instance: &str,
        connect: Duration,
        (lookup, call): (Duration, Duration),
    ) -> Result<Server, Failure> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("serpent-remote-cache")
            .enable_all()
            .build()
            .map_err(|error| format!("cannot start the gRPC runtime: {error}"))?;
        let endpoint = Endpoint::from_shared(uri.to_string())
            .map_err(|error| format!("bad address {uri}: {error}"))?
            .connect_timeout(connect);
        let (channel, unbounded) = {
            let _inside = runtime.enter();
            (
                endpoint.clone().timeout(call).connect_lazy(),
                endpoint.connect_lazy(),
            )
        };
        Ok(Server {
            runtime,
            channel,
            unbounded,
            instance: instance.to_string(),
            lookup,
        })
    }

    /// The Action Cache's result for `action`, or None when it has none.
    pub fn action_result(&self, action: &Digest) -> Result<Option<ActionResult>, Failure> {
        let request = GetActionResultRequest {
            instance_name: self.instance.clone(),
            action_digest: Some(action.clone()),
            ..Default::default()
        };
        let mut client = ActionCacheClient::new(self.channel.clone());
        // Bounded here as a whole: a server that takes the connection and then says nothing
        // must not hold the build up.
        let answer = self.runtime.block_on(async {
            tokio::time::timeout(self.lookup, client.get_action_result(request)).await
        });
        match answer {
            Err(_) => Err(format!(
                "GetActionResult: no answer in {} s",
                self.lookup.as_secs()
            )),
            Ok(Ok(response)) => Ok(Some(response.into_inner())),
            Ok(Err(status)) if status.code() == tonic::Code::NotFound => Ok(None),
            Ok(Err(status)) => Err(said("GetActionResult", &status)),
        }
    }

    /// Stores `result` as the Action Cache's answer for `action`.
    pub fn update_action_result(
        &self,
        action: &Digest,
        result: ActionResult,
    ) -> Result<(), Failure> {
        let request = UpdateActionResultRequest {
            instance_name: self.instance.clone(),
            action_digest: Some(action.clone()),
            action_result: Some(result),
            ..Default::default()
        };
        let mut client = ActionCacheClient::new(self.channel.clone());
        self.runtime
            .block_on(client.update_action_result(request))
            .map(drop)
            .map_err(|status| said("UpdateActionResult", &status))
    }

    /// Runs `action` on the server's execution service and waits for its outcome, however
    /// long the build takes.
    pub fn execute(&self, action: &Digest) -> Result<ExecuteResponse, Failure> {
        let request = ExecuteRequest {
            instance_name: self.instance.clone(),
            action_digest: Some(action.clone()),
            skip_cache_lookup: true,
            ..Default::default()
        };
        let mut client = ExecutionClient::new(self.unbounded.clone());
        self.runtime.block_on(async {
            let mut operations = match client.execute(request).await {
                Ok(operations) => operations.into_inner(),
                // What Buildbarn answers when no worker has the action's platform.
                Err(status) if status.code() == tonic::Code::FailedPrecondition => {
                    return Ok(ExecuteResponse {
                        status: Some(bazel_remote_apis::google::rpc::Status {
                            code: tonic::Code::FailedPrecondition as i32,
                            message: status.message().to_string(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    })
                }
                Err(status) => return Err(said("Execute", &status)),
            };
            while let Some(operation) = operations
                .message()
                .await
                .map_err(|status| said("Execute", &status))?
            {
                match operation.result {
                    Some(operation::Result::Response(any)) if operation.done => {
                        return ExecuteResponse::decode(any.value.as_slice()).map_err(|error| {
                            format!("Execute: its response does not decode: {error}")
                        });
                    }
                    Some(operation::Result::Error(status)) => {
                        return Err(format!("Execute: {}", status.message));
                    }
                    _ => {}
                }
            }
            Err("Execute: the server ended the call before the action finished".into())
        })
    }

    /// Which of `digests` the CAS lacks.
    pub fn find_missing(&self, digests: &[Digest]) -> Result<Vec<Digest>, Failure> {
        let mut client = ContentAddressableStorageClient::new(self.channel.clone());
        let mut missing = Vec::new();
        for chunk in digests.chunks(FIND_MISSING_CHUNK) {
            let request = FindMissingBlobsRequest {
                instance_name: self.instance.clone(),
                blob_digests: chunk.to_vec(),
                ..Default::default()
            };
            let response = self
                .runtime
                .block_on(client.find_missing_blobs(request))
                .map_err(|status| said("FindMissingBlobs", &status))?;
            missing.extend(response.into_inner().missing_blob_digests);
        }
        Ok(missing)
    }

    /// Uploads blobs, asking `read` for each one's bytes when its turn comes: small ones in
    /// batches, large ones through ByteStream.
    pub fn upload(
        &self,
        digests: &[Digest],
        read: &dyn Fn(&Digest) -> Result<Vec<u8>, Failure>,
    ) -> Result<(), Failure> {
        // The empty blob is always there, by the API's rules.
        let (large, small): (Vec<&Digest>, Vec<&Digest>) = digests
            .iter()
            .filter(|digest| digest.size_bytes > 0)
            .partition(|digest| digest.size_bytes > BATCH_BLOB);
        for batch in batches(&small) {
            let mut requests = Vec::with_capacity(batch.len());
            for digest in batch {
                requests.push(batch_update_blobs_request::Request {
                    digest: Some((*digest).clone()),
                    data: read(digest)?,
                    ..Default::default()
                });
            }
            self.update_batch(requests)?;
        }
        for digest in large {
            self.write_stream(digest, Box::new(std::io::Cursor::new(read(digest)?)))?;
        }
        Ok(())
    }

    fn update_batch(
        &self,
        requests: Vec<batch_update_blobs_request::Request>,
    ) -> Result<(), Failure> {
        let request = BatchUpdateBlobsRequest {
            instance_name: self.instance.clone(),
            requests,
            ..Default::default()
        };
        let mut client = ContentAddressableStorageClient::new(self.channel.clone());
        let response = self
            .runtime
            .block_on(client.batch_update_blobs(request))
            .map_err(|status| said("BatchUpdateBlobs", &status))?;
        for answer in response.into_inner().responses {
            if let Some(status) = answer.status.filter(|status| status.code != 0) {
                return Err(format!(
                    "BatchUpdateBlobs refused {}: {}",
                    answer.digest.map(|digest| digest.hash).unwrap_or_default(),
                    status.message
                ));
            }
        }
        Ok(())
    }

    /// Uploads one blob from a file: in a batch when it is small, else through ByteStream a
    /// chunk at a time, so a large source is never held whole.
    pub fn upload_file(&self, digest: &Digest, path: &Path) -> Result<(), Failure> {
        let cannot = |error: std::io::Error| format!("cannot read {}: {error}", path.display());
        if digest.size_bytes <= BATCH_BLOB {
            return self.upload(std::slice::from_ref(digest), &|_| {
                std::fs::read(path).map_err(cannot)
            });
        }
        let file = std::fs::File::open(path).map_err(cannot)?;
        self.write_stream(digest, Box::new(file))
    }

    /// Writes `digest.size_bytes` bytes of `source` through ByteStream, each chunk read as the
    /// call takes it.
    fn write_stream(
        &self,
        digest: &Digest,
        mut source: Box<dyn Read + Send>,
    ) -> Result<(), Failure> {
        // ByteStream wants a name no other upload uses at the same time; the time and the
        // thread make one.
        let upload = crate::digest::sha256(
            format!(
                "{:?}{:?}",
                std::time::SystemTime::now(),
                std::thread::current().id()
            )
            .as_bytes(),
        );
        let resource = self.resource(&format!(
            "uploads/{upload}/blobs/{}/{}",
            digest.hash, digest.size_bytes
        ));
        let size = usize::try_from(digest.size_bytes).unwrap_or(0);
        let chunk = BATCH_BLOB as usize;
        let count = size.div_ceil(chunk).max(1);
        let failed = std::sync::Arc::new(std::sync::Mutex::new(None::<Failure>));
        let failure = failed.clone();
        let hash = digest.hash.clone();
        let requests = (0..count).map_while(move |index| {
            let mut data = vec![0; chunk.min(size - index * chunk)];
            if let Err(error) = source.read_exact(&mut data) {
                *failure.lock().unwrap() =
                    Some(format!("cannot read the bytes of blob {hash}: {error}"));
                return None;
            }
            Some(WriteRequest {
                resource_name: if index == 0 {
                    resource.clone()
                } else {
                    String::new()
                },
                write_offset: (index * chunk) as i64,
                finish_write: index + 1 == count,
                data,
            })
        });
        let mut client = ByteStreamClient::new(self.channel.clone());
        let answer = self
            .runtime
            .block_on(client.write(tonic::codegen::tokio_stream::iter(requests)));
        if let Some(failure) = failed.lock().unwrap().take() {
            return Err(failure);
        }
        answer
            .map(drop)
            .map_err(|status| said("ByteStream.Write", &status))
    }

    /// Downloads blobs, each by the way its size calls for, handing each to `each` as it
    /// arrives, so no more than a batch or one large blob is held at a time.
    pub fn download(&self, digests: &[Digest], each: &mut Arrived) -> Result<(), Failure> {
        let (empty, digests): (Vec<&Digest>, Vec<&Digest>) =
            digests.iter().partition(|digest| digest.size_bytes == 0);
        for digest in empty {
            each(digest, Vec::new())?;
        }
        let (large, small): (Vec<&Digest>, Vec<&Digest>) = digests
            .into_iter()
            .partition(|digest| digest.size_bytes > BATCH_BLOB);
        let mut client = ContentAddressableStorageClient::new(self.channel.clone());
        for batch in batches(&small) {
            let request = BatchReadBlobsRequest {
                instance_name: self.instance.clone(),
                digests: batch.iter().map(|digest| (*digest).clone()).collect(),
                ..Default::default()
            };
            let response = self
                .runtime
                .block_on(client.batch_read_blobs(request))
                .map_err(|status| said("BatchReadBlobs", &status))?;
            for answer in response.into_inner().responses {
                let digest = answer.digest.unwrap_or_default();
                if let Some(status) = answer.status.filter(|status| status.code != 0) {
                    return Err(format!(
                        "the CAS has no blob {}: {}",
                        digest.hash, status.message
                    ));
                }
                each(&digest, answer.data)?;
            }
        }
        for digest in large {
            // The size is the server's word: reserve no more than a batch on it.
            let reserve = usize::try_from(digest.size_bytes.min(BATCH_TOTAL)).unwrap_or(0);
            let mut data = Vec::with_capacity(reserve);
            self.read_stream(digest, &mut |chunk| {
                data.extend_from_slice(chunk);
                Ok(())
            })?;
            each(digest, data)?;
        }
        Ok(())
    }

    /// Downloads one blob, handing it to `each` as it arrives: whole when it is small, else a
    /// ByteStream chunk at a time, so a large source is never held whole.
    pub fn read_blob(
        &self,
        digest: &Digest,
        each: &mut dyn FnMut(&[u8]) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        if digest.size_bytes > BATCH_BLOB {
            return self.read_stream(digest, each);
        }
        self.download(std::slice::from_ref(digest), &mut |arrived, data| {
            if arrived != digest {
                return Err(format!(
                    "the CAS sent blob {} when asked for {}",
                    arrived.hash, digest.hash
                ));
            }
            each(&data)
        })
    }

    fn read_stream(
        &self,
        digest: &Digest,
        each: &mut dyn FnMut(&[u8]) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        let request = ReadRequest {
            resource_name: self.resource(&format!("blobs/{}/{}", digest.hash, digest.size_bytes)),
            read_offset: 0,
            read_limit: 0,
        };
        let mut client = ByteStreamClient::new(self.channel.clone());
        self.runtime.block_on(async {
            let mut stream = client
                .read(request)
                .await
                .map_err(|status| said("ByteStream.Read", &status))?
                .into_inner();
            while let Some(message) = stream
                .message()
                .await
                .map_err(|status| said("ByteStream.Read", &status))?
            {
                each(&message.data)?;
            }
            Ok(())
        })
    }

    /// A ByteStream resource name under this server's instance.
    fn resource(&self, rest: &str) -> String {
        if self.instance.is_empty() {
            rest.to_string()
        } else {
            format!("{}/{rest}", self.instance)
        }
    }
}

/// Digests grouped so no group carries more than `BATCH_TOTAL` bytes.
fn batches<'a>(digests: &[&'a Digest]) -> Vec<Vec<&'a Digest>> {
    let mut groups: Vec<Vec<&Digest>> = Vec::new();
    let mut bytes = 0;
    for digest in digests {
        if groups.is_empty() || bytes + digest.size_bytes > BATCH_TOTAL {
            groups.push(Vec::new());
            bytes = 0;
        }
        bytes += digest.size_bytes;
        groups
            .last_mut()
            .expect("a group was just added")
            .push(digest);
    }
    groups
}

/// A gRPC status in words: what was called, what the server said, and the innermost cause
/// (a refused connection, a timeout) when the connection failed.
fn said(call: &str, status: &tonic::Status) -> Failure {
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(status);
    while let Some(deeper) = cause.and_then(std::error::Error::source) {
        cause = Some(deeper);
    }
    match cause {
        Some(cause) => format!("{call}: {}: {cause}", status.message()),
        None => format!("{call}: {}", status.message()),
    }
}
