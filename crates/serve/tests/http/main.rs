//! The server over real TCP on loopback: every protocol (HTTP and gRPC), endpoint, limit and
//! failure mode.

mod batching;
mod catboost;
mod common;
mod contribs;
mod grpc;
mod mlflow;
mod operations;
mod origin;
mod request_log;
mod simple;
mod v1;
mod v2;
