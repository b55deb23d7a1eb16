//! MLflow's `/invocations` body decoder, JSON and CSV. Input: one byte of flags (bit 0
//! chooses the model; bits 1-2 the `Content-Type`: none, `application/json`, `text/csv`,
//! `text/csv; charset=utf-8`), then the body. A body decodes into rows of the model's
//! features within the row limit, or into an error the client is answered with (4xx); never
//! a panic or a 5xx.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verdict_fuzz::{MAX_ROWS, check_features, signatures};
use verdict_serve::fuzzing::{self, HeaderValue};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let signature = &signatures()[usize::from(flags & 1)];
    let content_type = match (flags >> 1) & 3 {
        0 => None,
        1 => Some(HeaderValue::from_static("application/json")),
        2 => Some(HeaderValue::from_static("text/csv")),
        _ => Some(HeaderValue::from_static("text/csv; charset=utf-8")),
    };
    match fuzzing::mlflow(signature, MAX_ROWS, content_type.as_ref(), body) {
        Ok(features) => check_features(signature, &features),
        Err(error) => assert!(fuzzing::status(&error) < 500, "{error}"),
    }
});
