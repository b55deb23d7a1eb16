//! `verdict.Model`'s native half: a loaded model, what it takes and gives, and `predict`.

use std::path::PathBuf;
use std::sync::Arc;

use ndarray::{ArrayView2, ShapeBuilder};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use verdict_model::format::Codec;
use verdict_model::{
    ClassLabel, FeatureKind, Model as _, ModelFile, NativeModel, Output, SourceFormat, matching,
};

use crate::errors::{Error, InputError};
use crate::features::{FeaturePlan, Values};
use crate::scoring::{self, Part, Rows};
use crate::stream::{self, ArrowStream};

/// Loads a model file: XGBoost JSON or UBJSON, LightGBM text, a CatBoost JSON export, a
/// scikit-learn export (`verdict.export_sklearn`) or a Verdict `.vdm` file; the format is told
/// from the file's contents unless `format` names it (`xgboost`, `lightgbm`, `catboost`,
/// `sklearn` or `vdm`).
///
/// Raises `verdict.ModelError` with the importer's message when the file is not a model it
/// can read.
#[pyfunction]
#[pyo3(signature = (path, format = None))]
pub(crate) fn load(py: Python<'_>, path: PathBuf, format: Option<&str>) -> PyResult<Model> {
    let from = format
        .map(|name| name.parse::<SourceFormat>().map_err(PyValueError::new_err))
        .transpose()?;
    let file = py
        .detach(|| verdict_model::load(&path, from))
        .map_err(Error::from)?;
    Ok(Model {
        file: Arc::new(file),
        path,
    })
}

/// A model loaded by `verdict.load`. Immutable and safe to share between threads.
#[pyclass(module = "verdict._native", frozen)]
pub(crate) struct Model {
    file: Arc<ModelFile>,
    path: PathBuf,
}

impl Model {
    fn model(&self) -> &NativeModel {
        &self.file.model
    }

    /// The outputs named in `names`, or the default ones (the prediction, and the class
    /// probabilities when the model has them), each once.
    fn requested(&self, names: Option<Vec<String>>) -> Result<Vec<Output>, Error> {
        let signature = self.model().signature();
        let requested = match names {
            Some(names) => names
                .iter()
                .map(|name| name.parse::<Output>().map_err(InputError::from))
                .collect::<Result<Vec<_>, _>>()?,
            None => default_outputs(signature),
        };
        let mut outputs: Vec<Output> = Vec::with_capacity(requested.len());
        for output in requested {
            signature.require_output(output)?;
            if !outputs.contains(&output) {
                outputs.push(output);
            }
        }
        Ok(outputs)
    }

    /// Scores the rows `rows` gives, with the GIL released, and returns the results as an
    /// Arrow stream.
    fn score<'a>(
        &self,
        py: Python<'_>,
        rows: impl FnOnce() -> Result<Rows<'a>, Error> + Send,
        outputs: &[Output],
        threads: Option<usize>,
    ) -> PyResult<ArrowStream> {
        let pool = scoring::pool(threads)?;
        let model = self.model();
        let batch = py.detach(|| -> Result<_, Error> {
            let rows = rows()?;
            let arrays = scoring::score(model, &rows, outputs, pool.as_deref())?;
            Ok(scoring::to_batch(model.signature(), outputs, arrays)?)
        })?;
        Ok(ArrowStream::new(batch))
    }
}

/// The rows with the numbers of CatBoost categorical features turned into the hashes of
/// those integers (a copy); other rows as they are.
fn hash_categories<'a>(rows: Rows<'a>, signature: &verdict_model::Signature) -> Rows<'a> {
    let hashed: Vec<bool> = signature
        .features
        .iter()
        .map(|f| f.kind == FeatureKind::HashedCategory)
        .collect();
    if !hashed.contains(&true) {
        return rows;
    }
    fn columns<T: Copy + Into<f64>>(view: &ArrayView2<'_, T>, hashed: &[bool]) -> Vec<Vec<f64>> {
        (0..view.ncols())
            .map(|j| {
                let values = view.column(j).into_iter().map(|&x| x.into());
                match hashed[j] {
                    true => values.map(matching::hashed_number).collect(),
                    false => values.collect(),
                }
            })
            .collect()
    }
    let (count, columns) = match &rows {
        Rows::F64(view) => (view.nrows(), columns(view, &hashed)),
        Rows::F32(view) => (view.nrows(), columns(view, &hashed)),
        Rows::Columns(_) => return rows,
    };
    Rows::Columns(vec![Part {
        start: 0,
        rows: count,
        columns: columns.into_iter().map(Values::Owned).collect(),
    }])
}

fn default_outputs(signature: &verdict_model::Signature) -> Vec<Output> {
    let mut outputs = vec![Output::Predict];
    if signature.output_width(Output::PredictProba).is_some() {
        outputs.push(Output::PredictProba);
    }
    outputs
}

#[pymethods]
impl Model {
    /// The features the model takes, in order: the column names it matches.
    #[getter]
    fn feature_names(&self) -> Vec<String> {
        let features = &self.model().signature().features;
        features.iter().map(|f| f.name.clone()).collect()
    }

    /// What the model predicts: `regression`, `binary`, `multiclass`, `multi-output` or
    /// `ranking`.
    #[getter]
    fn task(&self) -> &'static str {
        self.model().signature().task.name()
    }

    /// The class labels of a classifier (integers or strings), else `None`.
    #[getter]
    fn classes<'py>(&self, py: Python<'py>) -> PyResult<Option<Vec<Bound<'py, PyAny>>>> {
        let Some(classes) = self.model().signature().classes() else {
            return Ok(None);
        };
        classes
            .iter()
            .map(|class| match class {
                ClassLabel::Int(label) => Ok(label.into_pyobject(py)?.into_any()),
                ClassLabel::Text(label) => Ok(label.into_pyobject(py)?.into_any()),
            })
            .collect::<PyResult<_>>()
            .map(Some)
    }

    /// The outputs the model can produce: some of `predict`, `predict_proba`, `raw` and
    /// `contribs`.
    #[getter]
    fn outputs(&self) -> Vec<&'static str> {
        let signature = self.model().signature();
        signature.outputs().iter().map(|o| o.name()).collect()
    }

    /// The outputs `predict` gives when it is not told which.
    #[getter]
    fn default_outputs(&self) -> Vec<&'static str> {
        let outputs = default_outputs(self.model().signature());
        outputs.iter().map(|o| o.name()).collect()
    }

    /// The column names of an output, as `predict` names them.
    fn output_columns(&self, output: &str) -> PyResult<Vec<String>> {
        let output = self.requested(Some(vec![output.to_owned()]))?[0];
        Ok(self.model().signature().output_columns(output))
    }

    /// Which engine scores the rows, as `verdict inspect` says it: `compiled trees: ...`
    /// (with how many trees each walk takes), `compiled oblivious trees: N`, or `reference
    /// evaluator` (models with no compiled form, such as linear ones).
    #[getter]
    fn engine(&self) -> String {
        self.model().engine().to_string()
    }

    /// The file the model was loaded from.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// What the model file says about the model: its name, version, description, creation
    /// time, and the library (and version) that trained it.
    #[getter]
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let info = &self.file.info;
        let dict = PyDict::new(py);
        dict.set_item("name", &info.name)?;
        dict.set_item("version", &info.version)?;
        dict.set_item("description", &info.description)?;
        dict.set_item("created", &info.created)?;
        dict.set_item("library", &info.source.library)?;
        dict.set_item("library_version", &info.source.library_version)?;
        Ok(dict)
    }

    /// Writes the model as a Verdict model file (`.vdm`): checksummed, validated, no code.
    /// The file is written whole or not at all.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let file = &self.file;
        py.detach(|| file.save(&path, Codec::Bincode))
            .map_err(Error::from)?;
        Ok(())
    }

    /// Scores Arrow data (anything with `__arrow_c_stream__`), matching columns by name.
    #[pyo3(signature = (data, outputs = None, threads = None, strict = false))]
    fn predict_arrow(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        outputs: Option<Vec<String>>,
        threads: Option<usize>,
        strict: bool,
    ) -> PyResult<ArrowStream> {
        let outputs = self.requested(outputs)?;
        let (schema, batches) = stream::import(data)?;
        let plan = FeaturePlan::new(self.model().signature(), &schema)?;
        let batches = &batches;
        let plan = &plan;
        self.score(
            py,
            move || Ok(Rows::Columns(read_parts(plan, batches, strict)?)),
            &outputs,
            threads,
        )
    }

    /// Scores a 2-D numpy array of `float32` or `float64`, C or Fortran order, whose columns
    /// are the model's features by position.
    #[pyo3(signature = (array, outputs = None, threads = None))]
    fn predict_array(
        &self,
        py: Python<'_>,
        array: &Bound<'_, PyAny>,
        outputs: Option<Vec<String>>,
        threads: Option<usize>,
    ) -> PyResult<ArrowStream> {
        let outputs = self.requested(outputs)?;
        let layout = Layout::of(array, self.model().signature().num_features())?;
        // `array` is borrowed for the whole call, so its memory outlives the views.
        let rows = hash_categories(layout.rows(), self.model().signature());
        self.score(py, move || Ok(rows), &outputs, threads)
    }

    /// The address of the first value of each feature as the scorer reads it, or `None`
    /// where it reads a converted copy: for tests that check that nothing was copied.
    fn _feature_addresses(&self, data: &Bound<'_, PyAny>) -> PyResult<Vec<Option<usize>>> {
        if data.hasattr("__array_interface__")? {
            let layout = Layout::of(data, self.model().signature().num_features())?;
            return Ok(vec![Some(layout.address); 1]);
        }
        let (schema, batches) = stream::import(data)?;
        let plan = FeaturePlan::new(self.model().signature(), &schema)?;
        let parts = read_parts(&plan, &batches, false)?;
        let Some(first) = parts.first() else {
            return Ok(Vec::new());
        };
        Ok(first
            .columns
            .iter()
            .map(|values| match values {
                crate::features::Values::Borrowed(values) => Some(values.as_ptr() as usize),
                crate::features::Values::Owned(_) => None,
            })
            .collect())
    }

    fn __repr__(&self) -> String {
        let signature = self.model().signature();
        format!(
            "verdict.Model({} {}, {} features, outputs {}, from {:?})",
            self.file.info.source.library,
            signature.task.name(),
            signature.num_features(),
            self.outputs().join(", "),
            self.path.display().to_string(),
        )
    }
}

/// The feature columns of every batch.
fn read_parts<'a>(
    plan: &FeaturePlan,
    batches: &'a [arrow_array::RecordBatch],
    strict: bool,
) -> Result<Vec<Part<'a>>, Error> {
    let mut start = 0;
    let mut parts = Vec::with_capacity(batches.len());
    for batch in batches {
        let rows = batch.num_rows();
        parts.push(Part {
            start,
            rows,
            columns: plan.read(batch, start, strict)?,
        });
        start += rows;
    }
    Ok(parts)
}

/// Where a numpy array's values are and how they are laid out, from its
/// `__array_interface__`.
struct Layout {
    address: usize,
    shape: (usize, usize),
    fortran: bool,
    double: bool,
}

impl Layout {
    /// The layout of `array`, a C- or Fortran-contiguous 2-D array of `float32` or `float64`
    /// (the Python side makes it one), which must have `features` columns.
    fn of(array: &Bound<'_, PyAny>, features: usize) -> PyResult<Self> {
        let interface = array.getattr("__array_interface__")?;
        let shape: Vec<usize> = interface.get_item("shape")?.extract()?;
        let typestr: String = interface.get_item("typestr")?.extract()?;
        let data = interface.get_item("data")?;
        let data = data.cast::<PyTuple>()?;
        let address: usize = data.get_item(0)?.extract()?;
        let [rows, columns] = shape[..] else {
            return Err(InputError::ArrayShape { features, shape }.into());
        };
        if columns != features {
            return Err(InputError::ArrayShape { features, shape }.into());
        }
        let double = match typestr.as_str() {
            "<f8" if cfg!(target_endian = "little") => true,
            "<f4" if cfg!(target_endian = "little") => false,
            ">f8" if cfg!(target_endian = "big") => true,
            ">f4" if cfg!(target_endian = "big") => false,
            _ => return Err(InputError::ArrayType { typestr }.into()),
        };
        let strides: Option<Vec<isize>> = interface.get_item("strides")?.extract()?;
        let item = if double { 8 } else { 4 };
        let c_order = [columns as isize * item, item];
        let fortran_order = [item, rows as isize * item];
        let fortran = match strides.as_deref() {
            None => false,
            Some(s) if rows <= 1 || columns <= 1 || s == c_order => false,
            Some(s) if s == fortran_order => true,
            Some(s) => {
                return Err(PyValueError::new_err(format!(
                    "internal error: the array's strides {s:?} are neither C nor Fortran order"
                )));
            }
        };
        Ok(Layout {
            address,
            shape: (rows, columns),
            fortran,
            double,
        })
    }

    /// The rows, viewed where they lie.
    fn rows(&self) -> Rows<'_> {
        let (rows, columns) = self.shape;
        if rows * columns == 0 {
            return Rows::F64(ArrayView2::from_shape(self.shape, &[][..]).expect("no values"));
        }
        // SAFETY: the array interface says `address` holds `rows x columns` values of this
        // type in this order, and the caller keeps the array alive (and, by contract, does not
        // resize it) for the whole call.
        unsafe {
            match (self.double, self.fortran) {
                (true, false) => Rows::F64(ArrayView2::from_shape_ptr(self.shape, self.ptr())),
                (true, true) => Rows::F64(ArrayView2::from_shape_ptr(self.shape.f(), self.ptr())),
                (false, false) => Rows::F32(ArrayView2::from_shape_ptr(self.shape, self.ptr())),
                (false, true) => Rows::F32(ArrayView2::from_shape_ptr(self.shape.f(), self.ptr())),
            }
        }
    }

    fn ptr<T>(&self) -> *const T {
        self.address as *const T
    }
}
