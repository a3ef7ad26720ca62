//! Programs against their limits, in both engines: every hostile program is stopped by its
//! limit with its stable code, and honest ones combine an input with a granted secret.

use neosl_confidential::runtime::{Engine, FailureCode, Limits, Run, Secret, execute};
use zeroize::Zeroizing;

const LIMITS: Limits = Limits {
    fuel: 20_000_000,
    memory_bytes: 4 << 20,
    wall_ms: 5_000,
    output_bytes: 4096,
};

fn secrets() -> Vec<Secret> {
    vec![Secret {
        name: "key".into(),
        value: Zeroizing::new("k3y-value-that-is-secret".into()),
    }]
}

fn run(engine: Engine, code: &str, input: &[u8]) -> neosl_confidential::runtime::Outcome {
    let secrets = secrets();
    execute(
        engine,
        &Run {
            code: code.as_bytes(),
            input,
            secrets: &secrets,
            limits: LIMITS,
        },
    )
}

fn failure(engine: Engine, code: &str) -> (FailureCode, String) {
    let outcome = run(engine, code, b"");
    let failure = outcome.result.expect_err("the program must be stopped");
    assert!(
        !failure.message.contains("k3y-value-that-is-secret"),
        "{failure:?}"
    );
    (failure.code, failure.message)
}

fn expected_hmac(input: &[u8]) -> String {
    hex::encode(neosl_crypto::hash::hmac_sha256(
        b"k3y-value-that-is-secret",
        input,
    ))
}

const WASM_HMAC: &str = r#"(module
  (import "neosl" "input_read" (func $input_read (param i32 i32) (result i32)))
  (import "neosl" "secret_read" (func $secret_read (param i32 i32 i32 i32) (result i32)))
  (import "neosl" "hmac_sha256" (func $hmac (param i32 i32 i32 i32 i32)))
  (import "neosl" "output" (func $output (param i32 i32)))
  (import "neosl" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 2048) "key")
  (data (i32.const 3000) "hashing")
  (func (export "run") (local $n i32) (local $k i32)
    (local.set $n (call $input_read (i32.const 0) (i32.const 1024)))
    (local.set $k (call $secret_read (i32.const 2048) (i32.const 3) (i32.const 4096) (i32.const 256)))
    (call $log (i32.const 3000) (i32.const 7))
    (call $hmac (i32.const 4096) (local.get $k) (i32.const 0) (local.get $n) (i32.const 8192))
    (call $output (i32.const 8192) (i32.const 32))))"#;

#[test]
fn wasm_and_js_combine_an_input_with_a_granted_secret() {
    let wasm = run(Engine::Wasm, WASM_HMAC, b"hello");
    assert_eq!(
        hex::encode(wasm.result.expect("wasm output")),
        expected_hmac(b"hello")
    );
    assert_eq!(wasm.log, "hashing\n");
    assert!(wasm.fuel_used > 0 && wasm.fuel_used < LIMITS.fuel);
    // Fuel is deterministic.
    assert_eq!(
        run(Engine::Wasm, WASM_HMAC, b"hello").fuel_used,
        wasm.fuel_used
    );

    let js = run(
        Engine::Js,
        "platform.log('hashing', input.length); platform.hmacSha256Hex(platform.secret('key'), input)",
        b"hello",
    );
    assert_eq!(
        String::from_utf8(js.result.expect("js output")).expect("utf-8"),
        expected_hmac(b"hello")
    );
    assert_eq!(js.log, "hashing 5\n");
    let json = run(Engine::Js, "({sum: 1 + 2, list: [input]})", b"x");
    assert_eq!(json.result.expect("json"), br#"{"sum":3,"list":["x"]}"#);
}

#[test]
fn hostile_wasm_is_stopped_by_its_limits() {
    let cases = [
        (
            r#"(module (memory (export "memory") 1) (func (export "run") (loop br 0)))"#,
            FailureCode::OutOfFuel,
        ),
        (
            r#"(module (memory (export "memory") 1) (func $f (call $f)) (func (export "run") (call $f)))"#,
            FailureCode::StackOverflow,
        ),
        (
            r#"(module (memory (export "memory") 1)
                (func (export "run") (loop (drop (memory.grow (i32.const 16))) br 0)))"#,
            FailureCode::MemoryLimit,
        ),
        (
            r#"(module (memory (export "memory") 1000) (func (export "run")))"#,
            FailureCode::MemoryLimit,
        ),
        (
            r#"(module (import "neosl" "output" (func $o (param i32 i32)))
                (memory (export "memory") 1) (func (export "run") (call $o (i32.const 0) (i32.const 65536))))"#,
            FailureCode::OutputTooLarge,
        ),
        (
            r#"(module (import "neosl" "secret_size" (func $s (param i32 i32) (result i32)))
                (memory (export "memory") 1) (data (i32.const 0) "other")
                (func (export "run") (drop (call $s (i32.const 0) (i32.const 5)))))"#,
            FailureCode::SecretNotGranted,
        ),
        (
            r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
                (memory (export "memory") 1) (func (export "run")))"#,
            FailureCode::FilesystemNotAllowed,
        ),
        (
            r#"(module (import "wasi_snapshot_preview1" "sock_send" (func (param i32 i32 i32 i32 i32) (result i32)))
                (memory (export "memory") 1) (func (export "run")))"#,
            FailureCode::NetworkNotAllowed,
        ),
        (
            r#"(module (import "env" "anything" (func)) (memory (export "memory") 1) (func (export "run")))"#,
            FailureCode::ImportNotAllowed,
        ),
        (
            r#"(module (memory (export "memory") 1) (func (export "run") unreachable))"#,
            FailureCode::CodeError,
        ),
        (
            r#"(module (func (export "start")))"#,
            FailureCode::InvalidProgram,
        ),
        ("not wasm at all", FailureCode::InvalidProgram),
    ];
    for (code, expected) in cases {
        let (got, message) = failure(Engine::Wasm, code);
        assert_eq!(got, expected, "{code}: {message}");
    }
}

#[test]
fn hostile_javascript_is_stopped_by_its_limits_even_when_it_catches() {
    let cases = [
        ("while (true) {}", FailureCode::OutOfFuel),
        (
            "try { while (true) {} } catch (e) {} 'escaped'",
            FailureCode::OutOfFuel,
        ),
        (
            "function f() { return f() + 1 } f()",
            FailureCode::StackOverflow,
        ),
        (
            "const a = []; while (true) a.push(new Array(100000).fill(1))",
            FailureCode::MemoryLimit,
        ),
        ("'x'.repeat(100000)", FailureCode::OutputTooLarge),
        (
            "try { platform.secret('other') } catch (e) {} 'ok'",
            FailureCode::SecretNotGranted,
        ),
        (
            "try { fetch('http://example.com') } catch (e) {} 1",
            FailureCode::NetworkNotAllowed,
        ),
        (
            "platform.fetch('http://example.com')",
            FailureCode::NetworkNotAllowed,
        ),
        ("require('fs')", FailureCode::FilesystemNotAllowed),
        (
            "platform.readFile('/etc/passwd')",
            FailureCode::FilesystemNotAllowed,
        ),
        ("throw new Error('mine')", FailureCode::CodeError),
        ("this is not javascript", FailureCode::CodeError),
        (
            "throw new Error(platform.secret('key'))",
            FailureCode::CodeError,
        ),
    ];
    for (code, expected) in cases {
        let (got, message) = failure(Engine::Js, code);
        assert_eq!(got, expected, "{code}: {message}");
    }
    // A thrown secret is redacted from the message; an output holding it is refused.
    let (_, message) = failure(Engine::Js, "throw new Error(platform.secret('key'))");
    assert!(message.contains("[REDACTED]"), "{message}");
    let (code, _) = failure(Engine::Js, "'value: ' + platform.secret('key')");
    assert_eq!(code, FailureCode::SecretInOutput);
    let logged = run(Engine::Js, "platform.log(platform.secret('key')); 1", b"");
    assert!(!logged.log.contains("k3y-value"), "{}", logged.log);
}

#[test]
fn the_wall_clock_stops_a_program_with_fuel_to_spare() {
    let secrets = secrets();
    let limits = Limits {
        fuel: u64::MAX / 2,
        wall_ms: 50,
        ..LIMITS
    };
    for (engine, code) in [
        (Engine::Js, "while (true) {}"),
        (
            Engine::Wasm,
            r#"(module (memory (export "memory") 1) (func (export "run") (loop br 0)))"#,
        ),
    ] {
        let outcome = execute(
            engine,
            &Run {
                code: code.as_bytes(),
                input: b"",
                secrets: &secrets,
                limits,
            },
        );
        assert_eq!(
            outcome.result.expect_err("stopped").code,
            FailureCode::WallClockLimit,
            "{engine:?}"
        );
    }
}

/// What a program hands the host is bounded before it is copied: a log flood, a huge secret
/// name, a host call with a length past its memory; and no message holds a NUL (PostgreSQL
/// text cannot).
#[test]
fn host_calls_cannot_make_the_host_allocate_or_store_what_it_should_not() {
    let flood = run(
        Engine::Js,
        "const s = 'a'.repeat(1000000); platform.log(...Array(2000).fill(s)); 'done'",
        b"",
    );
    assert!(flood.log.len() <= neosl_confidential::runtime::LOG_BYTES + 32);
    let (code, message) = failure(Engine::Js, "platform.secret('x'.repeat(1000000))");
    assert_eq!(code, FailureCode::SecretNotGranted);
    assert!(message.len() < 1100, "{}", message.len());
    let (_, message) = failure(Engine::Js, "throw 'a\\u0000b'");
    assert!(!message.contains('\0'), "{message:?}");
    let (code, _) = failure(
        Engine::Wasm,
        r#"(module (import "neosl" "sha256" (func $h (param i32 i32 i32)))
            (memory (export "memory") 1)
            (func (export "run") (call $h (i32.const 0) (i32.const 2000000000) (i32.const 0))))"#,
    );
    assert!(
        matches!(code, FailureCode::CodeError | FailureCode::OutOfFuel),
        "{code:?}"
    );
}
