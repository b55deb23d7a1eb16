//! An output written to object storage: a multipart upload at the output's key, completed
//! (made visible, whole and at once) only when the run succeeds.
//!
//! The stores Verdict writes (S3, Google Cloud Storage, Azure) keep the parts of an upload
//! out of sight until it is completed: the completion is the commit, atomic as a file's
//! rename, and until then readers see the previous object, or none. A failed or cancelled
//! run aborts the upload, which deletes its parts. A killed one cannot: its parts stay,
//! invisible and billed, until the bucket's lifecycle rule (S3's
//! `AbortIncompleteMultipartUpload`) or the operator removes them. No object ever appears
//! under the output's key, nor beside it.
//!
//! Memory holds at most [`PARTS_IN_FLIGHT`] parts of [`PART_SIZE`] bytes: the encoder
//! writes into a buffer that is sent as a part when full, while the next fills.

use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, Write};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use object_store::path::Path as Key;
use object_store::{MultipartUpload, ObjectStore, PutMultipartOptions, PutPayload};

use super::{ObjectUrl, Service, block_on, head, object_error, store};
use crate::error::{Error, Result};
use crate::io::{IfExists, Staging};

/// The bytes of one part: S3 takes at least 5 MiB a part (but the last) and at most 10,000
/// parts, so an output may be up to 78 GiB.
pub(crate) const PART_SIZE: usize = 8 << 20;

/// How many parts upload at once while the next one fills.
pub(crate) const PARTS_IN_FLIGHT: usize = 3;

/// A part on its way: the upload task, as a future of its result.
type PartUpload = Pin<Box<dyn Future<Output = object_store::Result<()>> + Send>>;

/// A multipart upload fed through [`Write`]. Dropped before it is completed, it aborts.
pub(crate) struct Upload {
    url: ObjectUrl,
    /// `None` once completed or aborted.
    multipart: Option<Box<dyn MultipartUpload>>,
    buffer: Vec<u8>,
    in_flight: VecDeque<PartUpload>,
}

impl Upload {
    fn write(&mut self, mut bytes: &[u8]) -> object_store::Result<()> {
        while !bytes.is_empty() {
            let n = (PART_SIZE - self.buffer.len()).min(bytes.len());
            self.buffer.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.buffer.len() == PART_SIZE {
                self.send_part()?;
            }
        }
        Ok(())
    }

    /// Starts uploading the buffer as the next part; waits while too many are on their way.
    fn send_part(&mut self) -> object_store::Result<()> {
        let Some(multipart) = self.multipart.as_mut() else {
            return Err(closed());
        };
        let part = multipart.put_part(PutPayload::from(std::mem::take(&mut self.buffer)));
        let task = polars_core::runtime::ASYNC.spawn(part);
        self.in_flight.push_back(Box::pin(async move {
            task.await
                .unwrap_or_else(|failed| Err(object_store::Error::JoinError { source: failed }))
        }));
        while self.in_flight.len() > PARTS_IN_FLIGHT {
            if let Some(oldest) = self.in_flight.pop_front() {
                block_on(oldest)?;
            }
        }
        Ok(())
    }

    /// Sends the last part, waits for every part, and completes the upload: the object
    /// appears.
    fn complete(&mut self) -> object_store::Result<()> {
        if !self.buffer.is_empty() {
            self.send_part()?;
        }
        while let Some(part) = self.in_flight.pop_front() {
            block_on(part)?;
        }
        let mut multipart = self.multipart.take().ok_or_else(closed)?;
        match block_on(multipart.complete()) {
            Ok(_) => Ok(()),
            Err(error) => {
                // Still to abort, when this is dropped.
                self.multipart = Some(multipart);
                Err(error)
            }
        }
    }

    /// Deletes the parts sent so far. Parts still on their way are waited for first: S3 may
    /// keep a part that lands after the abort.
    fn abort(&mut self) {
        while let Some(part) = self.in_flight.pop_front() {
            let _ = block_on(part);
        }
        if let Some(mut multipart) = self.multipart.take()
            && let Err(error) = block_on(multipart.abort())
        {
            eprintln!(
                "verdict: warning: could not abort the upload to {}: {error}; its parts are \
                 invisible but stay in the bucket until a lifecycle rule (S3: \
                 AbortIncompleteMultipartUpload) removes them",
                self.url
            );
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        self.abort();
    }
}

fn closed() -> object_store::Error {
    object_store::Error::Generic {
        store: "verdict",
        source: "the upload was already completed or aborted".into(),
    }
}

/// The end of an [`Upload`] the encoder writes into (through the sink's buffer).
pub(crate) struct UploadWriter(Arc<Mutex<Upload>>);

impl Write for UploadWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut upload = self
            .0
            .lock()
            .map_err(|_| io::Error::other("a writer thread panicked"))?;
        upload.write(bytes).map_err(io::Error::other)?;
        Ok(bytes.len())
    }

    /// Parts are sent when full; the last one only when the output is committed.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An output object on its way: the upload, and what its commit checks.
pub(crate) struct ObjectStaging {
    url: ObjectUrl,
    store: Arc<dyn ObjectStore>,
    key: Key,
    upload: Arc<Mutex<Upload>>,
    if_exists: IfExists,
}

/// Starts the upload of the output at `url`: the writer the encoder writes into, and the
/// staging that commits it. A missing bucket or refused credentials fail here, before any
/// row is read.
pub(crate) fn start(
    url: &ObjectUrl,
    if_exists: IfExists,
) -> Result<(UploadWriter, Box<dyn Staging>)> {
    let (store, key) = store(url)?;
    start_in(store, key, url, if_exists)
}

/// [`start`] in a store at hand.
fn start_in(
    store: Arc<dyn ObjectStore>,
    key: Key,
    url: &ObjectUrl,
    if_exists: IfExists,
) -> Result<(UploadWriter, Box<dyn Staging>)> {
    let multipart = {
        let (store, key) = (Arc::clone(&store), key.clone());
        block_on(async move {
            store
                .put_multipart_opts(&key, PutMultipartOptions::default())
                .await
        })
        .map_err(|source| object_error(url, "cannot start the upload of", source))?
    };
    let upload = Arc::new(Mutex::new(Upload {
        url: url.clone(),
        multipart: Some(multipart),
        buffer: Vec::new(),
        in_flight: VecDeque::new(),
    }));
    let staging = ObjectStaging {
        url: url.clone(),
        store,
        key,
        upload: Arc::clone(&upload),
        if_exists,
    };
    Ok((UploadWriter(upload), Box::new(staging)))
}

impl Staging for ObjectStaging {
    fn commit(&mut self) -> Result<()> {
        if self.if_exists == IfExists::Fail && head(&self.store, &self.key, &self.url)?.is_some() {
            // It appeared since the run checked: never replace it. (The check and the
            // completion are two requests, so a writer between them is not seen; the stores'
            // multipart completion takes no condition.)
            return Err(Error::OutputExists {
                what: self.url.to_string(),
                hint: "",
            });
        }
        let mut upload = self
            .upload
            .lock()
            .map_err(|_| Error::InvalidOption("a writer thread panicked".to_owned()))?;
        upload
            .complete()
            .map_err(|source| object_error(&self.url, "cannot complete the upload of", source))
    }
}

/// Checks, before anything is read, that the run may write the object at `url`: the store
/// takes uploads, and the object does not exist unless told to replace it (files and
/// objects are not appended to). Reaching the store here also tells a missing credential
/// or bucket before any row is scored.
pub(crate) fn check_target(url: &ObjectUrl, if_exists: IfExists) -> Result<()> {
    if url.service() == Service::Http {
        return Err(Error::InvalidOption(format!(
            "cannot write {url}: an HTTP server is read-only here; write to s3://, gs:// or az://"
        )));
    }
    if url.key().is_empty() || url.key().ends_with('/') || url.is_glob() {
        return Err(Error::InvalidOption(format!(
            "the output {url} is not one object; name its key (such as {}scores.parquet)",
            if url.as_str().ends_with('/') {
                url.as_str().to_owned()
            } else {
                format!("{url}/")
            }
        )));
    }
    if if_exists == IfExists::Append {
        return Err(Error::InvalidOption(format!(
            "cannot append to the object {url}; objects are replaced whole (--if-exists replace)"
        )));
    }
    let (store, key) = store(url)?;
    if head(&store, &key, url)?.is_some() && if_exists == IfExists::Fail {
        return Err(Error::OutputExists {
            what: url.to_string(),
            hint: "",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use object_store::ObjectStoreExt;
    use object_store::memory::InMemory;

    use super::*;

    fn setup() -> (Arc<dyn ObjectStore>, Key, ObjectUrl) {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let url = ObjectUrl::parse("s3://bucket/out/scores.parquet").unwrap();
        (store, Key::from("out/scores.parquet"), url)
    }

    /// Bytes that differ from part to part, so that a part out of order would show.
    fn output(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    fn stored(store: &Arc<dyn ObjectStore>, key: &Key) -> Option<Vec<u8>> {
        match block_on(async { store.get(key).await?.bytes().await }) {
            Ok(bytes) => Some(bytes.to_vec()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn an_output_of_many_parts_appears_whole_at_the_commit() {
        let (store, key, url) = setup();
        let (mut writer, mut staging) =
            start_in(Arc::clone(&store), key.clone(), &url, IfExists::Fail).unwrap();
        // More parts than may be in flight, and a last one that is not full.
        let bytes = output(PART_SIZE * (PARTS_IN_FLIGHT + 2) + 12_345);
        for piece in bytes.chunks(1 << 20) {
            writer.write_all(piece).unwrap();
        }
        assert_eq!(stored(&store, &key), None, "visible before the commit");
        staging.commit().unwrap();
        assert!(
            stored(&store, &key) == Some(bytes),
            "the object is not what was written"
        );
    }

    #[test]
    fn an_upload_dropped_before_its_commit_leaves_nothing() {
        let (store, key, url) = setup();
        let (mut writer, staging) =
            start_in(Arc::clone(&store), key.clone(), &url, IfExists::Replace).unwrap();
        writer.write_all(&output(PART_SIZE + 1)).unwrap();
        drop((writer, staging));
        assert_eq!(stored(&store, &key), None);
    }

    #[test]
    fn an_object_that_appeared_during_the_run_is_kept() {
        let (store, key, url) = setup();
        let (mut writer, mut staging) =
            start_in(Arc::clone(&store), key.clone(), &url, IfExists::Fail).unwrap();
        writer.write_all(b"ours").unwrap();
        block_on(store.put(&key, PutPayload::from_static(b"theirs"))).unwrap();
        assert!(matches!(staging.commit(), Err(Error::OutputExists { .. })));
        assert_eq!(stored(&store, &key).as_deref(), Some(&b"theirs"[..]));
        // Replacing is what --if-exists replace asks for.
        let (mut writer, mut staging) =
            start_in(Arc::clone(&store), key.clone(), &url, IfExists::Replace).unwrap();
        writer.write_all(b"ours").unwrap();
        staging.commit().unwrap();
        assert_eq!(stored(&store, &key).as_deref(), Some(&b"ours"[..]));
    }
}
