//! `verdict serve --config FILE`: the file sets the flags, the command line and the
//! environment replace them, and every mistake in the file is named with the file and key.

#![cfg(unix)]

mod common;

use std::io::BufReader;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use verdict_model::Codec;

use common::{line, request_with, served_address, stop};

/// `verdict serve ARGS`, run from `cwd`, without VERDICT_TOKEN or VERDICT_CONFIG from the
/// test's environment.
fn verdict_serve(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_verdict"))
        .arg("serve")
        .args(args)
        .current_dir(cwd)
        .env_remove("VERDICT_TOKEN")
        .env_remove("VERDICT_CONFIG")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// `--print-config`'s output, parsed.
fn printed_settings(output: &Output) -> toml_edit::Document<String> {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let text = String::from_utf8(output.stdout.clone()).unwrap();
    toml_edit::Document::parse(text.clone()).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn int(settings: &toml_edit::Document<String>, key: &str) -> i64 {
    settings[key]
        .as_integer()
        .unwrap_or_else(|| panic!("{key} is {:?}", settings[key]))
}

fn text<'a>(settings: &'a toml_edit::Document<String>, key: &str) -> &'a str {
    settings[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is {:?}", settings[key]))
}

fn list(settings: &toml_edit::Document<String>, key: &str) -> Vec<String> {
    settings[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} is {:?}", settings[key]))
        .iter()
        .map(|value| value.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_file_sets_flags_and_the_command_line_replaces_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("verdict.toml");
    std::fs::write(
        &config,
        r#"
# a deployed server
model = "line.vdm"
model-dir = ["models", "/srv/more"]
host = "0.0.0.0"
port = 8081
grpc-port = 8082
workers = 2
batch = true
cors-origin = ["https://a.example", "https://b.example"]
log-format = "json"
log-requests = "-"
log-sample = 0.25
token-file = "secrets/token"
"#,
    )
    .unwrap();
    // Started from another directory: the file's relative paths are from the file's.
    let elsewhere = tempfile::tempdir().unwrap();
    let output = verdict_serve(
        elsewhere.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--port",
            "9000",
            "--cors-origin",
            "https://c.example",
            "--print-config",
        ],
        &[],
    );
    let settings = printed_settings(&output);
    let dir = dir.path().display();
    // From the command line.
    assert_eq!(int(&settings, "port"), 9000);
    assert_eq!(list(&settings, "cors-origin"), ["https://c.example"]);
    // From the file, paths from its directory; `-` (stdout) is no path.
    assert_eq!(list(&settings, "model"), [format!("{dir}/line.vdm")]);
    assert_eq!(
        list(&settings, "model-dir"),
        [format!("{dir}/models"), "/srv/more".to_owned()]
    );
    assert_eq!(
        text(&settings, "token-file"),
        format!("{dir}/secrets/token")
    );
    assert_eq!(text(&settings, "host"), "0.0.0.0");
    assert_eq!(int(&settings, "grpc-port"), 8082);
    assert_eq!(int(&settings, "workers"), 2);
    assert_eq!(settings["batch"].as_bool(), Some(true));
    assert_eq!(text(&settings, "log-format"), "json");
    assert_eq!(text(&settings, "log-requests"), "-");
    assert_eq!(settings["log-sample"].as_float(), Some(0.25));
    // Defaults where neither says, as comments.
    assert!(settings.get("max-rows").is_none());
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("\n# max-rows = 100000\n"), "{printed}");
    assert!(printed.contains("\n# timeout-ms = 30000\n"), "{printed}");
}

#[test]
fn the_environment_and_conflicting_flags_replace_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("verdict.toml");
    std::fs::write(&config, "model = \"m.vdm\"\ntoken-file = \"token\"\n").unwrap();
    let path = config.to_str().unwrap();

    // VERDICT_TOKEN sets --token, which --token-file conflicts with: the file's is dropped.
    let output = verdict_serve(
        dir.path(),
        &["--config", path, "--print-config"],
        &[("VERDICT_TOKEN", "s3cret")],
    );
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    let settings = printed_settings(&output);
    assert!(settings.get("token-file").is_none(), "{printed}");
    assert!(printed.contains("# token = (set, not shown)"), "{printed}");
    assert!(!printed.contains("s3cret"), "{printed}");

    // The same with --token on the command line.
    let output = verdict_serve(
        dir.path(),
        &["--config", path, "--token", "s3cret", "--print-config"],
        &[],
    );
    assert!(printed_settings(&output).get("token-file").is_none());

    // And the config file itself can come from VERDICT_CONFIG.
    let output = verdict_serve(dir.path(), &["--print-config"], &[("VERDICT_CONFIG", path)]);
    let settings = printed_settings(&output);
    assert_eq!(
        text(&settings, "token-file"),
        format!("{}/token", dir.path().display())
    );
}

#[test]
fn rules_between_flags_see_the_file_and_the_command_line_together() {
    // --log-sample needs --log-requests: one on the command line, one in the file.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("verdict.toml");
    std::fs::write(&config, "model = \"m.vdm\"\nlog-requests = \"-\"\n").unwrap();
    let path = config.to_str().unwrap();
    let output = verdict_serve(
        dir.path(),
        &["--config", path, "--log-sample", "0.5", "--print-config"],
        &[],
    );
    let settings = printed_settings(&output);
    assert_eq!(settings["log-sample"].as_float(), Some(0.5));
    assert_eq!(text(&settings, "log-requests"), "-");
    // A bad value on the command line is still clap's own error.
    let output = verdict_serve(dir.path(), &["--config", path, "--port", "x"], &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: invalid value 'x' for '--port <PORT>'"),
        "{stderr}"
    );
}

#[test]
fn printed_settings_read_back_as_the_same_settings() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.toml");
    std::fs::write(
        &first,
        "model = [\"a.vdm\", \"b.vdm\"]\nport = 0\nbatch = true\nadmin-origin = \"https://x.example\"\nlog-format = \"json\"\ndefault-model = \"a \\\"quoted\\\" name\"\n",
    )
    .unwrap();
    let output = verdict_serve(
        dir.path(),
        &["--config", first.to_str().unwrap(), "--print-config"],
        &[],
    );
    let printed = String::from_utf8(output.stdout.clone()).unwrap();
    printed_settings(&output);
    let second = dir.path().join("second.toml");
    std::fs::write(&second, &printed).unwrap();
    let again = verdict_serve(
        dir.path(),
        &["--config", second.to_str().unwrap(), "--print-config"],
        &[],
    );
    printed_settings(&again);
    assert_eq!(String::from_utf8(again.stdout).unwrap(), printed);
    assert!(
        printed.contains(r#"default-model = "a \"quoted\" name""#),
        "{printed}"
    );
}

/// Runs `verdict serve --config FILE` with `contents` in FILE; the failure's stderr.
fn refused(contents: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("verdict.toml");
    std::fs::write(&config, contents).unwrap();
    let output = verdict_serve(
        dir.path(),
        &["--config", config.to_str().unwrap(), "--print-config"],
        &[],
    );
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{contents:?}: {stderr}");
    assert!(output.stdout.is_empty(), "{contents:?}");
    (stderr, config.display().to_string())
}

#[test]
fn unknown_keys_are_named_with_the_file_and_line() {
    let (stderr, path) = refused("model = \"m.vdm\"\n\nprot = 9000\n");
    assert!(
        stderr.contains(&format!(
            "{path}:3: unknown key `prot`; did you mean `port`?"
        )),
        "{stderr}"
    );
    let (stderr, path) = refused("grpc_port = 9001\n");
    assert!(
        stderr.contains(&format!(
            "{path}:1: unknown key `grpc_port`; did you mean `grpc-port`?"
        )),
        "{stderr}"
    );
    let (stderr, path) = refused("colour = \"blue\"\n");
    assert!(
        stderr.contains(&format!(
            "{path}:1: unknown key `colour`; the keys are the flags of `verdict serve --help`"
        )),
        "{stderr}"
    );
    // Neither the help switch nor the file's own flags are keys.
    let (stderr, _) = refused("help = true\n");
    assert!(stderr.contains("unknown key `help`"), "{stderr}");
    let (stderr, path) = refused("config = \"other.toml\"\n");
    assert!(
        stderr.contains(&format!(
            "{path}:1: `config` is a flag for the command line only"
        )),
        "{stderr}"
    );
    let (stderr, _) = refused("print-config = true\n");
    assert!(
        stderr.contains("`print-config` is a flag for the command line only"),
        "{stderr}"
    );
}

#[test]
fn bad_values_are_named_with_the_file_and_line() {
    let (stderr, path) = refused("port = 70000\n");
    assert!(
        stderr.contains(&format!(
            "{path}:1: `port`: invalid value '70000' for '--port"
        )),
        "{stderr}"
    );
    let (stderr, path) = refused("model = \"m.vdm\"\nlog-format = \"xml\"\n");
    assert!(
        stderr.contains(&format!(
            "{path}:2: `log-format`: invalid value 'xml' for '--log-format"
        )),
        "{stderr}"
    );
    let (stderr, path) = refused("batch = \"yes\"\n");
    assert!(
        stderr.contains(&format!("{path}:1: `batch` is a switch: true or false")),
        "{stderr}"
    );
    let (stderr, path) = refused("port = true\n");
    assert!(
        stderr.contains(&format!("{path}:1: `port` takes a string or a number")),
        "{stderr}"
    );
    let (stderr, _) = refused("port = [1, 2]\n");
    assert!(
        stderr.contains("`port` takes a string or a number"),
        "{stderr}"
    );
    let (stderr, _) = refused("model = [\"a.vdm\", 3.5, true]\n");
    assert!(
        stderr.contains("`model` takes a string or a number, or an array of them"),
        "{stderr}"
    );
    let (stderr, path) = refused("[serve]\nport = 1\n");
    assert!(
        stderr.contains(&format!("{path}:1: unknown key `serve`")),
        "{stderr}"
    );
    let (stderr, path) = refused("port = { value = 1 }\n");
    assert!(
        stderr.contains(&format!("{path}:1: `port` takes a string or a number")),
        "{stderr}"
    );
    let (stderr, path) = refused("model = \"m.vdm\"\ntoken = \"a\"\ntoken-file = \"t\"\n");
    assert!(
        stderr.contains(&format!(
            "{path}: `token` and `token-file` cannot both be set"
        )),
        "{stderr}"
    );
    // Each fine alone, but --log-sample needs --log-requests.
    let (stderr, path) = refused("model = \"m.vdm\"\nlog-sample = 0.5\n");
    assert!(
        stderr.contains(&format!(
            "{path} and the command line together: the following required arguments were not provided:\n  --log-requests"
        )),
        "{stderr}"
    );
    let (stderr, path) = refused("port = \n");
    assert!(
        stderr.contains(&format!("the config file {path} is not valid TOML")),
        "{stderr}"
    );
    assert!(stderr.contains("line 1"), "{stderr}");
}

#[test]
fn a_missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let output = verdict_serve(dir.path(), &["--config", "nowhere.toml"], &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot read the config file nowhere.toml: No such file"),
        "{stderr}"
    );
}

#[test]
fn a_server_runs_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    line()
        .save(dir.path().join("line.vdm"), Codec::Bincode)
        .unwrap();
    let config = dir.path().join("verdict.toml");
    std::fs::write(
        &config,
        "model = \"line.vdm\"\nport = 0\nworkers = 1\ndrain-ms = 0\ntoken = \"s3cret\"\n",
    )
    .unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(["serve", "--config"])
        .arg(&config)
        .current_dir(elsewhere.path())
        .env_remove("VERDICT_TOKEN")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let addr = served_address(&mut stdout);
    // The file's token guards the server; the file's model answers.
    let body = r#"{"input": [3, 1]}"#;
    let mut answers = Vec::new();
    for authorization in ["", "Authorization: Bearer s3cret\r\n"] {
        answers.push(request_with(&addr, "POST", "/predict", authorization, body));
    }
    assert!(answers[0].starts_with("HTTP/1.1 401"), "{}", answers[0]);
    assert!(answers[1].starts_with("HTTP/1.1 200"), "{}", answers[1]);
    assert!(
        answers[1].ends_with(r#"{"model":"line","prediction":[6.0],"version":"1"}"#),
        "{}",
        answers[1]
    );
    stop(&mut child);
}

#[test]
fn no_models_anywhere_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("verdict.toml");
    std::fs::write(&config, "port = 0\n").unwrap();
    let output = verdict_serve(dir.path(), &["--config", config.to_str().unwrap()], &[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no models: pass --model FILE or --model-dir DIR"),
        "{stderr}"
    );
}
