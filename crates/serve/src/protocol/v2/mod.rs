//! The Open Inference Protocol v2 (KServe, Triton, MLServer), REST flavour, with Triton's
//! binary tensor extension, so `tritonclient.http` works unchanged.
//!
//! Inputs come as one tensor of shape `[rows, features]` (any name that is not a feature's),
//! or as one tensor per feature, named after it, of shape `[rows]` or `[rows, 1]`. Any numeric
//! datatype is read, and `BYTES` for categories given by name. `data` may be nested or flat,
//! or the tensor may follow the JSON header as raw little-endian bytes
//! (`Inference-Header-Content-Length` and `binary_data_size`).
//!
//! The outputs are `predict` (`INT64` or `BYTES` class labels for classifiers, `FP64`
//! otherwise), `predict_proba` and `raw` (`FP64`). An output with one column has shape
//! `[rows]`, otherwise `[rows, columns]`. An output is sent as binary when it asks for it
//! (`binary_data`) or the request does (`binary_data_output`), as `tritonclient` does by
//! default.
//!
//! One room a concern: [`codec`] (the tensors, shared with gRPC), [`metadata`] (what a server
//! and its models are), [`infer`] (the inference route) and [`repository`] (Triton's model
//! repository extension). The route table names the handlers re-exported here.

pub(crate) mod codec;
pub(crate) mod infer;
pub(crate) mod metadata;
pub(crate) mod repository;

pub(crate) use infer::infer;
pub(crate) use metadata::{
    live, model_config, model_metadata, model_ready, ready, server_metadata, statistics,
};
pub(crate) use repository::{repository_index, repository_load, repository_unload};
