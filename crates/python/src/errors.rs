//! What can go wrong in a call from Python, and the exception each error becomes.
//!
//! Three exceptions, all subclasses of `ValueError` so that code catching the usual error of
//! bad input keeps working:
//!
//! - `verdict.ModelError`: the file is not a model Verdict can read (the importer's message).
//! - `verdict.InputError`: the data cannot feed the model: a missing column (with the close
//!   names the input has), a type that cannot become a number, text that is not a number, the
//!   wrong shape of array. Rows are counted from 0, as positions in the input.
//! - `verdict.PredictError`: the model itself refuses a row (a missing value reaching a
//!   scikit-learn linear model, say) or has no such output.

use pyo3::prelude::*;
use verdict_model::PredictError;
use verdict_model::matching::MatchError;

/// The Python exceptions, named as Python code sees them.
mod py {
    use pyo3::exceptions::PyValueError;

    pyo3::create_exception!(
        verdict,
        ModelError,
        PyValueError,
        "The file is not a model Verdict can read; the message is the importer's."
    );
    pyo3::create_exception!(
        verdict,
        InputError,
        PyValueError,
        "The data cannot feed the model: a missing column, a type or value that is not a \
         number, or the wrong shape."
    );
    pyo3::create_exception!(
        verdict,
        PredictError,
        PyValueError,
        "The model refuses the input (a missing value a scikit-learn linear model rejects, say) \
         or has no such output."
    );
}

/// Adds the exceptions to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("ModelError", py.get_type::<py::ModelError>())?;
    m.add("InputError", py.get_type::<py::InputError>())?;
    m.add("PredictError", py.get_type::<py::PredictError>())?;
    Ok(())
}

/// Any error of a call from Python.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The model file could not be read.
    #[error(transparent)]
    Model(#[from] verdict_model::Error),
    /// The input's columns do not provide the model's features.
    #[error(transparent)]
    Columns(#[from] MatchError),
    /// A value or a column cannot feed the model.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The model refused the input.
    #[error(transparent)]
    Predict(#[from] PredictError),
    /// The Arrow data could not be imported.
    #[error("cannot read the Arrow data: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}

/// Data that cannot feed the model.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InputError {
    /// A value of a numeric feature given as text is not a number.
    #[error("column `{column}`, row {row}: `{value}` is not a number")]
    NotANumber {
        column: String,
        row: usize,
        value: String,
    },
    /// A feature is missing and `strict=True` forbids it.
    #[error(
        "column `{column}`, row {row}: the value is missing (strict=True rejects missing values)"
    )]
    Missing { column: String, row: usize },
    /// A category the model does not know, and `strict=True` forbids it.
    #[error(
        "column `{column}`, row {row}: `{value}` is not one of the model's categories \
         (strict=True rejects unknown categories)"
    )]
    UnknownCategory {
        column: String,
        row: usize,
        value: String,
    },
    /// A column whose type cannot become the feature's values.
    #[error("column `{column}` has type {dtype}, which cannot feed the {kind} feature `{feature}`")]
    UnsupportedType {
        column: String,
        feature: String,
        kind: &'static str,
        dtype: String,
    },
    /// A numpy array that is not rows x features.
    #[error(
        "expected a 2-D array of rows x {features} features (the model's features, by position), \
         got an array of shape {}",
        python_shape(.shape)
    )]
    ArrayShape { features: usize, shape: Vec<usize> },
    /// A numpy array of a type the model does not read.
    #[error("expected an array of float32 or float64, got one of type `{typestr}`")]
    ArrayType { typestr: String },
    /// An output name that is not one of Verdict's.
    #[error(transparent)]
    UnknownOutput(#[from] verdict_model::UnknownOutput),
    /// `threads=0`.
    #[error("threads must be at least 1 (or None for every core), got {0}")]
    Threads(usize),
}

/// A shape as numpy prints it: `(3, 31)`, `(30,)`.
fn python_shape(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => {
            let sizes: Vec<String> = shape.iter().map(usize::to_string).collect();
            format!("({})", sizes.join(", "))
        }
    }
}

impl From<Error> for PyErr {
    fn from(error: Error) -> PyErr {
        let message = error.to_string();
        match error {
            Error::Model(_) => py::ModelError::new_err(message),
            Error::Columns(_) | Error::Input(_) | Error::Arrow(_) => {
                py::InputError::new_err(message)
            }
            Error::Predict(_) => py::PredictError::new_err(message),
        }
    }
}

impl From<InputError> for PyErr {
    fn from(error: InputError) -> PyErr {
        Error::Input(error).into()
    }
}
