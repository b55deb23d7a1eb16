//! Models and data the batch tests share: small native models built from the family types,
//! so the tests do not depend on any importer, and deterministic pseudo-random rows.

use std::path::Path;
use std::sync::Arc;

use ndarray::{Array2, ArrayView2};
use polars::prelude::*;
use verdict_batch::{Error, Scorer, Sink, Source, Summary};
use verdict_model::family::Family;
use verdict_model::family::linear::{LinearMissing, LinearModel};
use verdict_model::family::link::{Link, Precision};
use verdict_model::family::tree::{Aggregation, Missing, Node, SplitRule, Tree, TreeEnsemble};
use verdict_model::{
    ClassLabel, Feature, Model, NativeModel, Output, OutputSlot, PredictError, Signature, Task,
};

/// A small deterministic generator (SplitMix64), so test data needs no dependency.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Full binary trees of `depth` over `features` numeric features, thresholds in [0, 1),
/// XGBoost-style arithmetic, one tree per raw output in turn.
pub(crate) fn trees(
    features: usize,
    count: usize,
    depth: u32,
    raw_width: usize,
    seed: u64,
) -> Vec<Tree> {
    let mut rng = Rng::new(seed);
    let internal = (1usize << depth) - 1;
    (0..count)
        .map(|t| {
            let mut nodes = Vec::with_capacity(2 * internal + 1);
            for i in 0..internal {
                nodes.push(Node::Numeric {
                    feature: rng.below(features as u64) as u32,
                    threshold: rng.unit(),
                    missing: Missing::Nan,
                    default_left: rng.below(2) == 0,
                    left: (2 * i + 1) as u32,
                    right: (2 * i + 2) as u32,
                });
            }
            let leaves = internal + 1;
            for leaf in 0..leaves {
                nodes.push(Node::Leaf { leaf: leaf as u32 });
            }
            Tree {
                output: (t % raw_width) as u32,
                nodes,
                leaf_values: (0..leaves).map(|_| rng.unit() - 0.5).collect(),
                category_words: Vec::new(),
                linear: None,
            }
        })
        .collect()
}

fn ensemble(features: usize, count: usize, raw_width: usize, link: Link, seed: u64) -> Family {
    Family::Trees(TreeEnsemble {
        num_features: features,
        split_rule: SplitRule::LessThanF32,
        precision: Precision::Single,
        leaf_width: 1,
        base_score: vec![0.5; raw_width],
        aggregation: Aggregation::Sum,
        link,
        trees: trees(features, count, 3, raw_width, seed),
    })
}

/// Feature names `x0`, `x1`, ...
pub(crate) fn names(features: usize) -> Vec<String> {
    (0..features).map(|i| format!("x{i}")).collect()
}

pub(crate) fn numeric(features: usize) -> Vec<Feature> {
    names(features).into_iter().map(Feature::numeric).collect()
}

/// A regression tree ensemble on `x0..x{features}`.
pub(crate) fn regressor(features: usize) -> Arc<NativeModel> {
    let signature = Signature::new(numeric(features), Task::Regression);
    Arc::new(NativeModel::new(signature, ensemble(features, 20, 1, Link::Identity, 1)).unwrap())
}

/// A binary classifier with integer labels 0 and 1 (like most XGBoost models).
pub(crate) fn binary(features: usize) -> Arc<NativeModel> {
    let classes = vec![ClassLabel::Int(0), ClassLabel::Int(1)];
    let signature = Signature::new(numeric(features), Task::Classification { classes });
    Arc::new(
        NativeModel::new(
            signature,
            ensemble(features, 20, 1, Link::Sigmoid { scale: 1.0 }, 2),
        )
        .unwrap(),
    )
}

/// A three-class classifier with text labels.
pub(crate) fn multiclass(features: usize) -> Arc<NativeModel> {
    let classes = ["setosa", "versicolor", "virginica"]
        .map(|c| ClassLabel::Text(c.to_owned()))
        .to_vec();
    let signature = Signature::new(numeric(features), Task::Classification { classes });
    Arc::new(NativeModel::new(signature, ensemble(features, 30, 3, Link::Softmax, 3)).unwrap())
}

/// `y = 1 + a + 10 * colour`, where `colour` is categorical with codes red=0, green=1,
/// blue=2 (a linear model reads the code as a number).
pub(crate) fn with_category() -> Arc<NativeModel> {
    let signature = Signature::new(
        vec![
            Feature::numeric("a"),
            Feature::categorical("colour", vec!["red".into(), "green".into(), "blue".into()]),
        ],
        Task::Regression,
    );
    let family = linear(vec![1.0, 10.0], 1.0, LinearMissing::Propagate);
    Arc::new(NativeModel::new(signature, family).unwrap())
}

/// `y = a - 2b` on features the source model did not name (`f0`, `f1`).
pub(crate) fn positional() -> Arc<NativeModel> {
    let mut signature = Signature::new(Signature::positional_features(2), Task::Regression);
    signature.positional = true;
    let family = linear(vec![1.0, -2.0], 0.0, LinearMissing::Propagate);
    Arc::new(NativeModel::new(signature, family).unwrap())
}

/// `y = intercept + sum_j coefficients[j] * x_j`, with `missing` for NaN inputs.
pub(crate) fn linear(coefficients: Vec<f64>, intercept: f64, missing: LinearMissing) -> Family {
    Family::Linear(LinearModel {
        num_features: coefficients.len(),
        coefficients,
        intercepts: vec![intercept],
        precision: Precision::Double,
        missing,
        link: Link::Identity,
    })
}

/// Runs `scorer` from the file `input` to the file `output`, formats from their extensions.
pub(crate) fn score_file(scorer: &Scorer, input: &Path, output: &Path) -> Result<Summary, Error> {
    scorer.run(
        Source::path(input, None)?,
        &Sink::path(output, None)?,
        &mut |_| {},
    )
}

/// A model that predicts `x0` and fails on any row whose `x0` is negative.
#[derive(Debug)]
pub(crate) struct FailsOnNegative(pub Signature);

impl FailsOnNegative {
    pub(crate) fn new(features: usize) -> Arc<Self> {
        Arc::new(FailsOnNegative(Signature::new(
            numeric(features),
            Task::Regression,
        )))
    }
}

impl Model for FailsOnNegative {
    fn signature(&self) -> &Signature {
        &self.0
    }

    fn predict_into(
        &self,
        features: ArrayView2<'_, f64>,
        outputs: &mut [OutputSlot<'_>],
    ) -> Result<(), PredictError> {
        self.0.check_shapes(&features, outputs)?;
        for (i, row) in features.rows().into_iter().enumerate() {
            if row[0] < 0.0 {
                // Any error will do: the tests check that nothing is written.
                return Err(PredictError::FeatureCount {
                    expected: 0,
                    found: 0,
                });
            }
            for slot in outputs.iter_mut() {
                slot.out[[i, 0]] = row[0];
            }
        }
        Ok(())
    }
}

/// `rows` rows: an `id` column, the features `x0..` in reverse order (so order matters not),
/// some missing values, and a `target` the model ignores.
pub(crate) fn frame(rows: usize, features: usize, seed: u64) -> DataFrame {
    let mut rng = Rng::new(seed);
    let mut columns = vec![Column::new(
        "id".into(),
        (0..rows as i64).map(|i| i * 10 + 1).collect::<Vec<_>>(),
    )];
    for j in (0..features).rev() {
        let values: Vec<Option<f64>> = (0..rows)
            .map(|_| (rng.below(20) != 0).then(|| (rng.unit() * 1e6).round() / 1e6))
            .collect();
        columns.push(Column::new(format!("x{j}").into(), values));
    }
    columns.push(Column::new(
        "target".into(),
        (0..rows).map(|i| (i % 2) as i64).collect::<Vec<_>>(),
    ));
    DataFrame::new(rows, columns).unwrap()
}

/// The model's `output` for the features `x0..` of `frame`, computed with `Model::predict`
/// directly: the reference the batch machinery must reproduce.
pub(crate) fn reference(model: &dyn Model, frame: &DataFrame, output: Output) -> Array2<f64> {
    let features = model.signature().num_features();
    let mut x = Array2::<f64>::zeros((frame.height(), features));
    for j in 0..features {
        let column = frame
            .column(&format!("x{j}"))
            .unwrap()
            .cast(&DataType::Float64)
            .unwrap();
        for (i, v) in column.f64().unwrap().iter().enumerate() {
            x[[i, j]] = v.unwrap_or(f64::NAN);
        }
    }
    model.predict(x.view(), output).unwrap()
}

/// The values of a float column, with nulls as `NaN`.
pub(crate) fn floats(frame: &DataFrame, name: &str) -> Vec<f64> {
    let column = frame
        .column(name)
        .unwrap()
        .cast(&DataType::Float64)
        .unwrap();
    column
        .f64()
        .unwrap()
        .iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect()
}

/// Bitwise equality, so `NaN` equals `NaN` and nothing is approximately equal.
pub(crate) fn same_bits(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// Reads a file back with polars' eager readers.
pub(crate) fn read(path: &std::path::Path) -> DataFrame {
    let pl_path = PlRefPath::try_from_path(path).unwrap();
    let lf = match path.extension().and_then(|e| e.to_str()).unwrap() {
        "csv" => LazyCsvReader::new(pl_path).finish().unwrap(),
        "parquet" => LazyFrame::scan_parquet(pl_path, Default::default()).unwrap(),
        "arrow" => LazyFrame::scan_ipc(pl_path, Default::default(), Default::default()).unwrap(),
        "ndjson" => LazyJsonLineReader::new(pl_path).finish().unwrap(),
        other => panic!("no reader for .{other}"),
    };
    lf.collect().unwrap()
}

/// Writes `frame` to `path` in the format of its extension.
pub(crate) fn write(frame: &DataFrame, path: &std::path::Path) {
    let mut frame = frame.clone();
    let file = std::fs::File::create(path).unwrap();
    match path.extension().and_then(|e| e.to_str()).unwrap() {
        "csv" => CsvWriter::new(file).finish(&mut frame).unwrap(),
        "parquet" => {
            ParquetWriter::new(file).finish(&mut frame).unwrap();
        }
        "arrow" => IpcWriter::new(file).finish(&mut frame).unwrap(),
        "ndjson" => JsonWriter::new(file)
            .with_json_format(JsonFormat::JsonLines)
            .finish(&mut frame)
            .unwrap(),
        other => panic!("no writer for .{other}"),
    }
}

/// Writes `frame` into a new SQLite table.
pub(crate) fn write_sqlite(frame: &DataFrame, path: &std::path::Path, table: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let columns: Vec<String> = frame
        .columns()
        .iter()
        .map(|c| {
            let kind = if c.dtype().is_integer() {
                "INTEGER"
            } else if c.dtype().is_float() {
                "REAL"
            } else {
                "TEXT"
            };
            format!("\"{}\" {kind}", c.name())
        })
        .collect();
    conn.execute_batch(&format!(
        "CREATE TABLE \"{table}\" ({})",
        columns.join(", ")
    ))
    .unwrap();
    let marks = vec!["?"; frame.width()].join(", ");
    let mut insert = conn
        .prepare(&format!("INSERT INTO \"{table}\" VALUES ({marks})"))
        .unwrap();
    for i in 0..frame.height() {
        let row: Vec<rusqlite::types::Value> = frame
            .columns()
            .iter()
            .map(|c| match c.get(i).unwrap() {
                AnyValue::Null => rusqlite::types::Value::Null,
                AnyValue::Int64(v) => rusqlite::types::Value::Integer(v),
                AnyValue::Int32(v) => rusqlite::types::Value::Integer(v.into()),
                AnyValue::Float64(v) => rusqlite::types::Value::Real(v),
                AnyValue::String(v) => rusqlite::types::Value::Text(v.to_owned()),
                other => rusqlite::types::Value::Text(other.to_string()),
            })
            .collect();
        insert.execute(rusqlite::params_from_iter(row)).unwrap();
    }
}

/// Reads a whole SQLite table: its column names, and every row as text (`NULL` for null).
pub(crate) fn read_sqlite(
    path: &std::path::Path,
    table: &str,
) -> (Vec<String>, Vec<Vec<rusqlite::types::Value>>) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut statement = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
    let names: Vec<String> = statement.column_names().map(str::to_owned).collect();
    let width = names.len();
    let rows = statement
        .query_map([], |row| {
            (0..width)
                .map(|i| row.get::<_, rusqlite::types::Value>(i))
                .collect()
        })
        .unwrap()
        .collect::<Result<Vec<Vec<_>>, _>>()
        .unwrap();
    (names, rows)
}

/// The column names of a frame.
pub(crate) fn column_names(frame: &DataFrame) -> Vec<String> {
    frame
        .get_column_names()
        .into_iter()
        .map(|n| n.to_string())
        .collect()
}
