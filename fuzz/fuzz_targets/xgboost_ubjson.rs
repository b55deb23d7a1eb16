//! The XGBoost importer (`Booster.save_model` JSON or UBJSON): errors, never panics; whatever
//! it accepts scores and round-trips through `.vdm`. This target's corpus starts from the
//! fixtures' UBJSON (`model.ubj`) models; the importer picks JSON or UBJSON from the first bytes either way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verdict_model::import::xgboost::{self, Iterations, Options};

fuzz_target!(|data: &[u8]| {
    let all = Options::default();
    if let Ok(file) = xgboost::from_bytes(data, "fuzz", &all) {
        verdict_fuzz::exercise(&file);
        // Only a model that loads has iterations to cut.
        let best = Options {
            iterations: Iterations::Best,
        };
        if let Ok(file) = xgboost::from_bytes(data, "fuzz", &best) {
            verdict_fuzz::exercise(&file);
        }
    }
});
