//! Confidential compute's engines, measured (a benchmark, not a test): start-up latency and
//! throughput of trivial jobs, fuel units per second of a compute-bound job, and the memory a
//! running job costs, for WebAssembly (wasmi) and JavaScript (QuickJS).
//!
//! `cargo bench -p neosl-confidential --bench runtime`

use std::time::{Duration, Instant};

use neosl_confidential::runtime::{Engine, Limits, Run, Secret, execute};
use zeroize::Zeroizing;

const LIMITS: Limits = Limits {
    fuel: 2_000_000_000,
    memory_bytes: 16 << 20,
    wall_ms: 30_000,
    output_bytes: 4096,
};

const WASM_TRIVIAL: &str = r#"(module
  (import "neosl" "output" (func $output (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "ok")
  (func (export "run") (call $output (i32.const 0) (i32.const 2))))"#;

const WASM_LOOP: &str = r#"(module
  (import "neosl" "output" (func $output (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "run") (local $i i32) (local $acc i32)
    (loop $l
      (local.set $acc (i32.add (local.get $acc) (i32.mul (local.get $i) (i32.const 31))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 20000000))))
    (i32.store (i32.const 0) (local.get $acc))
    (call $output (i32.const 0) (i32.const 4))))"#;

const JS_TRIVIAL: &str = "'ok'";
const JS_LOOP: &str =
    "let acc = 0; for (let i = 0; i < 3000000; i++) { acc = (acc + i * 31) | 0 } acc";
const JS_HOLD: &str = "const a = new Array(100000).fill(1); let s = 0; for (let i = 0; i < 2000000; i++) s += a[i % 100000]; s";

fn job(engine: Engine, code: &str) -> neosl_confidential::runtime::Outcome {
    let secrets: Vec<Secret> = vec![Secret {
        name: "k".into(),
        value: Zeroizing::new("v".into()),
    }];
    execute(
        engine,
        &Run {
            code: code.as_bytes(),
            input: b"input",
            secrets: &secrets,
            limits: LIMITS,
        },
    )
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("confidential compute engines ({cores} cores)\n");
    for (engine, trivial, heavy, name) in [
        (
            Engine::Wasm,
            WASM_TRIVIAL,
            WASM_LOOP,
            "wasm (wasmi, portable dispatch)",
        ),
        (Engine::Js, JS_TRIVIAL, JS_LOOP, "js (QuickJS)"),
    ] {
        assert!(job(engine, trivial).result.is_ok());
        // Start-up: one trivial job at a time (engine, compile, instantiate, run, tear down).
        let n = 300;
        let mut latencies = Vec::with_capacity(n);
        for _ in 0..n {
            let start = Instant::now();
            let outcome = job(engine, trivial);
            latencies.push(start.elapsed());
            assert!(outcome.result.is_ok());
        }
        latencies.sort();
        let p50 = latencies[n / 2];
        let p99 = latencies[n * 99 / 100];
        // Throughput: trivial jobs on every core at once.
        let per_thread = 300;
        let start = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..cores {
                scope.spawn(|| {
                    for _ in 0..per_thread {
                        assert!(job(engine, trivial).result.is_ok());
                    }
                });
            }
        });
        let rate = (cores * per_thread) as f64 / start.elapsed().as_secs_f64();
        // Fuel per second on a compute-bound job.
        let start = Instant::now();
        let outcome = job(engine, heavy);
        let took = start.elapsed();
        assert!(outcome.result.is_ok(), "{:?}", outcome.result);
        let fuel_rate = outcome.fuel_used as f64 / took.as_secs_f64();
        println!("{name}");
        println!(
            "  trivial job start-up   p50 {:>8.1} µs   p99 {:>8.1} µs",
            micros(p50),
            micros(p99)
        );
        println!("  trivial jobs           {rate:>10.0} jobs/s on {cores} threads");
        println!(
            "  compute-bound job      {:>10.1} M fuel/s ({} fuel in {:.0} ms)",
            fuel_rate / 1e6,
            outcome.fuel_used,
            took.as_secs_f64() * 1e3
        );
    }
    // Memory: 16 concurrent JavaScript jobs each holding an array of 100,000 numbers, and 16
    // WebAssembly jobs with 16 pages (1 MiB) of memory each, measured as the process's RSS
    // while they run.
    for (engine, code, what) in [
        (Engine::Js, JS_HOLD, "js holding a 100,000-number array"),
        (
            Engine::Wasm,
            r#"(module (memory (export "memory") 16)
                 (func (export "run") (local $i i32)
                   (loop $l (i32.store (i32.mul (local.get $i) (i32.const 4096)) (local.get $i))
                     (local.set $i (i32.add (local.get $i) (i32.const 1)))
                     (br_if $l (i32.lt_u (local.get $i) (i32.const 256))))
                   (local.set $i (i32.const 0))
                   (loop $m (local.set $i (i32.add (local.get $i) (i32.const 1)))
                     (br_if $m (i32.lt_u (local.get $i) (i32.const 30000000))))))"#,
            "wasm with 1 MiB of linear memory",
        ),
    ] {
        let concurrent = 16;
        let before = rss_kib();
        let peak = std::sync::atomic::AtomicU64::new(before);
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    peak.fetch_max(rss_kib(), std::sync::atomic::Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(2));
                }
            });
            let runners: Vec<_> = (0..concurrent)
                .map(|_| scope.spawn(|| job(engine, code)))
                .collect();
            for r in runners {
                assert!(r.join().expect("job").result.is_ok());
            }
            done.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        let grew = peak.into_inner().saturating_sub(before);
        println!(
            "memory: {concurrent} concurrent jobs ({what}): +{grew} KiB RSS, {:.0} KiB per job",
            grew as f64 / concurrent as f64
        );
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
