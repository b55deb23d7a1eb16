//! verdict-batch's integration tests, linked as one binary: every test binary carries all of
//! polars (a quarter of a gigabyte in a debug build), so four would cost four links and a
//! gigabyte of disk for nothing.

mod atomic;
mod bad_input;
mod chunked;
mod common;
mod formats;
mod postgres;
