//! The LightGBM importer (`Booster.save_model` text): errors, never panics; whatever it
//! accepts scores and round-trips through `.vdm`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verdict_model::import::lightgbm;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = lightgbm::from_bytes(data, "fuzz") {
        verdict_fuzz::exercise(&file);
    }
});
