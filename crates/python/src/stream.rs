//! Arrow data across the boundary, through the C stream interface.
//!
//! Anything that has `__arrow_c_stream__` (a pyarrow `Table` or `RecordBatch`, a polars
//! `DataFrame`, a pandas `DataFrame` from 2.2 on) hands over a capsule holding an
//! `ArrowArrayStream`; [`import`] moves the stream out of it and reads its batches, whose
//! buffers stay the producer's own memory: nothing is copied. Results go back the same way:
//! an [`ArrowStream`] has `__arrow_c_stream__`, so `pyarrow.table(result)` takes its columns
//! as they are.

use std::ffi::CStr;

use arrow_array::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};
use arrow_array::{RecordBatch, RecordBatchIterator, RecordBatchReader};
use arrow_schema::SchemaRef;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::errors::Error;

/// The name the PyCapsule protocol gives a capsule holding an `ArrowArrayStream`.
const STREAM_CAPSULE: &CStr = c"arrow_array_stream";

/// The schema and every batch of an object that speaks the Arrow PyCapsule stream protocol.
///
/// Reading runs with the GIL held: the producer's callbacks may be Python code.
pub(crate) fn import(data: &Bound<'_, PyAny>) -> PyResult<(SchemaRef, Vec<RecordBatch>)> {
    if !data.hasattr("__arrow_c_stream__")? {
        return Err(PyTypeError::new_err(format!(
            "expected Arrow data (an object with __arrow_c_stream__), got {}",
            data.get_type().name()?
        )));
    }
    let capsule = data.call_method0("__arrow_c_stream__")?;
    let capsule = capsule.cast::<PyCapsule>()?;
    let pointer = capsule.pointer_checked(Some(STREAM_CAPSULE))?;
    // SAFETY: the capsule is named `arrow_array_stream`, so by the protocol it points to an
    // initialised `ArrowArrayStream`, which `from_raw` moves out (leaving a released stream
    // for the capsule's destructor). The capsule is alive for the duration of the call.
    let reader = unsafe { RecordBatchStreamReader::from_raw(pointer.as_ptr().cast()) }
        .map_err(Error::from)?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(Error::from)?;
    Ok((schema, batches))
}

/// Columns of results, handed to Python through the Arrow PyCapsule stream protocol:
/// `pyarrow.table(stream)` or `polars.DataFrame(stream)` read them without a copy.
///
/// A stream can be read once.
#[pyclass(module = "verdict._native", frozen)]
pub(crate) struct ArrowStream {
    schema: SchemaRef,
    batch: std::sync::Mutex<Option<RecordBatch>>,
}

impl ArrowStream {
    /// A stream of one batch.
    pub(crate) fn new(batch: RecordBatch) -> Self {
        ArrowStream {
            schema: batch.schema(),
            batch: std::sync::Mutex::new(Some(batch)),
        }
    }
}

#[pymethods]
impl ArrowStream {
    /// The stream as a capsule, as the Arrow PyCapsule protocol asks. `requested_schema` is
    /// accepted and ignored: the columns have the types Verdict gives them.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let batch = self
            .batch
            .lock()
            .map_err(|_| PyTypeError::new_err("the result stream is unusable"))?
            .take()
            .ok_or_else(|| PyTypeError::new_err("this result stream has already been read"))?;
        let reader: Box<dyn RecordBatchReader + Send> =
            Box::new(RecordBatchIterator::new([Ok(batch)], self.schema.clone()));
        // The capsule owns the stream; a consumer moves it out, and whatever is left is
        // released when the capsule is dropped.
        PyCapsule::new_with_value(py, FFI_ArrowArrayStream::new(reader), STREAM_CAPSULE)
    }

    fn __repr__(&self) -> String {
        let columns: Vec<&str> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        format!("ArrowStream(columns={columns:?})")
    }
}
