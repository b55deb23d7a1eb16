//! Your own model type, used everywhere Verdict uses a model.
//!
//! Run with: `cargo run --release --example custom_model`
//!
//! Implement [`Model`] (a signature and `predict_into`) and the type works wherever an
//! `Arc<dyn Model>` is expected: batch scoring, the HTTP server, your own code.

use std::sync::Arc;

use ndarray::{ArrayView2, array};
use verdict::model::{
    ClassLabel, Feature, Model, Output, OutputSlot, PredictError, Signature, Task,
};

/// A hand-written rule: flags a transaction as fraud when the amount is large and the account is
/// new. Probabilities come from a fixed logistic curve.
#[derive(Debug)]
struct FraudRule {
    signature: Signature,
}

impl FraudRule {
    fn new() -> Self {
        let features = vec![
            Feature::numeric("amount"),
            Feature::numeric("account_age_days"),
        ];
        let task = Task::Classification {
            classes: vec![
                ClassLabel::Text("ok".into()),
                ClassLabel::Text("fraud".into()),
            ],
        };
        FraudRule {
            signature: Signature::new(features, task),
        }
    }

    /// The log-odds of fraud for one transaction.
    fn margin(amount: f64, age_days: f64) -> f64 {
        // Missing values (NaN) count as the safest case.
        let amount = if amount.is_nan() { 0.0 } else { amount };
        let age = if age_days.is_nan() { 365.0 } else { age_days };
        (amount / 1000.0) - (age / 30.0)
    }
}

impl Model for FraudRule {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn predict_into(
        &self,
        features: ArrayView2<'_, f64>,
        outputs: &mut [OutputSlot<'_>],
    ) -> Result<(), PredictError> {
        // One call checks the column count and the shape of every requested output.
        self.signature.check_shapes(&features, outputs)?;
        for (i, row) in features.rows().into_iter().enumerate() {
            // The margin once per row; every requested output is derived from it.
            let margin = Self::margin(row[0], row[1]);
            let p = 1.0 / (1.0 + (-margin).exp());
            for slot in outputs.iter_mut() {
                let mut dst = slot.out.row_mut(i);
                match slot.output {
                    Output::Raw => dst[0] = margin,
                    Output::PredictProba => {
                        dst[0] = 1.0 - p;
                        dst[1] = p;
                    }
                    // `predict` of a classifier is the class index; the signature maps it to a
                    // label.
                    Output::Predict => dst[0] = f64::from(u8::from(p > 0.5)),
                    // The signature offers no `contribs` for this model, so
                    // `check_shapes` has refused it above.
                    Output::Contribs => unreachable!("refused by check_shapes"),
                }
            }
        }
        Ok(())
    }
}

fn main() -> Result<(), PredictError> {
    // Shared like any other model.
    let model: Arc<dyn Model> = Arc::new(FraudRule::new());
    let transactions = array![[12.0, 400.0], [5000.0, 2.0], [f64::NAN, 1.0]];

    let labels = model.predict(transactions.view(), Output::Predict)?;
    let proba = model.predict(transactions.view(), Output::PredictProba)?;
    let columns = model.signature().output_columns(Output::PredictProba);
    for (i, row) in proba.rows().into_iter().enumerate() {
        let label = model
            .signature()
            .class_label(labels[[i, 0]])
            .expect("a known class");
        println!(
            "transaction {i}: {label:<6} {}={:.3} {}={:.3}",
            columns[0], row[0], columns[1], row[1]
        );
    }
    Ok(())
}
