//! Streaming in chunks gives exactly the one-shot result, and shards partition the input.

use std::num::NonZeroUsize;

use crate::common::*;
use polars::prelude::*;
use verdict_batch::{IfExists, Options, Passthrough, Scorer, Shard, Sink, Source};
use verdict_model::Output;

fn options(chunk_rows: usize) -> Options {
    Options {
        outputs: vec![Output::Predict, Output::PredictProba, Output::Raw],
        passthrough: Passthrough::All,
        chunk_rows: NonZeroUsize::new(chunk_rows).unwrap(),
        ..Options::default()
    }
}

fn regression(chunk_rows: usize) -> Options {
    Options {
        outputs: vec![Output::Predict, Output::Raw],
        ..options(chunk_rows)
    }
}

#[test]
fn chunked_runs_equal_the_one_shot_run_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let input = frame(2000, 6, 21);
    let model = multiclass(6);
    let one_shot = Scorer::new(model.clone(), options(1))
        .unwrap()
        .score_frame(&input)
        .unwrap();
    assert_eq!(one_shot.height(), 2000);

    let csv = dir.path().join("rows.csv");
    write(&input, &csv);
    for chunk_rows in [1, 7, 511, 512, 513, 1999, 2000, 65_536] {
        let scorer = Scorer::new(model.clone(), options(chunk_rows)).unwrap();
        let output = dir.path().join(format!("chunked-{chunk_rows}.parquet"));
        let mut chunks = 0;
        let summary = scorer
            .run(
                Source::path(&csv, None).unwrap(),
                &Sink::path(&output, None).unwrap(),
                &mut |event| {
                    if let verdict_batch::Event::Progress { .. } = event {
                        chunks += 1;
                    }
                },
            )
            .unwrap();
        assert_eq!(summary.rows, 2000);
        assert_eq!(
            chunks,
            2000usize.div_ceil(chunk_rows),
            "chunks of {chunk_rows}"
        );
        let streamed = read(&output);
        assert!(
            streamed.equals_missing(&one_shot),
            "chunks of {chunk_rows}:\n{streamed}\n{one_shot}"
        );

        // The same through a lazy frame and through a frame in memory.
        let lazy = scorer.score_lazy(input.clone().lazy()).unwrap();
        assert!(
            lazy.equals_missing(&one_shot),
            "lazy, chunks of {chunk_rows}"
        );
    }
}

#[test]
fn the_thread_count_does_not_change_the_result() {
    let input = frame(3000, 4, 22);
    let model = binary(4);
    let one = Options {
        threads: NonZeroUsize::new(1),
        ..options(1000)
    };
    let three = Options {
        threads: NonZeroUsize::new(3),
        ..options(1000)
    };
    let a = Scorer::new(model.clone(), one)
        .unwrap()
        .score_lazy(input.clone().lazy())
        .unwrap();
    let b = Scorer::new(model, three)
        .unwrap()
        .score_lazy(input.lazy())
        .unwrap();
    assert!(a.equals_missing(&b));
}

/// Scores every shard of `source` and checks that together they are the whole, in order.
fn check_shards(
    source: impl Fn() -> Source,
    count: u64,
    whole: &DataFrame,
    dir: &std::path::Path,
) -> Vec<usize> {
    let scorer = Scorer::new(regressor(3), regression(100)).unwrap();
    let mut parts = Vec::new();
    let mut heights = Vec::new();
    for index in 0..count {
        let output = dir.join(format!("shard-{index}-of-{count}.parquet"));
        let sink = Sink::path(&output, None)
            .unwrap()
            .with_if_exists(IfExists::Replace);
        scorer
            .run(
                source().with_shard(Shard::new(index, count).unwrap()),
                &sink,
                &mut |_| {},
            )
            .unwrap();
        let part = read(&output);
        heights.push(part.height());
        parts.push(part);
    }
    let mut together = parts[0].clone();
    for part in &parts[1..] {
        together.vstack_mut(part).unwrap();
    }
    assert!(together.equals_missing(whole), "{count} shards");
    heights
}

#[test]
fn shards_of_one_file_are_row_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let input = frame(1001, 3, 23);
    let csv = dir.path().join("rows.csv");
    write(&input, &csv);
    let whole = Scorer::new(regressor(3), regression(100))
        .unwrap()
        .score_frame(&input)
        .unwrap();
    for count in [1, 2, 3, 7] {
        let heights = check_shards(
            || Source::path(&csv, None).unwrap(),
            count,
            &whole,
            dir.path(),
        );
        let (min, max) = (heights.iter().min().unwrap(), heights.iter().max().unwrap());
        assert!(max - min <= 1, "uneven row ranges {heights:?}");
    }
    // A frame in memory shards the same way.
    check_shards(|| Source::frame(input.clone()), 4, &whole, dir.path());
}

#[test]
fn shards_of_many_parquet_files_are_row_groups() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let input = frame(1000, 3, 24);
    // Three files of 400, 350 and 250 rows in row groups of at most 100.
    for (i, (offset, len)) in [(0, 400), (400, 350), (750, 250)].into_iter().enumerate() {
        let mut part = input.slice(offset, len);
        let file = std::fs::File::create(data.join(format!("part-{i}.parquet"))).unwrap();
        ParquetWriter::new(file)
            .with_row_group_size(Some(100))
            .finish(&mut part)
            .unwrap();
    }
    let whole = Scorer::new(regressor(3), regression(100))
        .unwrap()
        .score_frame(&input)
        .unwrap();
    // The row groups as written (polars evens them out: 350 rows make 116 + 116 + 118).
    let mut groups = Vec::new();
    for i in 0..3 {
        let file = std::fs::File::open(data.join(format!("part-{i}.parquet"))).unwrap();
        let mut reader = polars::io::parquet::read::ParquetReader::new(file);
        groups.extend(
            reader
                .get_metadata()
                .unwrap()
                .row_groups
                .iter()
                .map(|g| g.num_rows()),
        );
    }
    assert_eq!(groups.len(), 9);
    let heights = check_shards(|| Source::path(&data, None).unwrap(), 4, &whole, dir.path());
    // 9 row groups in 4 shards: groups 0-1, 2-3, 4-5 and 6-8.
    let expected: Vec<usize> = [0..2, 2..4, 4..6, 6..9]
        .map(|r| groups[r].iter().sum())
        .to_vec();
    assert_eq!(heights, expected);
}

#[test]
fn shards_of_many_csv_files_are_whole_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let input = frame(600, 3, 25);
    for i in 0..6 {
        write(
            &input.slice(i * 100, 100),
            &data.join(format!("part-{i}.csv")),
        );
    }
    let whole = Scorer::new(regressor(3), regression(100))
        .unwrap()
        .score_frame(&input)
        .unwrap();
    let heights = check_shards(
        || Source::path(data.join("*.csv"), None).unwrap(),
        4,
        &whole,
        dir.path(),
    );
    assert_eq!(heights, [100, 200, 100, 200]);
}

#[test]
fn text_records_stay_whole_across_chunks_and_shards() {
    // CSV: newlines and quotes inside quoted fields; NDJSON: escaped ones inside strings.
    let dir = tempfile::tempdir().unwrap();
    let mut input = frame(300, 3, 26);
    let notes: Vec<String> = (0..300)
        .map(|i| match i % 3 {
            0 => format!("line one\nline two of {i}"),
            1 => format!("say \"hi\",\r\n{i}"),
            _ => format!("plain {i}"),
        })
        .collect();
    input
        .with_column(Column::new("note".into(), notes))
        .unwrap();
    let whole = Scorer::new(regressor(3), regression(100))
        .unwrap()
        .score_frame(&input)
        .unwrap();
    for extension in ["csv", "ndjson"] {
        let path = dir.path().join(format!("notes.{extension}"));
        write(&input, &path);
        for chunk_rows in [1, 7, 100, 1000] {
            let output = dir
                .path()
                .join(format!("notes-{extension}-{chunk_rows}.parquet"));
            let scorer = Scorer::new(regressor(3), regression(chunk_rows)).unwrap();
            score_file(&scorer, &path, &output).unwrap();
            let streamed = read(&output);
            assert!(
                streamed.equals_missing(&whole),
                "{extension}, chunks of {chunk_rows}:\n{streamed}\n{whole}"
            );
        }
        let shards = dir.path().join(extension);
        std::fs::create_dir(&shards).unwrap();
        check_shards(|| Source::path(&path, None).unwrap(), 4, &whole, &shards);
    }
}

#[test]
fn a_json_feature_of_integers_that_turns_decimal_late_still_reads() {
    // polars infers an NDJSON column's type from the first rows; features are read as f64.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("late.ndjson");
    let lines: String = (0..500)
        .map(|i| {
            let x0 = if i < 400 {
                format!("{i}")
            } else {
                format!("{i}.5")
            };
            format!("{{\"x0\": {x0}, \"x1\": 0.25, \"x2\": {}}}\n", i % 7)
        })
        .collect();
    std::fs::write(&path, lines).unwrap();
    let x0: Vec<f64> = (0..500)
        .map(|i| if i < 400 { i as f64 } else { i as f64 + 0.5 })
        .collect();
    let x2: Vec<f64> = (0..500).map(|i| (i % 7) as f64).collect();
    let input = df!("x0" => x0, "x1" => vec![0.25; 500], "x2" => x2).unwrap();
    let expected = reference(regressor(3).as_ref(), &input, Output::Predict);
    let output = dir.path().join("late.parquet");
    score_file(
        &Scorer::new(regressor(3), regression(64)).unwrap(),
        &path,
        &output,
    )
    .unwrap();
    assert!(same_bits(
        &floats(&read(&output), "prediction"),
        &expected.column(0).to_vec()
    ));
}
