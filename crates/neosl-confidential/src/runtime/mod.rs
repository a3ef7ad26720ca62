//! Running one program (pure computation: no I/O but what the host functions give).
//!
//! Both engines are interpreters (an enclave cannot hand out executable pages), and each run
//! gets its own engine state: nothing survives from one job to the next. Limits:
//! - **fuel**, the deterministic CPU budget: WebAssembly instructions as wasmi counts them;
//!   for JavaScript, QuickJS's interrupt checkpoints (one every 10,000 counted operations), each
//!   worth [`JS_FUEL_PER_CHECKPOINT`] units. The same program on the same input uses the same
//!   fuel on every run.
//! - **memory**: WebAssembly linear memory (growth beyond it traps), QuickJS's heap limit.
//! - **wall clock**: checked between fuel slices (WebAssembly) and at every checkpoint
//!   (JavaScript); a safety net, the fuel budget is what bounds a run.
//! - **output** and **log** sizes; the stack (wasmi's recursion limit, QuickJS's stack limit).
//!
//! The only ways out are the output, the log and the host functions: the input, the granted
//! secrets, SHA-256 and HMAC-SHA256. Asking for anything else (another secret, the network, a
//! file, any other import) ends the run with its own code, whether or not the program catches
//! the error.

pub mod js;
pub mod wasm;

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Fuel units per QuickJS interrupt checkpoint.
pub const JS_FUEL_PER_CHECKPOINT: u64 = 10_000;
/// The log kept per run, in bytes.
pub const LOG_BYTES: usize = 16 * 1024;
/// The native stack of a run's thread.
pub const RUN_STACK_BYTES: usize = 64 << 20;
/// Fuel charged per byte a host function hashes or copies.
pub const FUEL_PER_HOST_BYTE: u64 = 1;

/// Which engine runs a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// WebAssembly (binary, or text format) on wasmi.
    Wasm,
    /// JavaScript (ES2023) on QuickJS.
    Js,
}

impl Engine {
    /// Its name in the API and in the signed message.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Wasm => "wasm",
            Self::Js => "js",
        }
    }

    /// From its name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "wasm" => Some(Self::Wasm),
            "js" => Some(Self::Js),
            _ => None,
        }
    }
}

/// The limits of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// The CPU budget.
    pub fuel: u64,
    /// Memory (bytes).
    pub memory_bytes: u64,
    /// Wall clock (ms).
    pub wall_ms: u64,
    /// The output (bytes).
    pub output_bytes: u64,
}

/// A granted secret: its name and value (zeroized on drop, never printed).
#[derive(Clone)]
pub struct Secret {
    /// The name the program asks for.
    pub name: String,
    /// The value.
    pub value: Zeroizing<String>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({}: [REDACTED])", self.name)
    }
}

/// What one run is given.
#[derive(Debug, Clone)]
pub struct Run<'a> {
    /// The program's source (WebAssembly binary or text; JavaScript text).
    pub code: &'a [u8],
    /// The input.
    pub input: &'a [u8],
    /// The secrets it may read.
    pub secrets: &'a [Secret],
    /// Its limits.
    pub limits: Limits,
}

/// Why a run produced no output. Codes are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    /// The fuel budget ran out.
    OutOfFuel,
    /// Memory beyond the cap was asked for.
    MemoryLimit,
    /// The wall-clock cap passed.
    WallClockLimit,
    /// The output is larger than allowed.
    OutputTooLarge,
    /// Recursion beyond the stack limit.
    StackOverflow,
    /// The program asked for a secret the job was not granted.
    SecretNotGranted,
    /// The output holds a granted secret's value verbatim.
    SecretInOutput,
    /// The module imports something the platform does not offer (WASI, a socket, a file).
    ImportNotAllowed,
    /// The program tried to reach the network.
    NetworkNotAllowed,
    /// The program tried to reach a file or a module.
    FilesystemNotAllowed,
    /// The code does not compile, or lacks its entry point.
    InvalidProgram,
    /// The platform could not run the program (nothing is charged).
    PlatformError,
    /// The program failed by itself (a trap, an exception).
    CodeError,
}

impl FailureCode {
    /// The stable code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OutOfFuel => "out_of_fuel",
            Self::MemoryLimit => "memory_limit",
            Self::WallClockLimit => "wall_clock_limit",
            Self::OutputTooLarge => "output_too_large",
            Self::StackOverflow => "stack_overflow",
            Self::SecretNotGranted => "secret_not_granted",
            Self::SecretInOutput => "secret_in_output",
            Self::ImportNotAllowed => "import_not_allowed",
            Self::NetworkNotAllowed => "network_not_allowed",
            Self::FilesystemNotAllowed => "filesystem_not_allowed",
            Self::InvalidProgram => "invalid_program",
            Self::PlatformError => "platform_error",
            Self::CodeError => "code_error",
        }
    }
}

/// A failed run: its code and what happened (secret values removed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The stable code.
    pub code: FailureCode,
    /// What happened.
    pub message: String,
}

/// The longest failure message kept.
const MESSAGE_BYTES: usize = 1024;

impl Failure {
    /// A failure; the message is capped at 1 KiB and holds no NUL (PostgreSQL text cannot).
    pub fn new(code: FailureCode, message: impl Into<String>) -> Self {
        let mut message = message.into().replace('\0', "\u{fffd}");
        if message.len() > MESSAGE_BYTES {
            let mut cut = MESSAGE_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        Self { code, message }
    }
}

/// What a run gave.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The output, or why there is none.
    pub result: Result<Vec<u8>, Failure>,
    /// Fuel used.
    pub fuel_used: u64,
    /// The log (capped, secret values removed).
    pub log: String,
}

/// Runs `run` on `engine` (blocking: call it off the async executor). Never panics on any
/// program; secret values are removed from the log and from failure messages, and an output
/// holding one verbatim is refused.
pub fn execute(engine: Engine, run: &Run<'_>) -> Outcome {
    // Each run gets a thread of its own with a known stack: both interpreters recurse on the
    // native stack for the program's calls, and their own limits sit well inside it.
    let ran = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("confidential-run".into())
            .stack_size(RUN_STACK_BYTES)
            .spawn_scoped(scope, || match engine {
                Engine::Wasm => wasm::run(run),
                Engine::Js => js::run(run),
            })
            .map(|handle| handle.join())
    });
    let mut outcome = match ran {
        Ok(Ok(outcome)) => outcome,
        _ => Outcome {
            result: Err(Failure::new(
                FailureCode::PlatformError,
                "the run could not be started",
            )),
            fuel_used: 0,
            log: String::new(),
        },
    };
    let redact = |text: &mut String| {
        for secret in run.secrets {
            if !secret.value.is_empty() && text.contains(secret.value.as_str()) {
                *text = text.replace(secret.value.as_str(), "[REDACTED]");
            }
        }
    };
    redact(&mut outcome.log);
    match &mut outcome.result {
        Err(failure) => redact(&mut failure.message),
        Ok(output) => {
            // A linear search per secret (a naive one is quadratic in the output).
            let leaked = run.secrets.iter().any(|s| {
                s.value.len() >= 8 && memchr::memmem::find(output, s.value.as_bytes()).is_some()
            });
            if leaked {
                outcome.result = Err(Failure::new(
                    FailureCode::SecretInOutput,
                    "the output holds a granted secret's value",
                ));
            }
        }
    }
    outcome
}

/// A wall-clock deadline.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(Instant);

impl Deadline {
    pub(crate) fn after(ms: u64) -> Self {
        Self(Instant::now() + Duration::from_millis(ms))
    }

    pub(crate) fn passed(self) -> bool {
        Instant::now() >= self.0
    }
}

/// The log of a run, capped.
#[derive(Debug, Default)]
pub(crate) struct Log {
    text: String,
    truncated: bool,
}

impl Log {
    pub(crate) fn push(&mut self, line: &str) {
        if self.truncated {
            return;
        }
        let line = &line.replace('\0', "\u{fffd}");
        let room = LOG_BYTES.saturating_sub(self.text.len() + 1);
        if line.len() > room {
            let mut cut = room;
            while cut > 0 && !line.is_char_boundary(cut) {
                cut -= 1;
            }
            self.text.push_str(&line[..cut]);
            self.text.push_str("\n[log truncated]");
            self.truncated = true;
        } else {
            self.text.push_str(line);
            self.text.push('\n');
        }
    }

    pub(crate) fn into_text(self) -> String {
        self.text
    }
}

/// HMAC-SHA256 of `message` under `key`.
pub(crate) fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    neosl_crypto::hash::hmac_sha256(key, message)
}
