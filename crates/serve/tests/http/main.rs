//! The server over real TCP on loopback: every protocol, endpoint, limit and failure mode.

mod batching;
mod common;
mod mlflow;
mod operations;
mod origin;
mod simple;
mod v2;
