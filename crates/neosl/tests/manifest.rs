//! The MarbleRun manifest and the code agree: every secret a service reads is injected into its
//! marble (for alternatives, at least one of them), every secret the manifest defines is
//! injected into a marble that reads it, and every marble is an enclave-mode service with
//! MarbleRun's certificates.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn manifest() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/marblerun/manifest.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("manifest exists"))
        .expect("manifest is JSON")
}

fn declared() -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_neosl"))
        .args(["secrets", "--json"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// `{{ hex .Secrets.name }}` → `name`.
fn referenced_secret(template: &str) -> Option<String> {
    let start = template.find(".Secrets.")? + ".Secrets.".len();
    let rest = &template[start..];
    Some(
        rest.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect(),
    )
}

#[test]
fn manifest_and_code_agree_on_secrets() {
    let manifest = manifest();
    let declared = declared();
    let marbles = manifest["Marbles"].as_object().expect("marbles");
    let defined: BTreeSet<String> = manifest["Secrets"]
        .as_object()
        .expect("secrets")
        .keys()
        .cloned()
        .collect();
    let mut used_by_marbles = BTreeSet::new();

    for (service, secrets) in declared.as_object().expect("services") {
        let marble = marbles
            .get(service)
            .unwrap_or_else(|| panic!("no marble for service {service}"));
        let argv: Vec<&str> = marble["Parameters"]["Argv"]
            .as_array()
            .expect("argv")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            argv.windows(2)
                .any(|w| w == ["--service", service.as_str()]),
            "{service}: {argv:?}"
        );
        assert!(
            argv.windows(2).any(|w| w == ["--mode", "enclave"]),
            "{service} runs in enclave mode"
        );
        let env = marble["Parameters"]["Env"].as_object().expect("env");
        for var in [
            "MARBLE_PREDEFINED_MARBLE_CERTIFICATE_CHAIN",
            "MARBLE_PREDEFINED_PRIVATE_KEY",
            "MARBLE_PREDEFINED_ROOT_CA",
        ] {
            assert!(env.contains_key(var), "{service} gets {var}");
        }
        assert_eq!(
            env["EDG_MARBLE_DNS_NAMES"],
            service.as_str(),
            "the certificate names the service"
        );

        let secrets = secrets.as_array().expect("list");
        let names: BTreeSet<&str> = secrets.iter().filter_map(|s| s["name"].as_str()).collect();
        let mut groups: BTreeMap<&str, bool> = BTreeMap::new();
        for spec in secrets {
            let name = spec["name"].as_str().expect("name");
            let injected = env.get(name).and_then(Value::as_str);
            if let Some(template) = injected {
                let secret = referenced_secret(template)
                    .unwrap_or_else(|| panic!("{service}: {name} is not a secret template"));
                assert!(
                    defined.contains(&secret),
                    "{service}: {name} uses undefined secret {secret}"
                );
                used_by_marbles.insert(secret);
            }
            match spec["alternatives_group"].as_str() {
                _ if spec["optional"] == true => {}
                Some(group) => *groups.entry(group).or_default() |= injected.is_some(),
                None => assert!(
                    injected.is_some(),
                    "{service} reads {name}, which the manifest does not inject"
                ),
            }
        }
        for (group, satisfied) in groups {
            assert!(
                satisfied,
                "{service}: no secret of group {group} is injected"
            );
        }
        // Nothing secret is injected that the service does not read.
        for (var, value) in env {
            if value.as_str().and_then(referenced_secret).is_some() {
                assert!(
                    names.contains(var.as_str()),
                    "{service}: {var} is injected but never read"
                );
            }
        }
    }
    assert_eq!(
        used_by_marbles, defined,
        "every defined secret is injected into a marble that reads it"
    );
    for name in marbles.keys() {
        assert!(
            declared.get(name).is_some(),
            "marble {name} is not a service of this binary"
        );
    }
}
