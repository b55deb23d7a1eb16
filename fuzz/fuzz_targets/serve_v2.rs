//! The Open Inference Protocol v2 `infer` body decoder, JSON and binary tensors. Input: one
//! byte of flags (bit 0 chooses the model; bit 1 says an `Inference-Header-Content-Length`
//! header follows as a little-endian u16, written as the decimal text HTTP carries), then the
//! body. A body decodes into rows of the model's features within the row limit, or into an
//! error the client is answered with (4xx); never a panic or a 5xx.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verdict_fuzz::{MAX_ROWS, check_features, signatures};
use verdict_serve::fuzzing::{self, HeaderValue};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let signature = &signatures()[usize::from(flags & 1)];
    let (header_length, body) = if flags & 2 != 0 {
        let Some((length, body)) = rest.split_first_chunk::<2>() else {
            return;
        };
        let length = u16::from_le_bytes(*length).to_string();
        (Some(HeaderValue::from_str(&length).expect("digits")), body)
    } else {
        (None, rest)
    };
    match fuzzing::v2(signature, MAX_ROWS, header_length.as_ref(), body) {
        Ok(features) => check_features(signature, &features),
        Err(error) => assert!(fuzzing::status(&error) < 500, "{error}"),
    }
});
