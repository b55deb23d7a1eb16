//! An object read as a stream of bytes: one `GET`, whose body is handed on as it arrives.
//!
//! The block readers of the text formats (CSV, NDJSON) cut whatever [`Read`] they get into
//! blocks of whole records (`io/records.rs`); given this one, an object is read front to back
//! through the response body, so memory holds what the network has delivered and not yet
//! been parsed (the socket's flow control stops the server while the scorer works), never
//! the whole object.

use std::io::{self, Read};
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::ObjectStoreExt;

use super::{ObjectUrl, block_on, object_error, store};
use crate::error::Result;

/// The body of one object, read in order.
pub(crate) struct ObjectReader {
    body: BoxStream<'static, object_store::Result<Bytes>>,
    /// What the last piece of the body has left to hand out.
    current: Bytes,
}

impl ObjectReader {
    /// Starts reading the object at `url`; a missing object, bucket or credential fails here.
    pub(crate) fn open(url: &ObjectUrl) -> Result<ObjectReader> {
        let (store, key) = store(url)?;
        let store = Arc::clone(&store);
        let response = block_on(async move { store.get(&key).await })
            .map_err(|source| object_error(url, "cannot read", source))?;
        Ok(ObjectReader {
            body: response.into_stream(),
            current: Bytes::new(),
        })
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match block_on(self.body.next()) {
                Some(Ok(piece)) => self.current = piece,
                Some(Err(error)) => return Err(io::Error::other(error)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}
