//! The deployment files are valid and agree with the code and the MarbleRun manifest: the
//! Kubernetes manifests and the compose file pass their schemas (from the `kubernetes-validate`
//! and `docker-compose` packages, offline); there is one Deployment and Service per marble, on
//! the marble's port, probed on the probe listener, with PostgreSQL from a Secret and no
//! service secret in sight (the Coordinator injects those); every variable a container gets from
//! the host is one the Gramine manifest passes into the enclave; the compose replicas get every
//! secret `neosl secrets` lists, from the environment.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn declared() -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_neosl"))
        .args(["secrets", "--json"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// The docker-compose 1.29.2 wheel, whose `compose_spec.json` is the Compose schema (fetched
/// once into the tools directory, without its dependencies: only the schema is used).
fn compose_wheel(python: &Path) -> PathBuf {
    let dir = neosl_testkit::tools_dir().join("wheels");
    let wheel = dir.join("docker_compose-1.29.2-py2.py3-none-any.whl");
    if !wheel.exists() {
        let status = Command::new(python)
            .args([
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(["--no-deps", "--dest"])
            .arg(&dir)
            .arg("docker-compose==1.29.2")
            .status()
            .expect("pip runs");
        assert!(status.success(), "downloading the compose schema");
    }
    wheel
}

fn validated() -> Value {
    let tools = neosl_testkit::python_tools().expect("python tools");
    let wheel = compose_wheel(&tools.python());
    let out = Command::new(tools.python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/deploy/validate.py"))
        .arg(root().join("deploy/kubernetes/neosl.yaml"))
        .arg(root().join("deploy/compose/compose.yaml"))
        .arg(wheel)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

fn env_of(container: &Value) -> BTreeMap<String, Value> {
    container["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|e| (e["name"].as_str().expect("name").to_owned(), e.clone()))
        .collect()
}

#[test]
fn deployment_files_are_valid_and_agree_with_the_code() {
    let validated = validated();
    assert_eq!(validated["errors"], Value::Array(vec![]), "schema errors");
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("deploy/marblerun/manifest.json")).expect("manifest"),
    )
    .expect("JSON");
    let marbles = manifest["Marbles"].as_object().expect("marbles");
    let declared = declared();
    let secret_names: BTreeSet<String> = declared
        .as_object()
        .expect("services")
        .values()
        .flat_map(|list| list.as_array().cloned().unwrap_or_default())
        .filter_map(|s| s["name"].as_str().map(str::to_owned))
        .collect();
    let gramine = std::fs::read_to_string(root().join("deploy/gramine/neosl.manifest.template"))
        .expect("gramine template");

    // Kubernetes: a Deployment and a Service per marble.
    let docs = validated["kubernetes"].as_array().expect("docs");
    let of_kind = |kind: &str| -> BTreeMap<String, &Value> {
        docs.iter()
            .filter(|d| d["kind"] == kind)
            .map(|d| (d["metadata"]["name"].as_str().expect("name").to_owned(), d))
            .collect()
    };
    let deployments = of_kind("Deployment");
    let services = of_kind("Service");
    let marble_names: BTreeSet<String> = marbles.keys().cloned().collect();
    assert_eq!(
        deployments.keys().cloned().collect::<BTreeSet<_>>(),
        marble_names
    );
    assert_eq!(
        services.keys().cloned().collect::<BTreeSet<_>>(),
        marble_names
    );
    for (name, marble) in marbles {
        let argv: Vec<&str> = marble["Parameters"]["Argv"]
            .as_array()
            .expect("argv")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let listen = argv[argv
            .iter()
            .position(|a| *a == "--listen")
            .expect("--listen")
            + 1];
        let port: u64 = listen
            .rsplit(':')
            .next()
            .expect("port")
            .parse()
            .expect("port");
        let deployment = deployments[name];
        let pod = &deployment["spec"]["template"];
        assert_eq!(
            pod["metadata"]["labels"]["marblerun/marbletype"],
            name.as_str()
        );
        let containers = pod["spec"]["containers"].as_array().expect("containers");
        assert_eq!(containers.len(), 1, "{name}: one marble per pod");
        let container = &containers[0];
        let env = env_of(container);
        assert_eq!(env["EDG_MARBLE_TYPE"]["value"], name.as_str());
        assert_eq!(env["EDG_MARBLE_DNS_NAMES"]["value"], name.as_str());
        assert!(env.contains_key("EDG_MARBLE_COORDINATOR_ADDR"), "{name}");
        assert_eq!(
            env["NEOSL_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"], "neosl-postgres",
            "{name}: PostgreSQL from a Secret"
        );
        for var in env.keys() {
            assert!(
                !secret_names.contains(var),
                "{name}: {var} must come from the Coordinator"
            );
            if !var.starts_with("EDG_MARBLE_") {
                assert!(
                    gramine.contains(&format!("loader.env.{var} = {{ passthrough = true }}")),
                    "{name}: the enclave would never see {var}"
                );
            }
        }
        let ports: BTreeMap<&str, u64> = container["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().expect("name"),
                    p["containerPort"].as_u64().expect("port"),
                )
            })
            .collect();
        assert_eq!(ports["api"], port, "{name} listens where its marble says");
        let probe_port: u64 = env["NEOSL_PROBE_LISTEN"]["value"]
            .as_str()
            .and_then(|v| v.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .expect("probe port");
        assert_eq!(ports["probe"], probe_port);
        assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/health");
        assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/ready");
        for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
            assert_eq!(
                container[probe]["httpGet"]["port"], "probe",
                "{name}: {probe}"
            );
        }
        let service = services[name];
        assert_eq!(service["spec"]["ports"][0]["port"].as_u64(), Some(port));
        assert_eq!(
            service["spec"]["selector"], deployment["spec"]["selector"]["matchLabels"],
            "{name}: the Service selects its Deployment"
        );
    }

    // Compose: the replicas' settings file is valid for this build, shares the rate limits…
    let settings = neosl::registry()
        .load_settings(
            Some(&root().join("deploy/compose/neosl.toml")),
            &std::collections::HashMap::<String, String>::new(),
        )
        .expect("deploy/compose/neosl.toml is valid settings");
    assert_eq!(
        neosl_gateway::config::GatewayConfig::of(&settings)
            .expect("gateway settings")
            .rate_limit_store,
        neosl_gateway::config::RateLimitStore::Database
    );
    // …and the replicas get every secret from the environment, and secrets.sh makes them.
    let compose = &validated["compose"];
    let neosl = &compose["services"]["neosl"];
    assert!(neosl["deploy"]["replicas"].as_u64().is_some_and(|n| n > 1));
    assert_eq!(neosl["environment"]["NEOSL_MODE"], "simulation");
    assert!(
        neosl["environment"]["NEOSL_DATABASE_URL"]
            .as_str()
            .is_some_and(|u| u.starts_with("postgres://"))
    );
    let script =
        std::fs::read_to_string(root().join("deploy/compose/secrets.sh")).expect("secrets.sh");
    for (service, secrets) in declared.as_object().expect("services") {
        let mut groups: BTreeMap<&str, bool> = BTreeMap::new();
        for spec in secrets.as_array().expect("list") {
            let name = spec["name"].as_str().expect("name");
            let given = neosl["environment"][name]
                .as_str()
                .is_some_and(|v| v.starts_with(&format!("${{{name}")))
                && script.contains(name);
            match spec["alternatives_group"].as_str() {
                // A rotation's previous key is given only while rotating.
                _ if spec["optional"] == true => {}
                Some(group) => *groups.entry(group).or_default() |= given,
                None => assert!(
                    given,
                    "{service} reads {name}: compose and secrets.sh give it"
                ),
            }
        }
        assert!(groups.values().all(|g| *g), "{service}: {groups:?}");
    }
}
