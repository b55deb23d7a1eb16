//! The scikit-learn importer (the JSON `verdict.sklearn_export` writes): errors, never
//! panics; whatever it accepts scores and round-trips through `.vdm`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verdict_model::import::sklearn;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = sklearn::from_bytes(data, "fuzz") {
        verdict_fuzz::exercise(&file);
    }
});
