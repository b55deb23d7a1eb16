//! The CatBoost importer on the binary `.cbm` file (`save_model`'s default): the FlatBuffers
//! core and, with categorical features, the CTR tables after it. Errors, never panics;
//! whatever it accepts scores and round-trips through `.vdm`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verdict_model::import::catboost;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = catboost::from_bytes(data, "fuzz") {
        verdict_fuzz::exercise(&file);
    }
});
