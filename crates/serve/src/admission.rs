//! Admission of request bodies: a global bound on the bytes held in flight and on how many
//! large requests are decoded at once.
//!
//! Each request reserves its body's size before the body is read (from `Content-Length`)
//! and tops the reservation up to the decompressed size once read; the reservation lasts until
//! the request is answered, because the decoded rows live as long. A request that does not
//! fit is answered 503 with `Retry-After` at once, without reading its body, so an overload
//! sheds requests instead of growing memory. A request larger than the whole budget is still
//! admitted when nothing else is in flight, so `--max-body` and the budget need not agree.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::Error;

/// What a refused client is told to wait, in seconds.
const RETRY_AFTER_SECS: u64 = 1;

/// The limits, and what is in flight against them.
#[derive(Debug)]
pub(crate) struct Admission {
    max_bytes: usize,
    large_bytes: usize,
    max_large: usize,
    bytes: AtomicUsize,
    large: AtomicUsize,
}

impl Admission {
    /// At most `max_bytes` of bodies in flight, and at most `max_large` bodies of at least
    /// `large_bytes` bytes.
    pub(crate) fn new(max_bytes: usize, large_bytes: usize, max_large: usize) -> Admission {
        Admission {
            max_bytes,
            large_bytes,
            max_large: max_large.max(1),
            bytes: AtomicUsize::new(0),
            large: AtomicUsize::new(0),
        }
    }

    /// Reserves `bytes` for a new request, or refuses it.
    pub(crate) fn admit(self: &Arc<Self>, bytes: usize) -> Result<Permit, Error> {
        let mut permit = Permit {
            admission: Arc::clone(self),
            bytes: 0,
            large: false,
        };
        permit.grow_to(bytes)?;
        Ok(permit)
    }

    fn reserve_bytes(&self, extra: usize) -> Result<(), Error> {
        self.bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                let total = held.saturating_add(extra);
                (held == 0 || total <= self.max_bytes).then_some(total)
            })
            .map(drop)
            .map_err(|held| Error::Busy {
                reason: format!(
                    "{held} bytes of requests are in flight, and {extra} more would pass the limit of {}",
                    self.max_bytes
                ),
                retry_after: RETRY_AFTER_SECS,
            })
    }

    fn reserve_large(&self) -> Result<(), Error> {
        self.large
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held < self.max_large).then_some(held + 1)
            })
            .map(drop)
            .map_err(|held| Error::Busy {
                reason: format!(
                    "{held} large requests (of {} bytes or more) are being decoded, the limit",
                    self.large_bytes
                ),
                retry_after: RETRY_AFTER_SECS,
            })
    }
}

/// One request's reservation, given back when dropped.
#[derive(Debug)]
pub(crate) struct Permit {
    admission: Arc<Admission>,
    bytes: usize,
    large: bool,
}

impl Permit {
    /// Raises the reservation to `bytes` (a decompressed body can be larger than its
    /// `Content-Length`), or fails and keeps what it had.
    pub(crate) fn grow_to(&mut self, bytes: usize) -> Result<(), Error> {
        let admission = &self.admission;
        if bytes >= admission.large_bytes && !self.large {
            admission.reserve_large()?;
            self.large = true;
        }
        if bytes > self.bytes {
            admission.reserve_bytes(bytes - self.bytes)?;
            self.bytes = bytes;
        }
        Ok(())
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.admission.bytes.fetch_sub(self.bytes, Ordering::AcqRel);
        if self.large {
            self.admission.large.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_in_flight_are_bounded_and_given_back() {
        let admission = Arc::new(Admission::new(100, 1000, 4));
        let first = admission.admit(60).unwrap();
        assert!(matches!(admission.admit(60), Err(Error::Busy { .. })));
        let mut second = admission.admit(40).unwrap();
        assert!(second.grow_to(41).is_err());
        drop(first);
        second.grow_to(90).unwrap();
        drop(second);
        // Alone, a request larger than the budget still goes through.
        admission.admit(500).unwrap();
        assert_eq!(admission.bytes.load(Ordering::Acquire), 0);
    }

    #[test]
    fn large_requests_are_counted_apart() {
        let admission = Arc::new(Admission::new(usize::MAX, 10, 1));
        let small = admission.admit(5).unwrap();
        let large = admission.admit(10).unwrap();
        assert!(matches!(admission.admit(20), Err(Error::Busy { .. })));
        let mut grown = admission.admit(0).unwrap();
        assert!(grown.grow_to(11).is_err());
        drop(large);
        grown.grow_to(11).unwrap();
        drop((small, grown));
        assert_eq!(admission.large.load(Ordering::Acquire), 0);
    }
}
