//! The committed contract artifacts are exactly what the pinned neo3-boa makes of the sources.
//! `NEOSL_WRITE_CONTRACTS=1 cargo test -p neosl-contracts --test artifacts` writes them anew.

#[test]
fn committed_artifacts_are_what_the_sources_compile_to() {
    let write = std::env::var_os("NEOSL_WRITE_CONTRACTS").is_some();
    for contract in neosl_contracts::ALL {
        let compiled = neosl_testkit::compile_contract(contract.source).expect("compiles");
        let dir = neosl_testkit::workspace_root()
            .join("contracts")
            .join(contract.source)
            .join("build");
        if write {
            std::fs::create_dir_all(&dir).expect("build dir");
            std::fs::write(dir.join(format!("{}.nef", contract.source)), &compiled.nef)
                .expect("nef");
            std::fs::write(
                dir.join(format!("{}.manifest.json", contract.source)),
                &compiled.manifest,
            )
            .expect("manifest");
            continue;
        }
        assert!(
            compiled.nef == contract.nef,
            "{}: the committed NEF differs from the source's (NEOSL_WRITE_CONTRACTS=1 rebuilds)",
            contract.name
        );
        assert_eq!(
            compiled.manifest, contract.manifest,
            "{}: the committed manifest differs",
            contract.name
        );
        let manifest: serde_json::Value =
            serde_json::from_str(contract.manifest).expect("manifest JSON");
        assert_eq!(manifest["name"], contract.name);
    }
}

/// The README publishes each artifact's SHA-256, so anyone can check a deployment against it.
#[test]
fn the_readme_publishes_every_artifacts_hash() {
    let readme =
        std::fs::read_to_string(neosl_testkit::workspace_root().join("README.md")).expect("README");
    for contract in neosl_contracts::ALL {
        for (what, bytes) in [
            ("NEF", contract.nef),
            ("manifest", contract.manifest.as_bytes()),
        ] {
            let hash = hex::encode(neosl_crypto::hash::sha256(bytes));
            assert!(
                readme.contains(&hash),
                "README.md lacks the SHA-256 of {}'s {what}: {hash}",
                contract.name
            );
        }
    }
}
