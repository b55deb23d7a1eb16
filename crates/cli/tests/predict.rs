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
