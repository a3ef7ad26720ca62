//! Guards on the shape of the workspace, read from `cargo metadata`:
//!
//! - the protocol and crypto crates stay pure: no async runtime, network, TLS or database
//!   dependency, however indirect;
//! - a service crate (one with a `src/definition.rs`) never depends on another service's
//!   implementation crate, only on API crates and shared libraries.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Packages that mean I/O, async or a database.
const IMPURE: &[&str] = &[
    "tokio",
    "async-trait",
    "futures",
    "futures-util",
    "mio",
    "hyper",
    "reqwest",
    "axum",
    "tower",
    "rustls",
    "tokio-rustls",
    "tungstenite",
    "tokio-tungstenite",
    "sqlx",
    "sqlx-core",
    "libsqlite3-sys",
];

struct Workspace {
    /// Package id → name.
    names: BTreeMap<String, String>,
    /// Package id → the ids of its normal (not dev, not build) dependencies.
    normal: BTreeMap<String, Vec<String>>,
    /// Workspace member name → its directory.
    members: BTreeMap<String, PathBuf>,
    /// Workspace member name → its dependencies that are neither optional nor dev/build.
    required: BTreeMap<String, Vec<String>>,
}

fn workspace() -> Workspace {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // Dependencies of this machine's target only (not, say, WebAssembly's).
    let rustc = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc runs");
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc names its host");
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--filter-platform",
        ])
        .arg(&host)
        .current_dir(&root)
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let mut names = BTreeMap::new();
    let mut members = BTreeMap::new();
    let mut required = BTreeMap::new();
    let member_ids: BTreeSet<&str> = meta["workspace_members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for package in meta["packages"].as_array().expect("packages") {
        let id = package["id"].as_str().expect("id").to_owned();
        let name = package["name"].as_str().expect("name").to_owned();
        if member_ids.contains(id.as_str()) {
            let manifest = PathBuf::from(package["manifest_path"].as_str().expect("path"));
            members.insert(name.clone(), manifest.parent().expect("dir").to_owned());
            let deps: Vec<String> = package["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .filter(|d| d["kind"].is_null() && d["optional"] == false)
                .filter_map(|d| d["name"].as_str().map(str::to_owned))
                .collect();
            required.insert(name.clone(), deps);
        }
        names.insert(id, name);
    }
    let mut normal = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().expect("nodes") {
        let id = node["id"].as_str().expect("id").to_owned();
        let deps = node["deps"]
            .as_array()
            .expect("deps")
            .iter()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .is_some_and(|kinds| kinds.iter().any(|k| k["kind"].is_null()))
            })
            .filter_map(|d| d["pkg"].as_str().map(str::to_owned))
            .collect();
        normal.insert(id, deps);
    }
    Workspace {
        names,
        normal,
        members,
        required,
    }
}

impl Workspace {
    fn id_of(&self, name: &str) -> &str {
        self.names
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(id, _)| id.as_str())
            .unwrap_or_else(|| panic!("no package {name}"))
    }

    /// Every package `name` depends on at run time, with the path that brings it in.
    fn closure(&self, name: &str) -> BTreeMap<String, String> {
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        let mut todo = vec![(self.id_of(name).to_owned(), name.to_owned())];
        while let Some((id, path)) = todo.pop() {
            for dep in self.normal.get(&id).into_iter().flatten() {
                let dep_name = self.names[dep].clone();
                if let std::collections::btree_map::Entry::Vacant(slot) = seen.entry(dep_name) {
                    let via = format!("{path} → {}", slot.key());
                    slot.insert(via.clone());
                    todo.push((dep.clone(), via));
                }
            }
        }
        seen
    }

    fn direct(&self, name: &str) -> Vec<String> {
        self.normal[self.id_of(name)]
            .iter()
            .map(|d| self.names[d].clone())
            .collect()
    }
}

#[test]
fn the_protocol_and_crypto_crates_do_no_io() {
    let ws = workspace();
    for pure in ["neosl-crypto", "neosl-neo"] {
        let deps = ws.closure(pure);
        let impure: Vec<&String> = IMPURE.iter().filter_map(|name| deps.get(*name)).collect();
        assert!(impure.is_empty(), "{pure} must stay pure: {impure:?}");
    }
    // The guard can fail: the runtime does pull these in.
    assert!(ws.closure("neosl-runtime").contains_key("tokio"));
}

#[test]
fn service_crates_depend_on_api_crates_not_on_each_other() {
    let ws = workspace();
    let services: Vec<&String> = ws
        .members
        .iter()
        .filter(|(_, dir)| dir.join("src/definition.rs").exists())
        .map(|(name, _)| name)
        .collect();
    assert!(
        services.len() >= 3,
        "the gateway, the AccountPool and VRF are service crates: {services:?}"
    );
    for service in &services {
        for dep in ws.direct(service) {
            assert!(
                !services.contains(&&dep),
                "{service} depends on the service crate {dep}: depend on its API crate instead"
            );
        }
    }
    // API crates serve their users without server, database or TLS code (by default: a
    // feature such as the AccountPool's `signer` may add the chain client).
    for api in ws.members.keys().filter(|name| name.ends_with("-api")) {
        let mut deps = BTreeMap::new();
        for dep in &ws.required[api] {
            deps.insert(dep.clone(), format!("{api} → {dep}"));
            for (name, via) in ws.closure(dep) {
                deps.entry(name).or_insert(format!("{api} → {via}"));
            }
        }
        for heavy in ["axum", "sqlx", "rustls", "neosl-runtime"] {
            assert!(
                !deps.contains_key(heavy),
                "{api} pulls in {heavy}: {}",
                deps[heavy]
            );
        }
    }
}
