//! `verdict predict` end to end: the binary, real files, exit codes and messages.

use std::path::Path;
use std::process::{Command, Output};

use verdict_model::family::Family;
use verdict_model::family::linear::{LinearMissing, LinearModel};
use verdict_model::family::link::{Link, Precision};
use verdict_model::{
    ClassLabel, Codec, Feature, ModelFile, ModelInfo, NativeModel, Signature, Task,
};

/// A logistic regression on `mean radius` and `mean texture`, labels "benign"/"malignant":
/// P(malignant) = sigmoid(radius - texture).
fn save_model(dir: &Path) -> std::path::PathBuf {
    let family = Family::Linear(LinearModel {
        num_features: 2,
        coefficients: vec![1.0, -1.0],
        intercepts: vec![0.0],
        precision: Precision::Double,
        missing: LinearMissing::Propagate,
        link: Link::Sigmoid { scale: 1.0 },
    });
    let classes = vec![
        ClassLabel::Text("benign".into()),
        ClassLabel::Text("malignant".into()),
    ];
    let signature = Signature::new(
        vec![
            Feature::numeric("mean radius"),
            Feature::numeric("mean texture"),
        ],
        Task::Classification { classes },
    );
    let model = NativeModel::new(signature, family).unwrap();
    let path = dir.join("model.vdm");
    ModelFile {
        info: ModelInfo::new("cells", "verdict", "0.1.0"),
        model,
    }
    .save(&path, Codec::Bincode)
    .unwrap();
    path
}

fn verdict(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn setup() -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let model = save_model(dir.path());
    let input = dir.path().join("cells.csv");
    std::fs::write(
        &input,
        "id,mean texture,mean radius\n1,1,3\n2,5,1\n3,2,2\n4,0,1\n",
    )
    .unwrap();
    (
        dir,
        model.display().to_string(),
        input.display().to_string(),
    )
}

#[test]
fn scores_a_csv_file_into_csv_with_a_summary_line() {
    let (dir, model, input) = setup();
    let output = dir.path().join("scored.csv");
    let run = verdict(&[
        "predict",
        "--model",
        &model,
        "--input",
        &input,
        "--output",
        output.to_str().unwrap(),
        "--passthrough",
        "id",
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let stdout = text(&run.stdout);
    assert!(stdout.starts_with("scored 4 rows in "), "{stdout}");
    assert!(
        stdout
            .trim_end()
            .ends_with(&format!("rows/s) into {}", output.display())),
        "{stdout}"
    );
    let written = std::fs::read_to_string(&output).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines[0], "id,label,proba_benign,proba_malignant");
    let labels: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    // radius - texture: 2, -4, 0, 1; a probability of exactly 0.5 is not above it.
    assert_eq!(labels, ["malignant", "benign", "benign", "malignant"]);
}

#[test]
fn writes_a_sqlite_table_and_refuses_to_overwrite_it() {
    let (dir, model, input) = setup();
    let db = dir.path().join("out.sqlite");
    let db = db.to_str().unwrap();
    let args = [
        "predict",
        "-m",
        &model,
        "-i",
        &input,
        "-o",
        db,
        "--table",
        "scores",
        "--outputs",
        "predict",
    ];
    let run = verdict(&args);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let conn = rusqlite_free_count(db);
    assert_eq!(conn, 4);

    let again = verdict(&args);
    assert!(!again.status.success());
    let stderr = text(&again.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("table `scores` of") && stderr.contains("--if-exists replace"),
        "{stderr}"
    );

    let mut replace = args.to_vec();
    replace.extend(["--if-exists", "replace"]);
    assert!(verdict(&replace).status.success());
}

/// Counts the rows of `scores` with the CLI itself: score the table into CSV.
fn rusqlite_free_count(db: &str) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let model = save_model(dir.path());
    let out = dir.path().join("count.csv");
    // The table has no features, so count through a query that renames `label`.
    let run = verdict(&[
        "predict",
        "-m",
        model.to_str().unwrap(),
        "-i",
        db,
        "--query",
        "SELECT label, 1 AS \"mean radius\", 1 AS \"mean texture\" FROM scores",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    std::fs::read_to_string(out).unwrap().lines().count() - 1
}

#[test]
fn a_missing_feature_fails_with_one_actionable_line() {
    let (dir, model, _) = setup();
    let input = dir.path().join("bad.csv");
    std::fs::write(&input, "id,mean_radius,texture\n1,2,3\n").unwrap();
    let output = dir.path().join("out.parquet");
    let run = verdict(&[
        "predict",
        "-m",
        &model,
        "-i",
        input.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(1));
    let stderr = text(&run.stderr);
    assert_eq!(
        stderr,
        "verdict: the input has no column for 2 of the model's 2 features: `mean radius` \
         (did you mean `mean_radius`?), `mean texture`\n"
    );
    assert!(!output.exists());
}

/// URLs that are not object storage, and outputs object storage cannot take, fail with one
/// line naming the problem, before any request (the end-to-end object storage tests, against
/// an S3 server, are in tests/object_storage/).
#[test]
fn urls_object_storage_cannot_serve_fail_by_name() {
    let (dir, model, input) = setup();
    let local = dir.path().join("out.parquet");
    let local = local.to_str().unwrap();
    let cases: [(&str, &str, &[&str], &str); 4] = [
        (
            "ftp://host/rows.csv",
            local,
            &[],
            "verdict: `ftp://host/rows.csv`: ftp:// is not supported; object storage is s3://, \
             gs://, az:// (or abfss://) and, to read, http(s)://; a local file is a plain path\n",
        ),
        (
            &input,
            "s3://bucket/scores.sqlite",
            &[],
            "verdict: cannot write a SQLite database to object storage (s3://bucket/scores.sqlite); \
             write a file format (parquet, csv, ipc, ndjson), or a local database\n",
        ),
        (
            &input,
            "https://example.org/scores.parquet",
            &[],
            "verdict: cannot write https://example.org/scores.parquet: an HTTP server is \
             read-only here; write to s3://, gs:// or az://\n",
        ),
        (
            &input,
            "s3://bucket/scores.parquet",
            &["--if-exists", "append"],
            "verdict: cannot append to the object s3://bucket/scores.parquet; objects are \
             replaced whole (--if-exists replace)\n",
        ),
    ];
    for (input, output, extra, expected) in cases {
        let mut args = vec!["predict", "-m", &model, "-i", input, "-o", output];
        args.extend_from_slice(extra);
        let run = verdict(&args);
        assert_eq!(run.status.code(), Some(1), "{args:?}");
        assert_eq!(text(&run.stderr), expected, "{args:?}");
    }
}

#[test]
fn shards_split_the_rows() {
    let (dir, model, input) = setup();
    let mut rows = 0;
    for shard in ["0/3", "1/3", "2/3"] {
        let output = dir.path().join(format!("part-{}.csv", &shard[..1]));
        let run = verdict(&[
            "predict",
            "-m",
            &model,
            "-i",
            &input,
            "-o",
            output.to_str().unwrap(),
            "--shard",
            shard,
            "-p",
            "id",
        ]);
        assert!(run.status.success(), "{}", text(&run.stderr));
        rows += std::fs::read_to_string(output).unwrap().lines().count() - 1;
    }
    assert_eq!(rows, 4);
    let run = verdict(&[
        "predict", "-m", &model, "-i", &input, "-o", "x.csv", "--shard", "3/3",
    ]);
    assert!(text(&run.stderr).contains("must be below the number of shards"));
}

/// A CSV of `rows` rows for the model of [`save_model`], large enough to stop midway.
fn long_csv(dir: &Path, rows: usize) -> std::path::PathBuf {
    let path = dir.join("long.csv");
    let mut text = String::with_capacity(rows * 10 + 32);
    text.push_str("mean radius,mean texture\n");
    for i in 0..rows {
        text.push_str(if i % 2 == 0 { "1.5,2.5\n" } else { "3.5,0.5\n" });
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Starts `verdict predict` into `output` and sends `signal` once it has begun writing (a
/// file besides the input and the model exists).
#[cfg(unix)]
fn stop_midway(dir: &Path, output: &str, signal: &str) -> std::process::ExitStatus {
    let model = save_model(dir);
    let input = long_csv(dir, 3_000_000);
    let mut child = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(["predict", "--model"])
        .arg(&model)
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(dir.join(output))
        .args(["--chunk-rows", "10000"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    // Midway means writing: a partial that exists but is still empty may be one the run has
    // created and not yet locked, which a later run rightly leaves alone for a while.
    let writing = || {
        std::fs::read_dir(dir).unwrap().flatten().any(|entry| {
            entry.file_name().to_string_lossy().ends_with(".partial")
                && entry.metadata().is_ok_and(|m| m.len() > 0)
        })
    };
    while !writing() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be stopped"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "no partial output appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    child.wait().unwrap()
}

#[cfg(unix)]
#[test]
fn sigterm_and_sigint_stop_cleanly_and_leave_no_partial() {
    use std::os::unix::process::ExitStatusExt;
    for (signal, number) in [("-TERM", 15), ("-INT", 2)] {
        for output in ["scored.csv", "scored.sqlite"] {
            let dir = tempfile::tempdir().unwrap();
            let status = stop_midway(dir.path(), output, signal);
            assert_eq!(
                status.signal(),
                None,
                "{signal} {output}: killed, not stopped"
            );
            assert_eq!(status.code(), Some(128 + number), "{signal} {output}");
            assert_eq!(
                listing(dir.path()),
                ["long.csv", "model.vdm"],
                "{signal} {output}"
            );
        }
    }
}

#[cfg(unix)]
#[test]
fn a_killed_sqlite_run_leaves_no_database_and_the_next_run_tidies_up() {
    let dir = tempfile::tempdir().unwrap();
    stop_midway(dir.path(), "scored.sqlite", "-KILL");
    assert!(
        !dir.path().join("scored.sqlite").exists(),
        "{:?}",
        listing(dir.path())
    );
    let output = verdict(&[
        "predict",
        "--model",
        dir.path().join("model.vdm").to_str().unwrap(),
        "--input",
        dir.path().join("long.csv").to_str().unwrap(),
        "--output",
        dir.path().join("scored.sqlite").to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        listing(dir.path()),
        ["long.csv", "model.vdm", "scored.sqlite"]
    );
}

// PostgreSQL, end to end: `tools/postgres.sh start` starts a server and `tools/postgres.sh env`
// names it in VERDICT_TEST_POSTGRES_URL (tools/test-all.sh does both). Without it these tests
// fail on CI and wherever a server is installed, and otherwise say loudly they were skipped.

fn postgres_url() -> Option<String> {
    if let Ok(url) = std::env::var("VERDICT_TEST_POSTGRES_URL") {
        return Some(format!("{url}?sslmode=disable"));
    }
    let installed = std::fs::read_dir("/usr/lib/postgresql").is_ok_and(|mut v| v.next().is_some());
    if std::env::var("CI").is_ok_and(|ci| ci == "true") || installed {
        panic!(
            "VERDICT_TEST_POSTGRES_URL is not set: run `tools/postgres.sh start` and export what `tools/postgres.sh env` prints"
        );
    }
    eprintln!(
        "\n!!!!!!!! SKIPPED: no PostgreSQL server is installed (tools/postgres.sh installs one) !!!!!!!!\n"
    );
    None
}

fn postgres_client(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap()
}

#[test]
fn scores_a_postgres_query_into_a_postgres_table() {
    let Some(url) = postgres_url() else { return };
    let mut db = postgres_client(&url);
    db.batch_execute(
        "DROP TABLE IF EXISTS cli_cells, cli_scores;
         CREATE TABLE cli_cells (id int, \"mean texture\" float8, \"mean radius\" numeric);
         INSERT INTO cli_cells VALUES (1, 1, 3), (2, 5, 1), (3, 2, 2), (4, 0, 1);",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let model = save_model(dir.path()).display().to_string();
    let args = [
        "predict",
        "--model",
        &model,
        "--input",
        &url,
        "--query",
        "SELECT * FROM cli_cells ORDER BY id",
        "--passthrough",
        "id",
        "--output",
        &url,
        "--table",
        "cli_scores",
    ];
    let run = verdict(&args);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(
        text(&run.stdout).contains("table cli_scores"),
        "{}",
        text(&run.stdout)
    );
    let labels: Vec<String> = db
        .query("SELECT label FROM cli_scores ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    // radius - texture: 2, -4, 0, 1; a probability of exactly 0.5 is not above it.
    assert_eq!(labels, ["malignant", "benign", "benign", "malignant"]);
    let again = verdict(&args);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("--if-exists"),
        "{}",
        text(&again.stderr)
    );
    // A shard of a query needs a key; with one, two shards hold every row once.
    let mut shard_args = args.to_vec();
    shard_args.extend(["--if-exists", "append", "--shard", "0/2"]);
    let keyless = verdict(&shard_args);
    assert!(
        text(&keyless.stderr).contains("--shard-key"),
        "{}",
        text(&keyless.stderr)
    );
    db.batch_execute("TRUNCATE cli_scores").unwrap();
    for shard in ["0/2", "1/2"] {
        let mut shard_args = args.to_vec();
        shard_args.extend([
            "--if-exists",
            "append",
            "--shard",
            shard,
            "--shard-key",
            "id",
        ]);
        let run = verdict(&shard_args);
        assert!(run.status.success(), "{}", text(&run.stderr));
    }
    let ids: Vec<i32> = db
        .query("SELECT id FROM cli_scores ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(ids, [1, 2, 3, 4]);
}

#[test]
fn a_killed_postgres_run_leaves_the_old_table_and_no_staging_table() {
    let Some(url) = postgres_url() else { return };
    let mut db = postgres_client(&url);
    db.batch_execute(
        "DROP TABLE IF EXISTS cli_big, cli_killed;
         CREATE TABLE cli_big AS SELECT g AS id, (g % 7)::float8 AS \"mean texture\",
           (g % 5)::float8 AS \"mean radius\" FROM generate_series(1, 400000) AS g;
         CREATE TABLE cli_killed (old text); INSERT INTO cli_killed VALUES ('old');",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let model = save_model(dir.path()).display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args([
            "predict",
            "--model",
            &model,
            "--input",
            &url,
            "--input-table",
            "cli_big",
        ])
        .args([
            "--passthrough",
            "id",
            "--output",
            &url,
            "--table",
            "cli_killed",
        ])
        .args(["--if-exists", "replace", "--chunk-rows", "500"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until rows are being copied into the staging table, then kill the run outright.
    let copying =
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY \"verdict_staging_%'";
    let mut seen = false;
    for _ in 0..600 {
        if db.query_one(copying, &[]).unwrap().get::<_, i64>(0) > 0 {
            seen = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(seen, "the run never started copying");
    assert!(!status.success(), "the run finished before it was killed");
    // The server ends the dead run's session (and its transaction) once it sees the
    // connection closed.
    let mut gone = false;
    for _ in 0..600 {
        if db.query_one(copying, &[]).unwrap().get::<_, i64>(0) == 0 {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(gone, "the killed run's session lives on");
    let old: Vec<String> = db
        .query("SELECT old FROM cli_killed", &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(old, ["old"]);
    let staging: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relname LIKE 'verdict_staging_%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(staging, 0);
}

/// LightGBM saves its training column `mean radius` as `mean_radius`; the CSV it was trained
/// on, with the original names, must score.
#[test]
fn a_lightgbm_model_scores_the_columns_it_was_trained_on() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("scored.csv");
    let result = verdict(&[
        "predict",
        "--model",
        root.join("examples/models/breast_cancer_lgbm.txt")
            .to_str()
            .unwrap(),
        "--input",
        root.join("examples/data/breast_cancer.csv")
            .to_str()
            .unwrap(),
        "--output",
        output.to_str().unwrap(),
    ]);
    assert!(result.status.success(), "{}", text(&result.stderr));
    let scored = std::fs::read_to_string(&output).unwrap();
    assert_eq!(scored.lines().count(), 570, "a header and 569 rows");
}

#[test]
fn inspect_names_the_engine_that_scores_the_model() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // The shipped XGBoost model: 100 trees of depth 4 at most, all of which the tree engine
    // takes (stored complete or walked by nodes, as their shapes decide).
    let model = root.join("examples/models/breast_cancer_xgb.json");
    let result = verdict(&["inspect", model.to_str().unwrap()]);
    assert!(result.status.success(), "{}", text(&result.stderr));
    let card = text(&result.stdout);
    let line = card
        .lines()
        .find_map(|line| line.strip_prefix("engine       "))
        .unwrap_or_else(|| panic!("no engine line in:\n{card}"));
    // On a CPU with AVX-512, a note of the trees that blocks walk binned follows.
    let (walks, binned) = line.split_once("; ").unwrap_or((line, ""));
    if let Some(binned) = binned.strip_prefix("blocks walk ") {
        let binned: usize = binned.split(' ').next().unwrap().parse().unwrap();
        assert!(binned <= 100, "{line}");
    } else {
        assert_eq!(binned, "", "{line}");
    }
    let counts: Vec<usize> = walks
        .strip_prefix("compiled trees: ")
        .unwrap_or_else(|| panic!("not the tree engine: {line}"))
        .split(", ")
        .map(|part| {
            assert!(!part.contains("reference"), "{line}");
            part.split(' ').next().unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(counts.iter().sum::<usize>(), 100, "{line}");

    let json = verdict(&["inspect", "--json", model.to_str().unwrap()]);
    let card: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(card["engine"], line);
}

#[test]
fn an_io_error_names_its_cause_once() {
    let result = verdict(&["inspect", "/nonexistent/model.json"]);
    assert!(!result.status.success());
    let message = text(&result.stderr);
    assert_eq!(
        message.matches("No such file or directory").count(),
        1,
        "{message}"
    );
    assert!(
        message.contains("cannot read /nonexistent/model.json"),
        "{message}"
    );
}

/// The directory of parity fixture `case` (`tests/fixtures/<case>`).
fn fixture(case: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(case)
}

/// A fixture's `data.json` and its feature names.
fn fixture_data(case: &Path) -> (serde_json::Value, Vec<String>) {
    let data: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("data.json")).unwrap()).unwrap();
    let names = data["feature_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect();
    (data, names)
}

/// `verdict predict` of `model` on the CSV text `csv` with `--outputs outputs`: the CSV it
/// writes. Fails the test when the run fails.
fn predict_csv(model: &Path, csv: &str, outputs: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("frame.csv");
    let output = dir.path().join("scored.csv");
    std::fs::write(&input, csv).unwrap();
    let result = verdict(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--outputs",
        outputs,
    ]);
    assert!(
        result.status.success(),
        "{}: {}",
        model.display(),
        text(&result.stderr)
    );
    std::fs::read_to_string(&output).unwrap()
}

/// A CSV cell: empty for a missing value, text quoted when it holds a comma or quote.
fn csv_cell(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) if s.contains([',', '"']) => {
            format!("\"{}\"", s.replace('"', "\"\""))
        }
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn a_pipeline_scores_the_frame_it_was_trained_on_text_in_dropped_columns_included() {
    // The ColumnTransformer drops `plan`, which holds text: scikit-learn accepts any value
    // there, and so must Verdict.
    let case = fixture("sklearn/pipeline_onehot_logistic_pandas");
    let (data, names) = fixture_data(&case);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert!(names.contains(&"plan"));
    let rows = data["inputs"].as_array().unwrap();
    assert!(
        rows.iter()
            .any(|row| row[names.iter().position(|n| *n == "plan").unwrap()].is_string())
    );
    let mut csv = names.join(",") + "\n";
    for row in rows {
        let cells: Vec<String> = row.as_array().unwrap().iter().map(csv_cell).collect();
        csv += &(cells.join(",") + "\n");
    }
    let scored = predict_csv(&case.join("model.json"), &csv, "predict_proba");
    let expected = data["outputs"]["predict_proba"].as_array().unwrap();
    let mut lines = scored.lines();
    assert!(lines.next().unwrap().starts_with("proba_"));
    let mut compared = 0;
    for (line, want) in lines.zip(expected) {
        for (ours, theirs) in line.split(',').zip(want.as_array().unwrap()) {
            let (ours, theirs) = (ours.parse::<f64>().unwrap(), theirs.as_f64().unwrap());
            assert!(
                (ours - theirs).abs() <= 1e-9,
                "row {compared}: ours {ours}, scikit-learn {theirs}"
            );
        }
        compared += 1;
    }
    assert_eq!(compared, expected.len());
}

#[test]
fn a_catboost_model_scores_raw_categories_from_a_csv_file() {
    // Text categories (with UTF-8 and ones never seen in training) and integer categories,
    // hashed as CatBoost hashes them; CTRs and one-hot splits from the .cbm file. Rows with an
    // empty category are left out: a CSV reader reads the empty cell as missing, and CatBoost
    // has no missing category (a test below checks the refusal).
    for name in ["cat_ctr_binary", "cat_int", "cat_one_hot"] {
        let case = fixture(&format!("catboost/{name}"));
        let (data, names) = fixture_data(&case);
        let mut csv = names.join(",") + "\n";
        let mut expected = Vec::new();
        for (row, want) in data["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .zip(data["outputs"]["raw"].as_array().unwrap())
        {
            let cells = row.as_array().unwrap();
            if cells.iter().any(|c| c.as_str() == Some("")) {
                continue;
            }
            let cells: Vec<String> = cells.iter().map(csv_cell).collect();
            csv += &(cells.join(",") + "\n");
            expected.push(want[0].as_f64().unwrap());
        }
        assert!(expected.len() > 100, "{name}: {} rows", expected.len());
        let scored = predict_csv(&case.join("model.cbm"), &csv, "raw");
        let found: Vec<f64> = scored
            .lines()
            .skip(1)
            .map(|line| line.parse().unwrap())
            .collect();
        assert_eq!(found.len(), expected.len(), "{name}");
        for (row, (ours, theirs)) in found.iter().zip(&expected).enumerate() {
            assert!(
                (ours - theirs).abs() <= 1e-9 * theirs.abs().max(1.0),
                "{name} row {row}: ours {ours}, CatBoost {theirs}"
            );
        }
    }
}

#[test]
fn a_missing_catboost_category_names_its_row_and_column() {
    let model = fixture("catboost/cat_one_hot").join("model.cbm");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("frame.csv");
    std::fs::write(&input, "x0,x1,colour\n0.5,1.0,red\n0.1,0.2,\n").unwrap();
    let result = verdict(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        dir.path().join("scored.csv").to_str().unwrap(),
    ]);
    assert!(!result.status.success());
    let message = text(&result.stderr);
    assert!(
        message.contains("row 1")
            && message.contains("`colour`")
            && message.contains("no category"),
        "{message}"
    );
    assert!(!dir.path().join("scored.csv").exists());
}
