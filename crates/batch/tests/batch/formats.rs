//! Every input format into every output format, against `Model::predict` directly.

use std::num::NonZeroUsize;
use std::path::Path;

use crate::common::*;
use polars::prelude::*;
use rusqlite::types::Value;
use verdict_batch::{Options, Passthrough, Scorer, Sink, Source, SqliteInput};
use verdict_model::Output;

const FILE_FORMATS: [&str; 4] = ["csv", "parquet", "arrow", "ndjson"];

fn options() -> Options {
    Options {
        passthrough: Passthrough::Columns(vec!["id".into()]),
        chunk_rows: NonZeroUsize::new(128).unwrap(),
        ..Options::default()
    }
}

/// Checks a scored file of the binary model against the reference predictions.
fn check_binary(
    scored: &DataFrame,
    input: &DataFrame,
    model: &dyn verdict_model::Model,
    what: &str,
) {
    assert_eq!(
        column_names(scored),
        ["id", "label", "proba_0", "proba_1"],
        "{what}"
    );
    assert_eq!(floats(scored, "id"), floats(input, "id"), "{what}");
    let labels = reference(model, input, Output::Predict);
    let proba = reference(model, input, Output::PredictProba);
    assert_eq!(
        scored.column("label").unwrap().dtype(),
        &DataType::Int64,
        "{what}"
    );
    assert!(
        same_bits(&floats(scored, "label"), &labels.column(0).to_vec()),
        "{what}"
    );
    assert!(
        same_bits(&floats(scored, "proba_0"), &proba.column(0).to_vec()),
        "{what}"
    );
    assert!(
        same_bits(&floats(scored, "proba_1"), &proba.column(1).to_vec()),
        "{what}"
    );
}

#[test]
fn every_file_format_into_every_file_format() {
    let dir = tempfile::tempdir().unwrap();
    let input = frame(1000, 5, 7);
    let model = binary(5);
    let scorer = Scorer::new(model.clone(), options()).unwrap();
    for from in FILE_FORMATS {
        let source_path = dir.path().join(format!("rows.{from}"));
        write(&input, &source_path);
        for to in FILE_FORMATS {
            let output = dir.path().join(format!("from-{from}.{to}"));
            let summary = score_file(&scorer, &source_path, &output).unwrap();
            assert_eq!(summary.rows, 1000);
            check_binary(
                &read(&output),
                &input,
                model.as_ref(),
                &format!("{from} -> {to}"),
            );
        }
    }
}

fn sqlite_rows_match(
    path: &Path,
    table: &str,
    input: &DataFrame,
    model: &dyn verdict_model::Model,
) {
    let (names, rows) = read_sqlite(path, table);
    assert_eq!(names, ["id", "label", "proba_0", "proba_1"]);
    let labels = reference(model, input, Output::Predict);
    let proba = reference(model, input, Output::PredictProba);
    let ids = floats(input, "id");
    assert_eq!(rows.len(), input.height());
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row[0], Value::Integer(ids[i] as i64));
        assert_eq!(row[1], Value::Integer(labels[[i, 0]] as i64), "row {i}");
        assert_eq!(row[2], Value::Real(proba[[i, 0]]), "row {i}");
        assert_eq!(row[3], Value::Real(proba[[i, 1]]), "row {i}");
    }
}

#[test]
fn every_file_format_into_a_sqlite_table() {
    let dir = tempfile::tempdir().unwrap();
    let input = frame(700, 5, 8);
    let model = binary(5);
    let scorer = Scorer::new(model.clone(), options()).unwrap();
    let db = dir.path().join("out.sqlite");
    for from in FILE_FORMATS {
        let source_path = dir.path().join(format!("rows.{from}"));
        write(&input, &source_path);
        let table = format!("scores_{from}");
        scorer
            .run(
                Source::path(&source_path, None).unwrap(),
                &Sink::sqlite(&db, &table),
                &mut |_| {},
            )
            .unwrap();
        sqlite_rows_match(&db, &table, &input, model.as_ref());
    }
}

#[test]
fn a_sqlite_table_or_query_into_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let input = frame(600, 5, 9);
    let model = binary(5);
    let db = dir.path().join("in.db");
    write_sqlite(&input, &db, "rows");
    let scorer = Scorer::new(model.clone(), options()).unwrap();
    for to in FILE_FORMATS {
        let output = dir.path().join(format!("scored.{to}"));
        scorer
            .run(
                Source::sqlite(&db, SqliteInput::Table("rows".into())),
                &Sink::path(&output, None).unwrap(),
                &mut |_| {},
            )
            .unwrap();
        check_binary(
            &read(&output),
            &input,
            model.as_ref(),
            &format!("sqlite -> {to}"),
        );
    }
    // A query, into a table of another database.
    let out = dir.path().join("out.db");
    let query = SqliteInput::Query("SELECT * FROM rows WHERE id > 3000 ORDER BY id".into());
    scorer
        .run(
            Source::sqlite(&db, query),
            &Sink::sqlite(&out, "scores"),
            &mut |_| {},
        )
        .unwrap();
    let ids = input.column("id").unwrap().i64().unwrap().clone();
    let mask = ids.gt(3000);
    let expected = input.filter(&mask).unwrap();
    sqlite_rows_match(&out, "scores", &expected, model.as_ref());
}

#[test]
fn sqlite_sinks_append_and_replace() {
    let dir = tempfile::tempdir().unwrap();
    let input = frame(50, 5, 10);
    let model = binary(5);
    let source_path = dir.path().join("rows.parquet");
    write(&input, &source_path);
    let scorer = Scorer::new(model.clone(), options()).unwrap();
    let db = dir.path().join("out.sqlite");
    let source = || Source::path(&source_path, None).unwrap();
    let sink = Sink::path(&db, None).unwrap();
    scorer.run(source(), &sink, &mut |_| {}).unwrap();

    let error = scorer.run(source(), &sink, &mut |_| {}).unwrap_err();
    assert!(
        error.to_string().starts_with("table `predictions` of "),
        "{error}"
    );

    let append = sink.clone().with_if_exists(verdict_batch::IfExists::Append);
    scorer.run(source(), &append, &mut |_| {}).unwrap();
    assert_eq!(read_sqlite(&db, "predictions").1.len(), 100);

    let replace = sink.with_if_exists(verdict_batch::IfExists::Replace);
    scorer.run(source(), &replace, &mut |_| {}).unwrap();
    sqlite_rows_match(&db, "predictions", &input, model.as_ref());
}

#[test]
fn classifiers_write_text_labels_and_every_output() {
    let input = frame(300, 4, 11);
    let model = multiclass(4);
    let options = Options {
        outputs: vec![Output::Predict, Output::PredictProba, Output::Raw],
        ..Options::default()
    };
    let scored = Scorer::new(model.clone(), options)
        .unwrap()
        .score_frame(&input)
        .unwrap();
    assert_eq!(
        column_names(&scored),
        [
            "label",
            "proba_setosa",
            "proba_versicolor",
            "proba_virginica",
            "raw_0",
            "raw_1",
            "raw_2"
        ]
    );
    let index = reference(model.as_ref(), &input, Output::Predict);
    let names = ["setosa", "versicolor", "virginica"];
    let labels: Vec<&str> = scored
        .column("label")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(Option::unwrap)
        .collect();
    let expected: Vec<&str> = index.column(0).iter().map(|&i| names[i as usize]).collect();
    assert_eq!(labels, expected);
    let raw = reference(model.as_ref(), &input, Output::Raw);
    for k in 0..3 {
        assert!(same_bits(
            &floats(&scored, &format!("raw_{k}")),
            &raw.column(k).to_vec()
        ));
    }
}

#[test]
fn directories_and_globs_read_every_file_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let input = frame(900, 3, 12);
    for (i, part) in [
        input.slice(0, 300),
        input.slice(300, 300),
        input.slice(600, 300),
    ]
    .iter()
    .enumerate()
    {
        write(part, &data.join(format!("part-{i}.csv")));
    }
    std::fs::write(data.join("README.md"), "not data").unwrap();
    let model = regressor(3);
    let scorer = Scorer::new(model.clone(), options()).unwrap();
    let expected = reference(model.as_ref(), &input, Output::Predict);
    for pattern in [data.clone(), data.join("part-*.csv")] {
        let output = dir.path().join("out.parquet");
        let sink = Sink::path(&output, None)
            .unwrap()
            .with_if_exists(verdict_batch::IfExists::Replace);
        scorer
            .run(Source::path(&pattern, None).unwrap(), &sink, &mut |_| {})
            .unwrap();
        let scored = read(&output);
        assert_eq!(floats(&scored, "id"), floats(&input, "id"));
        assert!(same_bits(
            &floats(&scored, "prediction"),
            &expected.column(0).to_vec()
        ));
    }
}

#[test]
fn passthrough_keeps_the_columns_asked_for() {
    let input = frame(20, 3, 13);
    let model = regressor(3);
    let scored = |passthrough| {
        let options = Options {
            passthrough,
            ..Options::default()
        };
        Scorer::new(model.clone(), options)
            .unwrap()
            .score_frame(&input)
            .unwrap()
    };
    assert_eq!(column_names(&scored(Passthrough::None)), ["prediction"]);
    assert_eq!(
        column_names(&scored(Passthrough::Columns(vec![
            "target".into(),
            "id".into()
        ]))),
        ["target", "id", "prediction"]
    );
    let all = scored(Passthrough::All);
    assert_eq!(
        column_names(&all),
        ["id", "x2", "x1", "x0", "target", "prediction"]
    );
    assert!(
        all.select(["id", "x2", "x1", "x0", "target"])
            .unwrap()
            .equals_missing(&input)
    );
}

#[test]
fn categories_are_encoded_by_name() {
    let input = df!(
        "colour" => [Some("blue"), Some("red"), None, Some("purple"), Some("green")],
        "a" => [1.0, 2.0, 3.0, 4.0, 5.0]
    )
    .unwrap();
    let scored = Scorer::new(with_category(), Options::default())
        .unwrap()
        .score_frame(&input)
        .unwrap();
    // y = 1 + a + 10 * code. A missing category is NaN, which this linear model propagates;
    // an unknown one has the code the signature gives it (-1).
    let unknown = 1.0 + 4.0 + 10.0 * verdict_model::UNKNOWN_CATEGORY;
    let expected = [22.0, 3.0, f64::NAN, unknown, 16.0];
    assert!(same_bits(&floats(&scored, "prediction"), &expected));
}
