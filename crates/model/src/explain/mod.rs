//! Exact per-feature contributions: the `contribs` output.
//!
//! For every row and every raw output `k`, one value per feature and a bias, which add up to
//! the raw margin ([`Output::Raw`](crate::Output::Raw)) of that output:
//!
//! - tree ensembles use path-dependent TreeSHAP (Lundberg, Erion and Lee, "Consistent
//!   Individualized Feature Attribution for Tree Ensembles", 2018), the algorithm of XGBoost's
//!   `pred_contribs` and LightGBM's `pred_contrib`, weighing each branch by the node covers
//!   the importers carry ([`Tree::cover`](crate::family::tree::Tree::cover)); see
//!   [`treeshap`];
//! - linear models give `coefficient * x` per feature and the intercept as the bias
//!   ([`linear`]).
//!
//! A row is laid out output by output: `[k * (features + 1) + j]` is feature `j`'s share of
//! output `k`, and `[k * (features + 1) + features]` the bias of output `k`.

pub(crate) mod linear;
pub(crate) mod treeshap;

use ndarray::{ArrayView2, ArrayViewMut2};

use crate::error::PredictError;
use crate::family::Family;
use treeshap::TreeShap;

/// What a family needs to explain itself, prepared once when the model is built.
#[derive(Debug)]
pub(crate) enum Explainer {
    /// A linear model: nothing to prepare.
    Linear,
    /// A tree ensemble, with each tree's expected value.
    Trees(TreeShap),
}

impl Explainer {
    /// The explainer of `family`, or `None` when it cannot be explained exactly: pipelines
    /// (their model sees transformed columns, not the inputs), trees without covers (model
    /// files of format version 1, exports that lack them, CatBoost models), linear leaves,
    /// trees too deep.
    pub(crate) fn new(family: &Family) -> Option<Explainer> {
        match family {
            Family::Linear(_) => Some(Explainer::Linear),
            Family::Trees(ensemble) => TreeShap::new(ensemble).map(Explainer::Trees),
            // CatBoost's oblivious trees carry no covers in their JSON export.
            Family::Pipeline(_) | Family::Oblivious(_) => None,
        }
    }

    /// Writes the contributions of every row of `features` into `out`
    /// (`rows x raw_width * (features + 1)`, already checked).
    pub(crate) fn contribs_into(
        &self,
        family: &Family,
        features: ArrayView2<'_, f64>,
        out: ArrayViewMut2<'_, f64>,
    ) -> Result<(), PredictError> {
        match (self, family) {
            (Explainer::Linear, Family::Linear(model)) => {
                linear::contribs_into(model, features, out)
            }
            (Explainer::Trees(shap), Family::Trees(ensemble)) => {
                shap.contribs_into(ensemble, features, out);
                Ok(())
            }
            // `new` built the explainer from this very family.
            _ => unreachable!("an explainer always matches the family it was built from"),
        }
    }
}
