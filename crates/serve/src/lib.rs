//! Real-time inference for Verdict models over HTTP.
//!
//! This crate will hold the actix-web handlers and the standalone server; it is being built.
