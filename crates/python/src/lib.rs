//! `verdict._native`: the extension module behind the `verdict` Python package.
//!
//! The Python layer (`python/verdict/__init__.py`) tells the kinds of data apart and turns the
//! results into the caller's kind of frame; this module does the work:
//!
//! - `model`: `verdict.Model`'s native half: loading, the signature, and `predict` on an
//!   Arrow stream or a 2-D numpy array, with the GIL released.
//! - `stream`: Arrow data in and out through the C stream interface (the
//!   `__arrow_c_stream__` PyCapsule protocol), so frames cross without a copy.
//! - `features`: Arrow columns as the model's `f64` features, by the rules every Verdict
//!   front end shares ([`verdict_model::matching`]).
//! - `scoring`: rows scored block by block on every core, into columns of results.
//! - `errors`: the typed errors and the Python exceptions they become.

mod errors;
mod features;
mod model;
mod scoring;
mod stream;

use pyo3::prelude::*;

/// The native half of the `verdict` package. Use the `verdict` module, which wraps it.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<model::Model>()?;
    m.add_class::<stream::ArrowStream>()?;
    m.add_function(wrap_pyfunction!(model::load, m)?)?;
    errors::register(m)?;
    Ok(())
}
