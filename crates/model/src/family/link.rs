//! Link functions: from raw margins to predictions, in the source library's arithmetic.

use serde::{Deserialize, Serialize};

/// The floating-point arithmetic of a model's accumulation and link.
///
/// XGBoost sums margins and applies its links in `f32`; LightGBM and scikit-learn work in
/// `f64`. Matching the source's arithmetic is what makes predictions identical rather than
/// close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// `f32` (XGBoost).
    Single,
    /// `f64` (LightGBM, scikit-learn).
    Double,
}

/// The function from a row's raw margins to its predictions (values or probabilities).
///
/// All links but [`Softmax`](Link::Softmax) and
/// [`NormalizedSigmoid`](Link::NormalizedSigmoid) act on each margin on its own.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    /// The margin is the prediction.
    Identity,
    /// `1 / (1 + exp(-scale * x))`. In single precision it is XGBoost's
    /// `1 / (expf(min(-x, 88.7)) + 1 + 1e-16)` (XGBoost has no scale; it must be 1).
    Sigmoid {
        /// LightGBM's `sigmoid` parameter; 1 elsewhere.
        scale: f64,
    },
    /// `exp(x - max) / sum`, row-wise. In single precision: `expf` per class, the sum in
    /// `f64`, each value divided by the sum rounded to `f32` (XGBoost).
    Softmax,
    /// Sigmoid of each margin, then divided by the row's sum (scikit-learn's one-vs-rest
    /// logistic regression).
    NormalizedSigmoid,
    /// `exp(x)` (Poisson, gamma and Tweedie objectives).
    Exp,
    /// `sign(x) * x * x` (LightGBM's `regression` with `reg_sqrt`).
    SignedSquare,
    /// `log(1 + exp(x))` (LightGBM's `cross_entropy_lambda`).
    Log1pExp,
    /// `1` if `x > 0`, else `0` (XGBoost's `binary:hinge`).
    Hinge,
    /// `1 / (1 + exp(-scale * x))` in `f64`, like [`Sigmoid`](Link::Sigmoid), but a binary
    /// classifier's label is decided on the margin rather than the probability: positive when
    /// `x > 0`, or when `x >= 0` if `positive_at_zero` (scikit-learn).
    ///
    /// The two rules differ where the sigmoid rounds to exactly `0.5` (`0 <= x < 2^-53`), and
    /// scikit-learn's `GradientBoostingClassifier` calls a margin of exactly `0` positive.
    MarginSigmoid {
        /// 1, or 2 for `GradientBoostingClassifier(loss='exponential')`.
        scale: f64,
        /// True when a margin of exactly `0` is the positive class.
        positive_at_zero: bool,
    },
    // New variants go last: a saved model stores its link by position (docs/format.md).
    /// Two margins, a mean and the log of a standard deviation, to the mean and the variance:
    /// `[x0, exp(2 * x1)]` (CatBoost's `RMSEWithUncertainty`).
    MeanAndVariance,
}

impl Link {
    /// Applies the link to one row's margins, writing its predictions into `out`
    /// (same length).
    pub fn apply(self, precision: Precision, raw: &[f64], out: &mut [f64]) {
        debug_assert_eq!(raw.len(), out.len());
        out.copy_from_slice(raw);
        self.apply_in_place(precision, out);
    }

    /// Applies the link to one row's margins in place: `values` holds the margins on entry and
    /// the predictions on return.
    pub fn apply_in_place(self, precision: Precision, values: &mut [f64]) {
        match (self, precision) {
            (Link::Identity, _) => {}
            (Link::Sigmoid { scale }, Precision::Double) => {
                map(values, |x| 1.0 / (1.0 + (-scale * x).exp()));
            }
            (Link::Sigmoid { scale }, Precision::Single) => {
                map(values, |x| f64::from(sigmoid_f32(scale as f32 * x as f32)));
            }
            (Link::Softmax, Precision::Double) => softmax_f64(values),
            (Link::Softmax, Precision::Single) => softmax_f32(values),
            (Link::NormalizedSigmoid, _) => {
                map(values, |x| 1.0 / (1.0 + (-x).exp()));
                let sum: f64 = values.iter().sum();
                map(values, |p| p / sum);
            }
            (Link::Exp, Precision::Double) => map(values, f64::exp),
            (Link::Exp, Precision::Single) => map(values, |x| f64::from((x as f32).exp())),
            (Link::SignedSquare, _) => map(values, |x| x.signum() * x * x),
            (Link::Log1pExp, _) => map(values, |x| x.exp().ln_1p()),
            (Link::Hinge, _) => map(values, |x| if x > 0.0 { 1.0 } else { 0.0 }),
            (Link::MeanAndVariance, _) => {
                if let [_, log_deviation] = values {
                    *log_deviation = (2.0 * *log_deviation).exp();
                }
            }
            (Link::MarginSigmoid { scale, .. }, _) => {
                map(values, |x| 1.0 / (1.0 + (-scale * x).exp()));
            }
        }
    }

    /// True when a binary classifier with margin `raw` and score `score` (this link applied
    /// to `raw`) predicts the positive class.
    pub fn binary_positive(self, raw: f64, score: f64) -> bool {
        match self {
            Link::MarginSigmoid {
                positive_at_zero: true,
                ..
            } => raw >= 0.0,
            Link::MarginSigmoid { .. } => raw > 0.0,
            _ => score > 0.5,
        }
    }

    /// True when the link preserves the order of a row's margins, so the arg-max of the
    /// margins is the arg-max of the predictions.
    pub fn is_monotone(self) -> bool {
        match self {
            Link::Sigmoid { scale } | Link::MarginSigmoid { scale, .. } => scale > 0.0,
            Link::Identity | Link::Softmax | Link::NormalizedSigmoid | Link::Exp => true,
            Link::SignedSquare | Link::Log1pExp => true,
            Link::Hinge | Link::MeanAndVariance => false,
        }
    }
}

fn map(values: &mut [f64], f: impl Fn(f64) -> f64) {
    for v in values {
        *v = f(*v);
    }
}

/// XGBoost's sigmoid (`common::Sigmoid` in `src/common/math.h`): clamped so `expf` cannot
/// overflow, with a tiny epsilon in the denominator.
fn sigmoid_f32(x: f32) -> f32 {
    const EPS: f32 = 1e-16;
    let denom = (-x).min(88.7).exp() + 1.0 + EPS;
    1.0 / denom
}

fn softmax_f64(values: &mut [f64]) {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for v in values.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in values.iter_mut() {
        *v /= sum;
    }
}

/// XGBoost's softmax (`common::Softmax`): `f32` exponentials, a `f64` sum.
fn softmax_f32(values: &mut [f64]) {
    let max = values
        .iter()
        .map(|&x| x as f32)
        .fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f64;
    for v in values.iter_mut() {
        let e = (*v as f32 - max).exp();
        *v = f64::from(e);
        sum += f64::from(e);
    }
    let sum = sum as f32;
    for v in values.iter_mut() {
        *v = f64::from(*v as f32 / sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_rows_sum_to_one_and_keep_order() {
        let raw = [1.0, 3.0, -2.0];
        for precision in [Precision::Single, Precision::Double] {
            let mut out = [0.0; 3];
            Link::Softmax.apply(precision, &raw, &mut out);
            assert!((out.iter().sum::<f64>() - 1.0).abs() < 1e-6);
            assert!(out[1] > out[0] && out[0] > out[2]);
        }
    }

    #[test]
    fn single_precision_sigmoid_is_rounded_to_f32() {
        let mut out = [0.0];
        Link::Sigmoid { scale: 1.0 }.apply(Precision::Single, &[0.3], &mut out);
        assert_eq!(out[0], f64::from(out[0] as f32));
        assert!((out[0] - 1.0 / (1.0 + (-0.3f64).exp())).abs() < 1e-7);
    }

    #[test]
    fn margin_sigmoid_decides_the_label_on_the_margin() {
        let strict = Link::MarginSigmoid {
            scale: 1.0,
            positive_at_zero: false,
        };
        let at_zero = Link::MarginSigmoid {
            scale: 1.0,
            positive_at_zero: true,
        };
        let mut p = [0.0];
        // A tiny positive margin rounds to a probability of exactly 0.5.
        let tiny = 1e-17;
        strict.apply(Precision::Double, &[tiny], &mut p);
        assert_eq!(p[0], 0.5);
        assert!(strict.binary_positive(tiny, p[0]));
        assert!(!Link::Sigmoid { scale: 1.0 }.binary_positive(tiny, p[0]));
        assert!(!strict.binary_positive(0.0, 0.5));
        assert!(at_zero.binary_positive(0.0, 0.5));
        assert!(!at_zero.binary_positive(-tiny, 0.5));
        // The exponential loss doubles the margin before the sigmoid.
        let doubled = Link::MarginSigmoid {
            scale: 2.0,
            positive_at_zero: true,
        };
        doubled.apply(Precision::Double, &[0.75], &mut p);
        assert_eq!(p[0], 1.0 / (1.0 + (-1.5f64).exp()));
    }

    #[test]
    fn sigmoid_does_not_overflow_on_large_negative_margins() {
        let mut out = [0.0];
        Link::Sigmoid { scale: 1.0 }.apply(Precision::Single, &[-1e6], &mut out);
        assert!(out[0].is_finite() && out[0] >= 0.0);
    }

    #[test]
    fn in_place_equals_out_of_place() {
        let raw = [0.5, -2.0, 3.25];
        let links = [
            Link::Identity,
            Link::Sigmoid { scale: 0.7 },
            Link::Softmax,
            Link::NormalizedSigmoid,
            Link::Exp,
            Link::SignedSquare,
            Link::Log1pExp,
            Link::Hinge,
        ];
        for link in links {
            for precision in [Precision::Single, Precision::Double] {
                let mut out = [0.0; 3];
                link.apply(precision, &raw, &mut out);
                let mut values = raw;
                link.apply_in_place(precision, &mut values);
                assert_eq!(out, values, "{link:?} {precision:?}");
            }
        }
    }
}
