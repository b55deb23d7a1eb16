//! The deployment files in deploy/ against the real CLI: every `verdict serve` argument list
//! they hold is parsed by the binary (`--print-config`), so a renamed or removed flag fails
//! here; the ports the manifests declare are the ports those arguments listen on; and every
//! probe path answers 200 on a real server started with the same arguments.

#![cfg(unix)]

mod common;

use std::collections::BTreeSet;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use yaml_rust2::{Yaml, YamlLoader};

use common::{request, served_address, stop};

/// The repository's deploy/ folder.
fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// Every YAML document of a file under deploy/.
fn manifests(name: &str) -> Vec<Yaml> {
    let path = deploy().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The one document of `kind` in `documents`.
fn kind<'a>(documents: &'a [Yaml], kind: &str) -> &'a Yaml {
    let found: Vec<&Yaml> = documents
        .iter()
        .filter(|doc| doc["kind"].as_str() == Some(kind))
        .collect();
    assert_eq!(found.len(), 1, "one {kind} expected");
    found[0]
}

fn strings(list: &Yaml) -> Vec<String> {
    list.as_vec()
        .unwrap_or_else(|| panic!("not a list: {list:?}"))
        .iter()
        .map(|item| {
            item.as_str()
                .unwrap_or_else(|| panic!("not a string: {item:?} (quote numbers in args)"))
                .to_owned()
        })
        .collect()
}

/// The settings `verdict ARGS --print-config` prints: the CLI's own reading of `args`.
fn settings(args: &[String]) -> toml_edit::Document<String> {
    let output = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(args)
        .arg("--print-config")
        .env_remove("VERDICT_TOKEN")
        .env_remove("VERDICT_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "verdict {} refused: {stderr}",
        args.join(" ")
    );
    let text = String::from_utf8(output.stdout).unwrap();
    toml_edit::Document::parse(text.clone()).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn int(settings: &toml_edit::Document<String>, key: &str) -> i64 {
    settings[key]
        .as_integer()
        .unwrap_or_else(|| panic!("{key} is not set"))
}

fn yaml_int(value: &Yaml) -> i64 {
    value
        .as_i64()
        .unwrap_or_else(|| panic!("not an integer: {value:?}"))
}

/// A container's ports by name.
fn container_port(container: &Yaml, name: &str) -> i64 {
    let ports = container["ports"]
        .as_vec()
        .expect("the container lists ports");
    let port = ports
        .iter()
        .find(|port| port["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no port named {name}: {ports:?}"));
    yaml_int(&port["containerPort"])
}

/// A probe's path, and its port as a number (a port name is looked up in the container).
fn probe(container: &Yaml, probe: &str) -> (String, i64) {
    let get = &container[probe]["httpGet"];
    let path = get["path"]
        .as_str()
        .unwrap_or_else(|| panic!("{probe} has no httpGet path"))
        .to_owned();
    let port = match &get["port"] {
        Yaml::String(name) => container_port(container, name),
        port => yaml_int(port),
    };
    (path, port)
}

/// Starts `verdict serve` with `args` but on loopback, on free ports, with `model_dir` for its
/// models; GETs each path and returns the status lines.
fn statuses_on_a_real_server(args: &[String], model_dir: &Path, paths: &[String]) -> Vec<String> {
    // The manifests' own arguments, but those the test replaces (clap refuses a flag given
    // twice).
    let replaced = [
        "--model-dir",
        "--host",
        "--port",
        "--grpc-port",
        "--drain-ms",
        "--workers",
    ];
    let mut kept = Vec::new();
    let mut arguments = args.iter();
    while let Some(arg) = arguments.next() {
        if replaced.contains(&arg.as_str()) {
            arguments.next();
        } else if !replaced
            .iter()
            .any(|flag| arg.starts_with(&format!("{flag}=")))
        {
            kept.push(arg);
        }
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(kept)
        .arg("--model-dir")
        .arg(model_dir)
        .args(["--host", "127.0.0.1", "--port", "0", "--grpc-port", "0"])
        .args(["--drain-ms", "0", "--workers", "1"])
        .env_remove("VERDICT_TOKEN")
        .env_remove("VERDICT_CONFIG")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let addr = served_address(&mut stdout);
    let statuses = paths
        .iter()
        .map(|path| {
            let answer = request(&addr, "GET", path, "");
            answer.lines().next().unwrap_or_default().to_owned()
        })
        .collect();
    stop(&mut child);
    statuses
}

/// The container's arguments are the CLI's; the ports it declares are the ports they listen
/// on; the probes use those ports and answer 200 on a real server with those arguments.
fn check_container(container: &Yaml, http_port_name: &str, grpc_port_name: Option<&str>) {
    let args = strings(&container["args"]);
    assert_eq!(args.first().map(String::as_str), Some("serve"), "{args:?}");
    let settings = settings(&args);
    assert_eq!(
        container_port(container, http_port_name),
        int(&settings, "port")
    );
    if let Some(name) = grpc_port_name {
        assert_eq!(container_port(container, name), int(&settings, "grpc-port"));
    } else {
        // The gRPC server still listens, on the port docs/deploy.md names.
        assert_eq!(int(&settings, "grpc-port"), 9000);
    }
    // Inside a container, loopback would answer no one.
    assert_eq!(settings["host"].as_str(), Some("0.0.0.0"));

    let mut paths = Vec::new();
    for name in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if container[name].is_badvalue() {
            continue;
        }
        let (path, port) = probe(container, name);
        assert_eq!(port, int(&settings, "port"), "{name} is on another port");
        paths.push(path);
    }
    let paths: Vec<String> = paths
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(
        paths.contains(&"/v2/health/ready".to_owned()),
        "no readiness probe on /v2/health/ready: {paths:?}"
    );
    let models = tempfile::tempdir().unwrap();
    let statuses = statuses_on_a_real_server(&args, models.path(), &paths);
    for (path, status) in paths.iter().zip(&statuses) {
        assert!(status.starts_with("HTTP/1.1 200"), "{path}: {status}");
    }
}

#[test]
fn the_kubernetes_deployment_and_service_match_the_cli() {
    let documents = manifests("kubernetes/verdict.yaml");
    let deployment = kind(&documents, "Deployment");
    let pod = &deployment["spec"]["template"];
    let containers = pod["spec"]["containers"].as_vec().unwrap();
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    check_container(container, "http", Some("grpc"));

    // The models volume is mounted where --model-dir looks.
    let args = strings(&container["args"]);
    let settings = settings(&args);
    let model_dirs: Vec<&str> = settings["model-dir"]
        .as_array()
        .unwrap()
        .iter()
        .map(|dir| dir.as_str().unwrap())
        .collect();
    let mounts = container["volumeMounts"].as_vec().unwrap();
    for dir in &model_dirs {
        assert!(
            mounts
                .iter()
                .any(|mount| mount["mountPath"].as_str() == Some(dir)),
            "nothing mounted at --model-dir {dir}"
        );
    }

    // The Service selects the pods and reaches both container ports by name.
    let service = kind(&documents, "Service");
    let labels = &pod["metadata"]["labels"];
    for (key, value) in service["spec"]["selector"].as_hash().unwrap() {
        assert_eq!(&labels[key.as_str().unwrap()], value, "selector {key:?}");
    }
    let targets: BTreeSet<&str> = service["spec"]["ports"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|port| port["targetPort"].as_str().unwrap())
        .collect();
    assert_eq!(targets, BTreeSet::from(["http", "grpc"]));

    // The grace period outlasts the drain.
    let grace = yaml_int(&pod["spec"]["terminationGracePeriodSeconds"]);
    assert!(grace * 1000 > int(&settings, "drain-ms"), "{grace}");
}

#[test]
fn the_kserve_runtime_and_inference_service_match_the_cli() {
    let runtime_documents = manifests("kserve/servingruntime.yaml");
    let runtime = kind(&runtime_documents, "ServingRuntime");
    let containers = runtime["spec"]["containers"].as_vec().unwrap();
    let container = containers
        .iter()
        .find(|c| c["name"].as_str() == Some("kserve-container"))
        .expect("KServe needs the container named kserve-container");
    check_container(container, "http1", None);
    // KServe's storage initializer puts the models in /mnt/models.
    let settings = settings(&strings(&container["args"]));
    assert_eq!(
        settings["model-dir"]
            .as_array()
            .unwrap()
            .get(0)
            .unwrap()
            .as_str(),
        Some("/mnt/models")
    );
    // The metrics KServe scrapes are on the HTTP port.
    let annotations = &runtime["spec"]["annotations"];
    assert_eq!(
        annotations["prometheus.kserve.io/port"].as_str(),
        Some(int(&settings, "port").to_string().as_str())
    );

    let service_documents = manifests("kserve/inferenceservice.yaml");
    let service = kind(&service_documents, "InferenceService");
    let model = &service["spec"]["predictor"]["model"];
    assert_eq!(
        model["runtime"].as_str(),
        runtime["metadata"]["name"].as_str()
    );
    let format = model["modelFormat"]["name"].as_str().unwrap();
    assert!(
        runtime["spec"]["supportedModelFormats"]
            .as_vec()
            .unwrap()
            .iter()
            .any(|f| f["name"].as_str() == Some(format)),
        "the runtime does not support {format}"
    );
    let protocol = model["protocolVersion"].as_str().unwrap();
    assert!(strings(&runtime["spec"]["protocolVersions"]).contains(&protocol.to_owned()));
}

#[test]
fn the_image_runs_the_config_file_it_ships() {
    let dockerfile = std::fs::read_to_string(deploy().join("Dockerfile")).unwrap();
    // The JSON-array forms of ENTRYPOINT and CMD: what the container runs.
    let instruction = |name: &str| -> Vec<String> {
        let line = dockerfile
            .lines()
            .rev()
            .find_map(|line| line.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in the Dockerfile"));
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{name} {line}: {e}"))
    };
    let entrypoint = instruction("ENTRYPOINT");
    assert_eq!(entrypoint, ["/usr/local/bin/verdict"]);
    assert!(
        dockerfile.contains("COPY --from=build /verdict /usr/local/bin/verdict"),
        "the binary is not where ENTRYPOINT runs it"
    );
    assert!(
        dockerfile.contains("--profile dist -p verdict-cli"),
        "the image does not build the dist binary"
    );
    assert!(
        dockerfile.lines().any(|line| line.starts_with("USER ")
            && !line.contains("root")
            && !line.contains(" 0")),
        "the image runs as root"
    );

    // CMD names the config file the image copies in; the shipped file is read by the CLI,
    // from where the image puts it (its paths are absolute, so its folder does not matter).
    let cmd = instruction("CMD");
    let at = cmd.iter().position(|arg| arg == "--config").unwrap();
    let in_image = &cmd[at + 1];
    assert!(
        dockerfile.contains(&format!("COPY deploy/verdict.toml {in_image}")),
        "the image has no {in_image}"
    );
    let mut args = cmd.clone();
    args[at + 1] = deploy().join("verdict.toml").display().to_string();
    let settings = settings(&args);

    let exposed: BTreeSet<i64> = dockerfile
        .lines()
        .filter_map(|line| line.strip_prefix("EXPOSE "))
        .flat_map(|ports| ports.split_whitespace().map(|p| p.parse::<i64>().unwrap()))
        .collect();
    assert_eq!(
        exposed,
        BTreeSet::from([int(&settings, "port"), int(&settings, "grpc-port")])
    );
    assert_eq!(settings["host"].as_str(), Some("0.0.0.0"));
    assert_eq!(
        settings["model-dir"]
            .as_array()
            .unwrap()
            .get(0)
            .unwrap()
            .as_str(),
        Some("/models")
    );
    assert_eq!(settings["log-format"].as_str(), Some("json"));
}
