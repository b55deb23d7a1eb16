//! `POST /predict`'s body decoder. Input: one byte choosing the model (bit 0: named features
//! with a category, or positional ones), then the body. A body decodes into rows of the
//! model's features within the row limit, or into an error the client is answered with
//! (4xx); never a panic or a 5xx.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verdict_fuzz::{MAX_ROWS, check_features, signatures};
use verdict_serve::fuzzing;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let signature = &signatures()[usize::from(flags & 1)];
    match fuzzing::simple(signature, MAX_ROWS, body) {
        Ok(features) => check_features(signature, &features),
        Err(error) => assert!(fuzzing::status(&error) < 500, "{error}"),
    }
});
