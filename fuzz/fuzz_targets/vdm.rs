//! The `.vdm` reader, through `import::from_bytes` as `verdict` reads any model file, so
//! format detection is fuzzed too: errors, never panics; whatever it accepts scores and
//! round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = verdict_model::import::from_bytes(data, "fuzz", None) {
        verdict_fuzz::exercise(&file);
    }
});
