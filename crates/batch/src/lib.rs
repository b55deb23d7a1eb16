//! Batch scoring for Verdict models.
//!
//! This crate will score polars frames and files with any `Arc<dyn Model>`; it is being built.
