//! Bad input fails with a message that names the problem; missing values follow the options.

use std::num::NonZeroUsize;

use crate::common::*;
use polars::prelude::*;
use verdict_batch::{
    Error, Event, Matching, Options, Passthrough, Scorer, Sink, Source, SqliteInput,
};
use verdict_model::Output;

fn run_csv(
    model: std::sync::Arc<dyn verdict_model::Model>,
    csv: &str,
    options: Options,
) -> Result<DataFrame, Error> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    std::fs::write(&input, csv).unwrap();
    let output = dir.path().join("out.parquet");
    score_file(&Scorer::new(model, options)?, &input, &output)?;
    Ok(read(&output))
}

fn message(error: Error) -> String {
    error
        .to_string()
        .replace(&std::env::temp_dir().display().to_string(), "TMP")
}

#[test]
fn a_missing_feature_lists_every_missing_name_with_close_matches() {
    let error = run_csv(
        regressor(4),
        "id,X_1,x0,x3,x_2z\n1,1,2,3,4\n",
        Options::default(),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the input has no column for 2 of the model's 4 features: `x1` (did you mean `X_1`?), `x2`"
    );
    let error = run_csv(with_category(), "a,color\n1,red\n", Options::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the input has no column for 1 of the model's 2 features: `colour` (did you mean `color`?)"
    );
}

#[test]
fn a_missing_passthrough_column_is_named() {
    let options = Options {
        passthrough: Passthrough::Columns(vec!["ID".into(), "key".into()]),
        ..Options::default()
    };
    let error = run_csv(regressor(1), "id,x0\n1,2\n", options).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the input has no column `ID` (did you mean `id`?), `key` to pass through"
    );
}

#[test]
fn text_in_a_numeric_csv_column_names_column_row_and_value() {
    // Within the rows polars infers types from ...
    let error = run_csv(regressor(2), "x0,x1\n1,2\n3,abc\n5,6\n", Options::default()).unwrap_err();
    assert!(message(error).ends_with("in.csv: `abc` is not a number"));
    // ... and far past them, in a later chunk.
    let mut csv = String::from("x1,x0\n");
    for i in 0..5000 {
        csv.push_str(&format!("{i}.5,{i}\n"));
    }
    csv.push_str("1.5,n/a\n");
    let options = Options {
        chunk_rows: NonZeroUsize::new(1000).unwrap(),
        ..Options::default()
    };
    let error = run_csv(regressor(2), &csv, options).unwrap_err();
    let text = message(error);
    assert!(text.starts_with("column `x0`, row 5001 of "), "{text}");
    assert!(text.ends_with("in.csv: `n/a` is not a number"), "{text}");
}

#[test]
fn text_in_a_numeric_column_of_other_formats_names_column_row_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let frame = df!("x0" => ["1.5", "2", "", "x"], "x1" => [1.0, 2.0, 3.0, 4.0]).unwrap();
    let path = dir.path().join("in.parquet");
    write(&frame, &path);
    let scorer = Scorer::new(regressor(2), Options::default()).unwrap();
    let out = dir.path().join("out.csv");
    let error = scorer
        .run(
            Source::path(&path, None).unwrap(),
            &Sink::path(&out, None).unwrap(),
            &mut |_| {},
        )
        .unwrap_err();
    assert_eq!(
        message(error),
        format!(
            "column `x0`, row 4 of {}: `x` is not a number",
            path.display()
        )
        .replace(&std::env::temp_dir().display().to_string(), "TMP")
    );

    let db = dir.path().join("in.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE t (x0 REAL, x1 REAL); INSERT INTO t VALUES (1, 2), (3, 'seven');",
    )
    .unwrap();
    let source = Source::sqlite(&db, SqliteInput::Table("t".into()));
    let error = scorer
        .run(source, &Sink::path(&out, None).unwrap(), &mut |_| {})
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "column `x1`, row 2: `seven` is not a number"
    );
    assert!(!out.exists());
}

#[test]
fn nulls_are_missing_values_unless_strict() {
    let csv = "x0,x1,x2\n0.25,,0.75\n0.5,0.5,\n";
    let model = regressor(3);
    let lenient = run_csv(model.clone(), csv, Options::default()).unwrap();
    let input =
        df!("x0" => [0.25, 0.5], "x1" => [None, Some(0.5)], "x2" => [Some(0.75), None]).unwrap();
    let expected = reference(model.as_ref(), &input, Output::Predict);
    assert!(same_bits(
        &floats(&lenient, "prediction"),
        &expected.column(0).to_vec()
    ));

    let strict = Options {
        strict: true,
        ..Options::default()
    };
    let error = run_csv(model.clone(), csv, strict.clone()).unwrap_err();
    let text = message(error);
    assert!(text.starts_with("column `x1`, row 1 of "), "{text}");
    assert!(
        text.ends_with("in.csv: the value is missing (strict mode rejects nulls)"),
        "{text}"
    );
    let error = Scorer::new(model, strict)
        .unwrap()
        .score_frame(&input)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "column `x1`, row 1: the value is missing (strict mode rejects nulls)"
    );
}

#[test]
fn csv_null_values_are_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    std::fs::write(&input, "x0;x1\n0.25;NA\n0.5;0.5\n").unwrap();
    let csv = verdict_batch::CsvOptions {
        delimiter: b';',
        null_values: vec!["NA".into()],
        ..Default::default()
    };
    let output = dir.path().join("out.csv");
    let model = regressor(2);
    Scorer::new(model.clone(), Options::default())
        .unwrap()
        .run(
            Source::path(&input, None).unwrap().with_csv(csv),
            &Sink::path(&output, None).unwrap(),
            &mut |_| {},
        )
        .unwrap();
    let expected_input = df!("x0" => [0.25, 0.5], "x1" => [None, Some(0.5)]).unwrap();
    let expected = reference(model.as_ref(), &expected_input, Output::Predict);
    assert!(same_bits(
        &floats(&read(&output), "prediction"),
        &expected.column(0).to_vec()
    ));
}

#[test]
fn unknown_categories_get_the_unknown_code_unless_strict() {
    let csv = "a,colour\n1,green\n2,mauve\n";
    let lenient = run_csv(with_category(), csv, Options::default()).unwrap();
    let unknown = 1.0 + 2.0 + 10.0 * verdict_model::UNKNOWN_CATEGORY;
    assert!(same_bits(&floats(&lenient, "prediction"), &[12.0, unknown]));
    let strict = Options {
        strict: true,
        ..Options::default()
    };
    let error = run_csv(with_category(), csv, strict).unwrap_err();
    let text = message(error);
    assert!(text.starts_with("column `colour`, row 2 of "), "{text}");
    assert!(
        text.ends_with(
            "`mauve` is not one of the model's categories (strict mode rejects unknown categories)"
        ),
        "{text}"
    );
}

#[test]
fn numbers_as_category_names_are_read_as_text() {
    // Category names that look like numbers must not be read as numbers.
    let signature = verdict_model::Signature::new(
        vec![
            verdict_model::Feature::numeric("a"),
            verdict_model::Feature::categorical("colour", vec!["10".into(), "7".into()]),
        ],
        verdict_model::Task::Regression,
    );
    let (_, family) = std::sync::Arc::try_unwrap(with_category())
        .unwrap()
        .into_parts();
    let model = std::sync::Arc::new(verdict_model::NativeModel::new(signature, family).unwrap());
    let scored = run_csv(model, "a,colour\n1,7\n1,10\n1,07\n", Options::default()).unwrap();
    let unknown = 1.0 + 1.0 + 10.0 * verdict_model::UNKNOWN_CATEGORY;
    assert!(same_bits(
        &floats(&scored, "prediction"),
        &[12.0, 2.0, unknown]
    ));
}

#[test]
fn an_empty_input_gives_an_empty_output_with_the_schema() {
    let options = Options {
        passthrough: Passthrough::Columns(vec!["id".into()]),
        ..Options::default()
    };
    let scored = run_csv(binary(2), "id,x0,x1\n", options.clone()).unwrap();
    assert_eq!(scored.height(), 0);
    assert_eq!(column_names(&scored), ["id", "label", "proba_0", "proba_1"]);
    assert_eq!(scored.column("label").unwrap().dtype(), &DataType::Int64);

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("in.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE t (id INTEGER, x0 REAL, x1 REAL)")
        .unwrap();
    let out = dir.path().join("out.sqlite");
    Scorer::new(binary(2), options)
        .unwrap()
        .run(
            Source::sqlite(&db, SqliteInput::Table("t".into())),
            &Sink::sqlite(&out, "p"),
            &mut |_| {},
        )
        .unwrap();
    let (names, rows) = read_sqlite(&out, "p");
    assert_eq!(names, ["id", "label", "proba_0", "proba_1"]);
    assert!(rows.is_empty());
}

#[test]
fn an_output_column_never_overwrites_an_input_column() {
    let csv = "id,prediction,x0\n1,5,0.5\n";
    let all = Options {
        passthrough: Passthrough::All,
        ..Options::default()
    };
    let error = run_csv(regressor(1), csv, all.clone()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the output column `prediction` clashes with the input column of that name; set an output \
         prefix (--prefix) or do not pass `prediction` through"
    );
    let prefixed = Options {
        prefix: "pred_".into(),
        ..all
    };
    let scored = run_csv(regressor(1), csv, prefixed).unwrap();
    assert_eq!(
        column_names(&scored),
        ["id", "prediction", "x0", "pred_prediction"]
    );
}

#[test]
fn models_without_feature_names_match_by_position_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    std::fs::write(&input, "id,a,b\n1,5,1\n2,1,1\n").unwrap();
    let output = dir.path().join("out.csv");
    let options = Options {
        passthrough: Passthrough::Columns(vec!["id".into()]),
        ..Options::default()
    };
    let mut matched = None;
    Scorer::new(positional(), options.clone())
        .unwrap()
        .run(
            Source::path(&input, None).unwrap(),
            &Sink::path(&output, None).unwrap(),
            &mut |event| {
                if let Event::Matched(m) = event {
                    matched = Some(m);
                }
            },
        )
        .unwrap();
    assert_eq!(
        matched,
        Some(Matching::ByPosition {
            columns: vec!["a".into(), "b".into()]
        })
    );
    assert_eq!(floats(&read(&output), "prediction"), [3.0, -1.0]);

    // Without `id` passed through, three columns cannot feed two features.
    let error = run_csv(positional(), "id,a,b\n1,5,1\n", Options::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the model has no feature names, so its 2 features are matched by position, but the input \
         has 3 columns besides the passed-through ones: id, a, b"
    );
    // Columns named like the model's own names are matched by name.
    let scored = run_csv(positional(), "f1,f0\n1,5\n", Options::default()).unwrap();
    assert_eq!(floats(&scored, "prediction"), [3.0]);
}

#[test]
fn a_column_of_an_unusable_type_is_named() {
    let frame = df!("x0" => [[1.0f64, 2.0].iter().collect::<Series>()]).unwrap();
    let error = Scorer::new(regressor(1), Options::default())
        .unwrap()
        .score_frame(&frame)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "column `x0` has type list[f64], which cannot feed the numeric feature `x0`"
    );
}

#[test]
fn outputs_the_model_lacks_are_refused_up_front() {
    let options = Options {
        outputs: vec![Output::PredictProba],
        ..Options::default()
    };
    let error = Scorer::new(regressor(1), options).unwrap_err();
    assert_eq!(
        error.to_string(),
        "this regression model has no `predict_proba` output (it has: predict, raw)"
    );
}

#[test]
fn a_missing_value_a_linear_model_rejects_is_named_by_row() {
    use verdict_model::family::linear::LinearMissing;
    use verdict_model::{NativeModel, Signature, Task};

    // As scikit-learn's linear models are imported: NaN is an error, not a NaN prediction.
    let signature = Signature::new(numeric(2), Task::Regression);
    let family = linear(vec![1.0, 2.0], 0.0, LinearMissing::Reject);
    let model = std::sync::Arc::new(NativeModel::new(signature, family).unwrap());
    let error = run_csv(model, "x0,x1\n1,2\n3,\n", Options::default()).unwrap_err();
    let text = message(error);
    assert!(text.starts_with("row 2 of "), "{text}");
    assert!(
        text.contains("in.csv: the model rejects the missing value at its input 1"),
        "{text}"
    );
}

#[test]
fn an_id_that_turns_alphanumeric_after_the_first_rows_still_reads() {
    // polars would type `id` from its first 100 rows; Verdict looks at 10,000.
    let mut csv = String::from("id,x0\n");
    for i in 0..5_000 {
        csv += &format!("{i},0.5\n");
    }
    csv += "A17,0.5\n";
    let options = Options {
        passthrough: Passthrough::Columns(vec!["id".into()]),
        ..Options::default()
    };
    let scored = run_csv(regressor(1), &csv, options).unwrap();
    assert_eq!(scored.column("id").unwrap().dtype(), &DataType::String);
    assert_eq!(scored.height(), 5_001);
}
