//! A failed run leaves no output, partial or otherwise, and never touches the input.

use std::num::NonZeroUsize;
use std::path::Path;

use crate::common::*;
use polars::prelude::*;
use verdict_batch::{Cancel, Error, Event, IfExists, Options, Scorer, Sink, Source};

/// The names of the files in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// 10,000 rows whose row 9,001 makes `FailsOnNegative` fail, long after the first chunks
/// were written.
fn failing_input(dir: &Path) -> std::path::PathBuf {
    let mut x0: Vec<f64> = (0..10_000).map(|i| f64::from(i) / 10.0).collect();
    x0[9000] = -1.0;
    let frame = df!("x0" => x0).unwrap();
    let path = dir.join("in.parquet");
    write(&frame, &path);
    path
}

fn options() -> Options {
    Options {
        chunk_rows: NonZeroUsize::new(1000).unwrap(),
        ..Options::default()
    }
}

#[test]
fn a_model_failing_midway_leaves_no_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = failing_input(dir.path());
    let before = std::fs::read(&input).unwrap();
    let scorer = Scorer::new(FailsOnNegative::new(1), options()).unwrap();
    for extension in ["csv", "parquet", "arrow", "ndjson"] {
        let output = dir.path().join(format!("out.{extension}"));
        let error = score_file(&scorer, &input, &output).unwrap_err();
        match error {
            Error::Predict { first, rows, .. } => {
                // Row 9,001 opens the tenth chunk, and so its first block of 512 rows.
                assert_eq!(first.row, 9001, "{extension}");
                assert_eq!(rows, 512);
            }
            other => panic!("unexpected error {other}"),
        }
        assert_eq!(listing(dir.path()), ["in.parquet"], "{extension}");
    }
    assert_eq!(std::fs::read(&input).unwrap(), before);
}

#[test]
fn a_failed_run_keeps_the_previous_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = failing_input(dir.path());
    let output = dir.path().join("out.parquet");
    std::fs::write(&output, b"yesterday's predictions").unwrap();
    let scorer = Scorer::new(FailsOnNegative::new(1), options()).unwrap();
    let sink = Sink::path(&output, None).unwrap();
    // Without --if-exists replace the run does not start.
    let error = scorer
        .run(Source::path(&input, None).unwrap(), &sink, &mut |_| {})
        .unwrap_err();
    assert!(matches!(error, Error::OutputExists { .. }), "{error}");
    // With it, a failure leaves the old file whole.
    let sink = sink.with_if_exists(IfExists::Replace);
    scorer
        .run(Source::path(&input, None).unwrap(), &sink, &mut |_| {})
        .unwrap_err();
    assert_eq!(std::fs::read(&output).unwrap(), b"yesterday's predictions");
    assert_eq!(listing(dir.path()), ["in.parquet", "out.parquet"]);
}

#[test]
fn a_bad_value_deep_in_a_csv_file_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    let mut csv = String::from("x0\n");
    for i in 0..20_000 {
        csv.push_str(&format!("{i}\n"));
    }
    csv.push_str("oops\n1\n");
    std::fs::write(&input, csv).unwrap();
    let scorer = Scorer::new(regressor(1), options()).unwrap();
    let output = dir.path().join("out.csv");
    let error = scorer
        .run(
            Source::path(&input, None).unwrap(),
            &Sink::path(&output, None).unwrap(),
            &mut |_| {},
        )
        .unwrap_err();
    assert!(
        matches!(&error, Error::NotANumber { location, .. } if location.row == 20_001),
        "{error}"
    );
    assert_eq!(listing(dir.path()), ["in.csv"]);
}

#[test]
fn a_failed_run_into_sqlite_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let input = failing_input(dir.path());
    let scorer = Scorer::new(FailsOnNegative::new(1), options()).unwrap();

    // A database the run would have created is not left behind.
    let fresh = dir.path().join("fresh.sqlite");
    scorer
        .run(
            Source::path(&input, None).unwrap(),
            &Sink::sqlite(&fresh, "p"),
            &mut |_| {},
        )
        .unwrap_err();
    assert_eq!(listing(dir.path()), ["in.parquet"]);

    // An existing table survives a failed replace, and other tables are untouched.
    let db = dir.path().join("out.sqlite");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("CREATE TABLE p (prediction REAL); INSERT INTO p VALUES (42); CREATE TABLE other (x); INSERT INTO other VALUES (1);")
        .unwrap();
    drop(conn);
    let sink = Sink::sqlite(&db, "p").with_if_exists(IfExists::Replace);
    scorer
        .run(Source::path(&input, None).unwrap(), &sink, &mut |_| {})
        .unwrap_err();
    assert_eq!(
        read_sqlite(&db, "p").1,
        [[rusqlite::types::Value::Real(42.0)]]
    );
    assert_eq!(read_sqlite(&db, "other").1.len(), 1);
    let sink = Sink::sqlite(&db, "p").with_if_exists(IfExists::Append);
    scorer
        .run(Source::path(&input, None).unwrap(), &sink, &mut |_| {})
        .unwrap_err();
    assert_eq!(read_sqlite(&db, "p").1.len(), 1);
}

#[test]
fn the_output_may_not_be_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    std::fs::write(&input, "x0\n1\n").unwrap();
    let scorer = Scorer::new(regressor(1), Options::default()).unwrap();
    let sink = Sink::path(&input, None)
        .unwrap()
        .with_if_exists(IfExists::Replace);
    let error = scorer
        .run(Source::path(&input, None).unwrap(), &sink, &mut |_| {})
        .unwrap_err();
    assert!(matches!(error, Error::OutputIsInput { .. }), "{error}");
    assert_eq!(std::fs::read_to_string(&input).unwrap(), "x0\n1\n");
}

/// 200,000 rows of `x0`, enough chunks of 1,000 to stop in the middle of.
fn long_input(dir: &Path) -> std::path::PathBuf {
    let x0: Vec<f64> = (0..200_000).map(f64::from).collect();
    let path = dir.join("in.parquet");
    write(&df!("x0" => x0).unwrap(), &path);
    path
}

#[test]
fn a_cancelled_run_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = long_input(dir.path());
    for name in ["out.csv", "out.parquet", "out.sqlite"] {
        let cancel = Cancel::default();
        let options = Options {
            cancel: cancel.clone(),
            ..options()
        };
        let scorer = Scorer::new(regressor(1), options).unwrap();
        let output = dir.path().join(name);
        let mut stop = |event: Event| {
            if matches!(event, Event::Progress { rows } if rows >= 5_000) {
                cancel.cancel();
            }
        };
        let error = scorer
            .run(
                Source::path(&input, None).unwrap(),
                &Sink::path(&output, None).unwrap(),
                &mut stop,
            )
            .unwrap_err();
        assert!(
            matches!(error, Error::Cancelled { rows: 5_000 }),
            "{name}: {error}"
        );
        assert_eq!(listing(dir.path()), ["in.parquet"], "{name}");
    }
}

#[test]
fn a_run_removes_the_partials_of_killed_runs_and_keeps_live_ones() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    std::fs::write(&input, "x0\n1\n").unwrap();
    let stale = dir.path().join(".out.csv.k1LLed.partial");
    std::fs::write(&stale, "x0,prediction\n1,").unwrap();
    let live = dir.path().join(".out.csv.RuNNin.partial");
    let held = std::fs::File::create(&live).unwrap();
    held.lock().unwrap();
    let scorer = Scorer::new(regressor(1), Options::default()).unwrap();
    score_file(&scorer, &input, &dir.path().join("out.csv")).unwrap();
    assert_eq!(
        listing(dir.path()),
        [".out.csv.RuNNin.partial", "in.csv", "out.csv"]
    );
    drop(held);
}

#[cfg(unix)]
#[test]
fn outputs_get_the_mode_of_the_umask_not_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    std::fs::write(&input, "x0\n1\n").unwrap();
    // What the umask lets a new file have, as the file system itself gives it.
    let probe = dir.path().join("probe");
    std::fs::File::create(&probe).unwrap();
    let expected = std::fs::metadata(&probe).unwrap().permissions().mode() & 0o777;
    assert_ne!(expected, 0o600, "a umask of 066 cannot tell the two apart");
    let scorer = Scorer::new(regressor(1), Options::default()).unwrap();
    for name in ["out.csv", "out.sqlite"] {
        let output = dir.path().join(name);
        score_file(&scorer, &input, &output).unwrap();
        let mode = std::fs::metadata(&output).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, expected & 0o666, "{name}");
    }
}

#[test]
fn sqlite_readers_see_the_old_table_during_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let input = long_input(dir.path());
    let db = dir.path().join("out.sqlite");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("CREATE TABLE p (prediction REAL); INSERT INTO p VALUES (42);")
        .unwrap();
    drop(conn);

    let started = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (db, started, done) = (db.clone(), started.clone(), done.clone());
        std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(&db).unwrap();
            // No waiting: a reader that would be blocked fails at once.
            conn.busy_timeout(std::time::Duration::ZERO).unwrap();
            let mut reads = 0;
            let mut failures = Vec::new();
            while !done.load(std::sync::atomic::Ordering::SeqCst) && reads < 1_000_000 {
                if !started.load(std::sync::atomic::Ordering::SeqCst) {
                    std::thread::yield_now();
                    continue;
                }
                match conn.query_row("SELECT count(*) FROM p", [], |row| row.get::<_, i64>(0)) {
                    Ok(count) => assert!(count == 1 || count == 200_001, "{count}"),
                    Err(error) => failures.push(error.to_string()),
                }
                reads += 1;
            }
            (reads, failures)
        })
    };
    let sink = Sink::sqlite(&db, "p").with_if_exists(IfExists::Append);
    let scorer = Scorer::new(regressor(1), options()).unwrap();
    let mut events = |event: Event| {
        if matches!(event, Event::Progress { rows } if rows >= 50_000) {
            started.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    };
    scorer
        .run(Source::path(&input, None).unwrap(), &sink, &mut events)
        .unwrap();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let (reads, failures) = reader.join().unwrap();
    assert!(reads > 0, "the reader never read during the run");
    assert!(
        failures.is_empty(),
        "{} of {reads} reads failed: {:?}",
        failures.len(),
        &failures[..1]
    );
    assert_eq!(read_sqlite(&db, "p").1.len(), 200_001);
}
