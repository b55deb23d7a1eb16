//! The request decoders of the three HTTP protocols, callable without a server: the entry
//! points of the fuzz targets in `fuzz/`. Compiled only with the `fuzzing` cargo feature and
//! hidden from the documentation; not a stable API.
//!
//! Each function is the one the protocol's handler calls on a request body, before any
//! prediction: what a client controls (the body and one header) in, the feature matrix or
//! the error the client would be answered with out. A feature rather than an always-public
//! module keeps these out of the crate's API and its semver promises; the fuzz build turns
//! it on, and `.ci/run` builds the fuzz targets, so they cannot rot unnoticed.

use actix_web::ResponseError;
/// The type of the header values these decoders read, as actix-web hands them over.
pub use actix_web::http::header::HeaderValue;
use ndarray::Array2;
use verdict_model::Signature;

use crate::error::Error;
use crate::protocol::{Decoder, mlflow, simple, v2};

/// `POST /predict`: the rows of a JSON body for a model of `signature`.
pub fn simple(signature: &Signature, max_rows: usize, body: &[u8]) -> Result<Array2<f64>, Error> {
    let decoder = Decoder {
        signature,
        max_rows,
    };
    simple::decode(&decoder, body).map(|(features, _)| features)
}

/// `POST /v2/models/{model}/infer`: the rows of a JSON body, or of a JSON header of
/// `header_length` bytes (`Inference-Header-Content-Length`) followed by binary tensors.
pub fn v2(
    signature: &Signature,
    max_rows: usize,
    header_length: Option<&HeaderValue>,
    body: &[u8],
) -> Result<Array2<f64>, Error> {
    let decoder = Decoder {
        signature,
        max_rows,
    };
    v2::infer::decode(&decoder, header_length, body).map(|decoded| decoded.features)
}

/// `POST /invocations`: the rows of a JSON or CSV body, as its `content_type` says.
pub fn mlflow(
    signature: &Signature,
    max_rows: usize,
    content_type: Option<&HeaderValue>,
    body: &[u8],
) -> Result<Array2<f64>, Error> {
    let decoder = Decoder {
        signature,
        max_rows,
    };
    mlflow::decode(&decoder, content_type, body).map(|(features, _)| features)
}

/// The HTTP status `error` is answered with.
pub fn status(error: &Error) -> u16 {
    error.status_code().as_u16()
}
