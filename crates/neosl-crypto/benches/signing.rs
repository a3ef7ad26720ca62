//! Signing, verification and key-derivation throughput, printed beside this machine's
//! `openssl speed ecdsap256` figures.
//!
//! Run: `cargo bench -p neosl-crypto --bench signing` (optionally `-- --seconds N`).
//! Prints a table; asserts nothing (speed is measured, never asserted).

use std::process::Command;
use std::time::{Duration, Instant};

use neosl_crypto::{MasterKey, SecretBytes, SecretKey, kdf};

/// Runs `op` repeatedly for about `budget` on `threads` threads; returns operations per second.
fn rate(threads: usize, budget: Duration, op: impl Fn(u64) + Sync) -> f64 {
    let start = Instant::now();
    let total: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let op = &op;
                s.spawn(move || {
                    let mut n = 0u64;
                    while start.elapsed() < budget {
                        for _ in 0..64 {
                            op(t as u64 * 1_000_000_000 + n);
                            n += 1;
                        }
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    total as f64 / start.elapsed().as_secs_f64()
}

/// `openssl speed [-multi N] ecdsap256` → (sign/s, verify/s), or None when openssl is missing.
fn openssl_speed(threads: usize, seconds: u64) -> Option<(f64, f64)> {
    let mut cmd = Command::new("openssl");
    cmd.arg("speed").args(["-seconds", &seconds.to_string()]);
    if threads > 1 {
        cmd.args(["-multi", &threads.to_string()]);
    }
    let output = cmd.arg("ecdsap256").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().rev().find(|l| l.contains("nistp256"))?;
    let numbers: Vec<f64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    match numbers.as_slice() {
        [.., sign, verify] => Some((*sign, *verify)),
        _ => None,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let budget = Duration::from_secs(seconds);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);

    let key = SecretKey::generate();
    let prepared = key.signing_key().expect("prepare key");
    let public = key.public_key();
    let message = [0x5au8; 36]; // Neo sign data: magic (4) ‖ tx hash (32)
    let signature = prepared.sign(&message).expect("sign");
    let master = MasterKey::new(SecretBytes::from_slice(&[7u8; 32])).expect("master key");

    let sign_1 = rate(1, budget, |_| {
        prepared.sign(&message).expect("sign");
    });
    let sign_n = rate(cores, budget, |_| {
        prepared.sign(&message).expect("sign");
    });
    let verify_1 = rate(1, budget, |_| {
        assert!(public.verify(&message, &signature));
    });
    let derive_sign_1 = rate(1, budget, |n| {
        let id = format!("00000000-0000-4000-8000-{n:012x}");
        let k = kdf::derive_pool_account_key(&master, &id).expect("derive");
        k.sign(&message).expect("sign");
    });
    let derive_sign_n = rate(cores, budget, |n| {
        let id = format!("00000000-0000-4000-8000-{n:012x}");
        let k = kdf::derive_pool_account_key(&master, &id).expect("derive");
        k.sign(&message).expect("sign");
    });
    let derive_pub_1 = rate(1, budget, |n| {
        let id = format!("00000000-0000-4000-8000-{n:012x}");
        kdf::derive_pool_account_key(&master, &id)
            .expect("derive")
            .public_key();
    });
    let deterministic_1 = rate(1, budget, |_| {
        key.sign_deterministic(&message);
    });

    let proof = neosl_crypto::vrf::prove(&key, b"vrf seed");
    let vrf_prove_1 = rate(1, budget, |n| {
        neosl_crypto::vrf::prove(&key, &n.to_le_bytes());
    });
    let vrf_verify_1 = rate(1, budget, |_| {
        assert!(
            neosl_crypto::vrf::verify(&public, b"vrf seed", &proof)
                .expect("well-formed")
                .is_some()
        );
    });
    let ossl_1 = openssl_speed(1, seconds);
    let ossl_n = openssl_speed(cores, seconds);
    let ratio = |ours: f64, theirs: Option<f64>| match theirs {
        Some(t) if t > 0.0 => format!("{:>6.0}%", 100.0 * ours / t),
        _ => "   n/a".into(),
    };
    let show = |v: Option<f64>| v.map_or("n/a".into(), |x| format!("{x:.0}"));

    println!("P-256 ECDSA on this machine ({cores} cores, {seconds} s per figure)");
    println!(
        "{:<52}{:>12}{:>14}{:>9}",
        "operation", "ours /s", "openssl /s", "ratio"
    );
    let row = |name: &str, ours: f64, theirs: Option<f64>| {
        println!(
            "{name:<52}{ours:>12.0}{:>14}{}",
            show(theirs),
            ratio(ours, theirs)
        );
    };
    row("sign, prepared key, 1 thread", sign_1, ossl_1.map(|x| x.0));
    row(
        &format!("sign, prepared key, {cores} threads"),
        sign_n,
        ossl_n.map(|x| x.0),
    );
    row("verify, 1 thread", verify_1, ossl_1.map(|x| x.1));
    row(
        "derive pool key + sign (AccountPool path), 1 thread",
        derive_sign_1,
        ossl_1.map(|x| x.0),
    );
    row(
        &format!("derive pool key + sign, {cores} threads"),
        derive_sign_n,
        ossl_n.map(|x| x.0),
    );
    row("derive pool key + public key, 1 thread", derive_pub_1, None);
    row(
        "sign, RFC 6979 deterministic (p256), 1 thread",
        deterministic_1,
        None,
    );
    // VRF prove and verify each cost about two scalar multiplications, as an ECDSA verify
    // does: both are set beside ECDSA verify, ours and openssl's (target: 40 %).
    row(
        "ECVRF-P256-SHA256-TAI prove (vs openssl verify), 1 t",
        vrf_prove_1,
        ossl_1.map(|x| x.1),
    );
    row(
        "ECVRF-P256-SHA256-TAI verify (vs openssl verify), 1 t",
        vrf_verify_1,
        ossl_1.map(|x| x.1),
    );
    println!(
        "VRF against our own ECDSA verify ({verify_1:.0}/s): prove {:.0}%, verify {:.0}%",
        100.0 * vrf_prove_1 / verify_1,
        100.0 * vrf_verify_1 / verify_1
    );
    println!(
        "time to derive 10,000 pool public keys on 1 thread: {:.2} s",
        10_000.0 / derive_pub_1
    );
}
