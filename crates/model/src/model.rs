//! The [`Model`] trait: what every model Verdict serves can do.

use std::fmt;

use ndarray::{Array2, ArrayView2};

use crate::error::PredictError;
// Re-exported for the families and the parallel driver, which name them from here.
pub(crate) use crate::output::{Output, OutputSlot};
use crate::signature::Signature;

/// A trained model that predicts from rows of numeric features.
///
/// **One call, one pass, every output.** A call hands the model a block of rows and one
/// [`OutputSlot`] per output it wants (`predict`, `predict_proba`, `raw`). The model walks its
/// trees (or multiplies its coefficients) once per row, and derives every requested output from
/// the same margins: asking for a label and its probabilities costs one pass, not two.
///
/// A model is a pure function of its input: it holds no per-call state, so one instance is
/// shared by every thread as `Arc<dyn Model>`. Its [`Signature`] says which features it takes,
/// in which order, and which outputs it produces.
///
/// Input is a 2-D view, rows x features, in any memory layout. `NaN` is a missing value.
/// Categorical features arrive as category codes: the position of the category in the
/// signature's list (see [`Signature::encode_category`]).
///
/// Only [`signature`](Model::signature) and [`predict_into`](Model::predict_into) are required;
/// [`predict`](Model::predict) and [`predict_outputs`](Model::predict_outputs) allocate the
/// buffers for you.
///
/// # Example: a model of your own
///
/// ```
/// use ndarray::{array, ArrayView2};
/// use verdict_model::{Feature, Model, Output, OutputSlot, PredictError, Signature, Task};
///
/// /// Predicts the sum of its two features.
/// #[derive(Debug)]
/// struct Sum(Signature);
///
/// impl Model for Sum {
///     fn signature(&self) -> &Signature {
///         &self.0
///     }
///
///     fn predict_into(
///         &self,
///         features: ArrayView2<'_, f64>,
///         outputs: &mut [OutputSlot<'_>],
///     ) -> Result<(), PredictError> {
///         self.0.check_shapes(&features, outputs)?;
///         for (i, row) in features.rows().into_iter().enumerate() {
///             // A regressor's `predict` and `raw` are the same number.
///             let sum = row.sum();
///             for slot in outputs.iter_mut() {
///                 slot.out[[i, 0]] = sum;
///             }
///         }
///         Ok(())
///     }
/// }
///
/// let model = Sum(Signature::new(
///     vec![Feature::numeric("a"), Feature::numeric("b")],
///     Task::Regression,
/// ));
/// let prediction = model.predict(array![[1.0, 2.0], [3.0, 4.0]].view(), Output::Predict)?;
/// assert_eq!(prediction, array![[3.0], [7.0]]);
/// # Ok::<(), PredictError>(())
/// ```
pub trait Model: Send + Sync + fmt::Debug {
    /// What the model takes and produces.
    fn signature(&self) -> &Signature;

    /// Writes every requested output for every row of `features` into its slot, from one pass
    /// over the model.
    ///
    /// Each slot must be `features.nrows()` x [`Signature::output_width`] of its output
    /// ([`Signature::check_shapes`] checks them all). An empty slice computes nothing.
    /// Implementations do not allocate per row; Verdict's own families do not allocate at all
    /// once a thread has scored its first block.
    fn predict_into(
        &self,
        features: ArrayView2<'_, f64>,
        outputs: &mut [OutputSlot<'_>],
    ) -> Result<(), PredictError>;

    /// One output, into a new array.
    fn predict(
        &self,
        features: ArrayView2<'_, f64>,
        output: Output,
    ) -> Result<Array2<f64>, PredictError> {
        let mut arrays = self.predict_outputs(features, &[output])?;
        Ok(arrays.remove(0))
    }

    /// Every output in `outputs`, in that order, each into a new array, from one pass.
    fn predict_outputs(
        &self,
        features: ArrayView2<'_, f64>,
        outputs: &[Output],
    ) -> Result<Vec<Array2<f64>>, PredictError> {
        let signature = self.signature();
        let mut arrays = outputs
            .iter()
            .map(|&output| {
                let width = signature.require_output(output)?;
                Ok(Array2::zeros((features.nrows(), width)))
            })
            .collect::<Result<Vec<_>, PredictError>>()?;
        let mut slots: Vec<OutputSlot<'_>> = outputs
            .iter()
            .zip(&mut arrays)
            .map(|(&output, array)| OutputSlot::new(output, array.view_mut()))
            .collect();
        self.predict_into(features, &mut slots)?;
        drop(slots);
        Ok(arrays)
    }
}
