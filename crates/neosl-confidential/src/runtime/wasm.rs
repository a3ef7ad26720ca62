//! WebAssembly on wasmi.
//!
//! A module (binary, or the text format) exports `memory` and `run: () -> ()`, and may import
//! only these functions of module `neosl` (pointers and lengths are i32 into its memory):
//! `input_size() -> i32`, `input_read(ptr, len) -> i32` (bytes copied), `secret_size(name_ptr,
//! name_len) -> i32`, `secret_read(name_ptr, name_len, ptr, len) -> i32`, `output(ptr, len)`
//! (the output, replacing any earlier one), `log(ptr, len)`, `sha256(ptr, len, out_ptr)`,
//! `hmac_sha256(key_ptr, key_len, msg_ptr, msg_len, out_ptr)` (32 bytes at `out_ptr`). Any
//! other import (WASI, sockets, files) refuses the module before it runs. Memory growth past
//! the cap traps; fuel is given in slices so that the wall clock is checked between them.

use wasmi::{
    Caller, Config, Engine, Extern, Linker, Memory, Module, Store, StoreLimits, StoreLimitsBuilder,
    TrapCode, TypedResumableCall,
};

use super::{Deadline, FUEL_PER_HOST_BYTE, Failure, FailureCode, Log, Outcome, Run, Secret};

/// Fuel per slice between two wall-clock checks.
const FUEL_SLICE: u64 = 5_000_000;
/// The deepest call stack.
const MAX_RECURSION: usize = 1_000;
/// The imports a module may have.
const HOST_FUNCTIONS: &[&str] = &[
    "input_size",
    "input_read",
    "secret_size",
    "secret_read",
    "output",
    "log",
    "sha256",
    "hmac_sha256",
];

struct State<'a> {
    limits: StoreLimits,
    input: &'a [u8],
    secrets: &'a [Secret],
    output: Vec<u8>,
    output_cap: u64,
    log: Log,
    failure: Option<Failure>,
    /// Fuel of the budget not yet handed to the store.
    reserve: u64,
}

/// A host function's refusal (carried through wasmi as a trap).
#[derive(Debug)]
struct Refused(Failure);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl wasmi::errors::HostError for Refused {}

fn refuse(code: FailureCode, message: impl Into<String>) -> wasmi::Error {
    wasmi::Error::host(Refused(Failure::new(code, message)))
}

/// The code as a module's bytes: the text format is compiled, a binary is taken as is.
pub fn module_bytes(code: &[u8]) -> Result<Vec<u8>, Failure> {
    if code.starts_with(b"\0asm") {
        return Ok(code.to_vec());
    }
    let text = std::str::from_utf8(code).map_err(|_| {
        Failure::new(
            FailureCode::InvalidProgram,
            "a WebAssembly module is its binary (\\0asm…) or its text format",
        )
    })?;
    wat::parse_str(text).map_err(|e| {
        Failure::new(
            FailureCode::InvalidProgram,
            format!("the WebAssembly text does not compile: {e}"),
        )
    })
}

pub(crate) fn run(run: &Run<'_>) -> Outcome {
    let mut config = Config::default();
    config.consume_fuel(true);
    config.set_max_recursion_depth(MAX_RECURSION);
    let engine = Engine::new(&config);
    let memory = usize::try_from(run.limits.memory_bytes).unwrap_or(usize::MAX);
    let state = State {
        limits: StoreLimitsBuilder::new()
            .memory_size(memory)
            .memories(1)
            .tables(4)
            .table_elements(10_000)
            .instances(1)
            .trap_on_grow_failure(true)
            .build(),
        input: run.input,
        secrets: run.secrets,
        output: Vec::new(),
        output_cap: run.limits.output_bytes,
        log: Log::default(),
        failure: None,
        reserve: 0,
    };
    let mut store = Store::new(&engine, state);
    store.limiter(|s| &mut s.limits);
    let budget = run.limits.fuel;
    let result = execute(&engine, &mut store, run);
    let left = store.get_fuel().unwrap_or(0);
    let state = store.into_data();
    let fuel_used = match &result {
        Err(f) if f.code == FailureCode::OutOfFuel => budget,
        _ => budget.saturating_sub(left.saturating_add(state.reserve)),
    };
    Outcome {
        result: match (state.failure, result) {
            (Some(failure), _) => Err(failure),
            (None, Ok(())) => Ok(state.output),
            (None, Err(failure)) => Err(failure),
        },
        fuel_used,
        log: state.log.into_text(),
    }
}

fn execute(engine: &Engine, store: &mut Store<State<'_>>, run: &Run<'_>) -> Result<(), Failure> {
    let bytes = module_bytes(run.code)?;
    let module = Module::new(engine, &bytes).map_err(|e| {
        Failure::new(
            FailureCode::InvalidProgram,
            format!("not a valid WebAssembly module: {e}"),
        )
    })?;
    for import in module.imports() {
        let offered = import.module() == "neosl"
            && HOST_FUNCTIONS.contains(&import.name())
            && matches!(import.ty(), wasmi::ExternType::Func(_));
        if !offered {
            let code = match import.name() {
                n if n.contains("sock") || n.contains("http") || n.contains("fetch") => {
                    FailureCode::NetworkNotAllowed
                }
                n if n.starts_with("fd_") || n.starts_with("path_") || n.contains("file") => {
                    FailureCode::FilesystemNotAllowed
                }
                _ => FailureCode::ImportNotAllowed,
            };
            return Err(Failure::new(
                code,
                format!(
                    "the module imports {}.{}, which the platform does not offer",
                    import.module(),
                    import.name()
                ),
            ));
        }
    }
    let linker =
        linker(engine).map_err(|e| Failure::new(FailureCode::InvalidProgram, e.to_string()))?;
    // Instantiation (data segments, a start function) may use the whole budget.
    store
        .set_fuel(run.limits.fuel)
        .map_err(|e| Failure::new(FailureCode::InvalidProgram, e.to_string()))?;
    let instance = linker
        .instantiate_and_start(&mut *store, &module)
        .map_err(|e| classify(&e, run))?;
    let entry = instance
        .get_typed_func::<(), ()>(&*store, "run")
        .map_err(|_| {
            Failure::new(
                FailureCode::InvalidProgram,
                "the module must export `run: () -> ()`",
            )
        })?;
    // Hand out the rest of the budget in slices, checking the clock between them.
    let deadline = Deadline::after(run.limits.wall_ms);
    let mut remaining = store.get_fuel().unwrap_or(0);
    let slice = remaining.min(FUEL_SLICE);
    remaining -= slice;
    store
        .set_fuel(slice)
        .map_err(|e| Failure::new(FailureCode::InvalidProgram, e.to_string()))?;
    store.data_mut().reserve = remaining;
    let mut call = entry
        .call_resumable(&mut *store, ())
        .map_err(|e| classify(&e, run))?;
    loop {
        match call {
            TypedResumableCall::Finished(()) => return Ok(()),
            TypedResumableCall::HostTrap(trap) => return Err(classify(trap.host_error(), run)),
            TypedResumableCall::OutOfFuel(paused) => {
                let remaining = store.data().reserve;
                if remaining == 0 {
                    return Err(out_of_fuel(run));
                }
                if deadline.passed() {
                    return Err(Failure::new(
                        FailureCode::WallClockLimit,
                        format!("the program ran past {} ms", run.limits.wall_ms),
                    ));
                }
                let slice = remaining.min(FUEL_SLICE);
                store.data_mut().reserve = remaining - slice;
                store
                    .set_fuel(slice)
                    .map_err(|e| Failure::new(FailureCode::InvalidProgram, e.to_string()))?;
                call = paused.resume(&mut *store).map_err(|e| classify(&e, run))?;
            }
        }
    }
}

fn out_of_fuel(run: &Run<'_>) -> Failure {
    Failure::new(
        FailureCode::OutOfFuel,
        format!("the program used its fuel ({})", run.limits.fuel),
    )
}

fn classify(error: &wasmi::Error, run: &Run<'_>) -> Failure {
    if let Some(refused) = error.downcast_ref::<Refused>() {
        return refused.0.clone();
    }
    // A memory or table larger than the limiter allows, at instantiation or on growth.
    let denied = matches!(
        error.kind(),
        wasmi::errors::ErrorKind::Memory(_) | wasmi::errors::ErrorKind::Table(_)
    ) || error.to_string().contains("resource limiter");
    if denied {
        return Failure::new(
            FailureCode::MemoryLimit,
            format!(
                "the module needs more than {} bytes",
                run.limits.memory_bytes
            ),
        );
    }
    match error.as_trap_code() {
        Some(TrapCode::OutOfFuel) => out_of_fuel(run),
        Some(TrapCode::GrowthOperationLimited | TrapCode::OutOfSystemMemory) => Failure::new(
            FailureCode::MemoryLimit,
            format!("the program grew past {} bytes", run.limits.memory_bytes),
        ),
        Some(TrapCode::StackOverflow) => Failure::new(
            FailureCode::StackOverflow,
            "the program recursed past the stack limit",
        ),
        Some(code) => Failure::new(FailureCode::CodeError, format!("trap: {code}")),
        None => Failure::new(FailureCode::CodeError, error.to_string()),
    }
}

fn memory_of(caller: &Caller<'_, State<'_>>) -> Result<Memory, wasmi::Error> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Ok(memory),
        _ => Err(refuse(
            FailureCode::InvalidProgram,
            "the module must export its memory as `memory`",
        )),
    }
}

fn read(caller: &Caller<'_, State<'_>>, ptr: i32, len: i32) -> Result<Vec<u8>, wasmi::Error> {
    let memory = memory_of(caller)?;
    let (ptr, len) = (range(ptr)?, range(len)?);
    // Bounds first: an out-of-range length must trap, never allocate outside the limits.
    let data = memory.data(caller);
    let end = ptr
        .checked_add(len)
        .filter(|end| *end <= data.len())
        .ok_or_else(|| wasmi::Error::from(TrapCode::MemoryOutOfBounds))?;
    Ok(data[ptr..end].to_vec())
}

fn write(caller: &mut Caller<'_, State<'_>>, ptr: i32, bytes: &[u8]) -> Result<(), wasmi::Error> {
    let memory = memory_of(caller)?;
    memory
        .write(caller, range(ptr)?, bytes)
        .map_err(|_| wasmi::Error::from(TrapCode::MemoryOutOfBounds))
}

fn range(value: i32) -> Result<usize, wasmi::Error> {
    usize::try_from(value).map_err(|_| wasmi::Error::from(TrapCode::MemoryOutOfBounds))
}

/// Charges host work against the fuel of the current slice.
fn charge(caller: &mut Caller<'_, State<'_>>, bytes: usize) -> Result<(), wasmi::Error> {
    let cost = bytes as u64 * FUEL_PER_HOST_BYTE;
    let fuel = caller.get_fuel()?;
    if fuel < cost {
        let reserve = caller.data().reserve;
        if fuel + reserve < cost {
            return Err(refuse(FailureCode::OutOfFuel, "the program used its fuel"));
        }
        caller.data_mut().reserve = reserve - (cost - fuel);
        return caller.set_fuel(0);
    }
    caller.set_fuel(fuel - cost)
}

fn secret<'a>(state: &'a State<'_>, name: &[u8]) -> Result<&'a Secret, wasmi::Error> {
    let name = String::from_utf8_lossy(name);
    state
        .secrets
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| {
            refuse(
                FailureCode::SecretNotGranted,
                format!("secret {name:?} is not granted to this job"),
            )
        })
}

fn linker<'a>(engine: &Engine) -> Result<Linker<State<'a>>, wasmi::Error> {
    let mut linker = Linker::<State<'a>>::new(engine);
    linker.func_wrap("neosl", "input_size", |caller: Caller<'_, State<'_>>| {
        i32::try_from(caller.data().input.len()).unwrap_or(i32::MAX)
    })?;
    linker.func_wrap(
        "neosl",
        "input_read",
        |mut caller: Caller<'_, State<'_>>, ptr: i32, len: i32| -> Result<i32, wasmi::Error> {
            let input = caller.data().input;
            let n = input.len().min(range(len)?);
            charge(&mut caller, n)?;
            write(&mut caller, ptr, &input[..n])?;
            Ok(i32::try_from(n).unwrap_or(i32::MAX))
        },
    )?;
    linker.func_wrap(
        "neosl",
        "secret_size",
        |caller: Caller<'_, State<'_>>,
         name_ptr: i32,
         name_len: i32|
         -> Result<i32, wasmi::Error> {
            let name = read(&caller, name_ptr, name_len.min(256))?;
            let secret = secret(caller.data(), &name)?;
            Ok(i32::try_from(secret.value.len()).unwrap_or(i32::MAX))
        },
    )?;
    linker.func_wrap(
        "neosl",
        "secret_read",
        |mut caller: Caller<'_, State<'_>>,
         name_ptr: i32,
         name_len: i32,
         ptr: i32,
         len: i32|
         -> Result<i32, wasmi::Error> {
            let name = read(&caller, name_ptr, name_len.min(256))?;
            let value =
                zeroize::Zeroizing::new(secret(caller.data(), &name)?.value.as_bytes().to_vec());
            let n = value.len().min(range(len)?);
            charge(&mut caller, n)?;
            write(&mut caller, ptr, &value[..n])?;
            Ok(i32::try_from(n).unwrap_or(i32::MAX))
        },
    )?;
    linker.func_wrap(
        "neosl",
        "output",
        |mut caller: Caller<'_, State<'_>>, ptr: i32, len: i32| -> Result<(), wasmi::Error> {
            let cap = caller.data().output_cap;
            if u64::try_from(len).unwrap_or(u64::MAX) > cap {
                return Err(refuse(
                    FailureCode::OutputTooLarge,
                    format!("the output is {len} bytes; the limit is {cap}"),
                ));
            }
            charge(&mut caller, range(len)?)?;
            let bytes = read(&caller, ptr, len)?;
            caller.data_mut().output = bytes;
            Ok(())
        },
    )?;
    linker.func_wrap(
        "neosl",
        "log",
        |mut caller: Caller<'_, State<'_>>, ptr: i32, len: i32| -> Result<(), wasmi::Error> {
            let len = len.clamp(0, super::LOG_BYTES as i32);
            charge(&mut caller, range(len)?)?;
            let bytes = read(&caller, ptr, len)?;
            caller.data_mut().log.push(&String::from_utf8_lossy(&bytes));
            Ok(())
        },
    )?;
    linker.func_wrap(
        "neosl",
        "sha256",
        |mut caller: Caller<'_, State<'_>>,
         ptr: i32,
         len: i32,
         out: i32|
         -> Result<(), wasmi::Error> {
            charge(&mut caller, range(len)?)?;
            let bytes = read(&caller, ptr, len)?;
            write(&mut caller, out, &neosl_crypto::hash::sha256(&bytes))
        },
    )?;
    linker.func_wrap(
        "neosl",
        "hmac_sha256",
        |mut caller: Caller<'_, State<'_>>,
         key_ptr: i32,
         key_len: i32,
         msg_ptr: i32,
         msg_len: i32,
         out: i32|
         -> Result<(), wasmi::Error> {
            charge(&mut caller, range(key_len)? + range(msg_len)?)?;
            let key = zeroize::Zeroizing::new(read(&caller, key_ptr, key_len)?);
            let message = read(&caller, msg_ptr, msg_len)?;
            write(&mut caller, out, &super::hmac(&key, &message))
        },
    )?;
    Ok(linker)
}
