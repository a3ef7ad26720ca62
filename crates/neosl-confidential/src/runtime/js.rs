//! JavaScript on QuickJS.
//!
//! The program is a script; its completion value (the last expression) is the output: a string
//! as its UTF-8 bytes, `undefined` as nothing, anything else as JSON. Globals: `input` (the
//! input as text), `inputHex`, and `platform` with `secret(name)`, `log(...)`,
//! `sha256Hex(text)`, `hmacSha256Hex(key, text)`. `fetch`, `XMLHttpRequest`, `require`,
//! `platform.fetch` and `platform.readFile` exist only to refuse: calling one ends the run with
//! `network_not_allowed` or `filesystem_not_allowed` even if the program catches the error.
//! Stopping for fuel or time is an uncatchable interrupt.

use std::cell::RefCell;
use std::rc::Rc;

use rquickjs::{
    Coerced, Context, Ctx, Exception, Function, Object, Runtime, String as JsString, Value,
};

use super::{
    Deadline, FUEL_PER_HOST_BYTE, Failure, FailureCode, JS_FUEL_PER_CHECKPOINT, Log, Outcome, Run,
};

/// QuickJS's own stack limit (the run's thread has more).
const STACK_BYTES: usize = 256 * 1024;

#[derive(Default)]
struct State {
    checkpoints: u64,
    host_fuel: u64,
    stopped: Option<FailureCode>,
    denied: Option<Failure>,
    log: Log,
}

pub(crate) fn run(run: &Run<'_>) -> Outcome {
    let state = Rc::new(RefCell::new(State::default()));
    let result = execute(run, &state);
    let state = Rc::try_unwrap(state)
        .map(RefCell::into_inner)
        .unwrap_or_else(|shared| std::mem::take(&mut *shared.borrow_mut()));
    let fuel_used =
        (state.checkpoints * JS_FUEL_PER_CHECKPOINT + state.host_fuel).min(run.limits.fuel.max(1));
    let result = match (state.stopped, state.denied, result) {
        (Some(code), _, _) => Err(Failure::new(code, stop_message(code, run))),
        (None, Some(denied), _) => Err(denied),
        (None, None, result) => result,
    };
    Outcome {
        result,
        fuel_used,
        log: state.log.into_text(),
    }
}

fn stop_message(code: FailureCode, run: &Run<'_>) -> String {
    match code {
        FailureCode::OutOfFuel => format!("the program used its fuel ({})", run.limits.fuel),
        FailureCode::WallClockLimit => {
            format!("the program ran past {} ms", run.limits.wall_ms)
        }
        other => other.as_str().to_owned(),
    }
}

fn execute(run: &Run<'_>, state: &Rc<RefCell<State>>) -> Result<Vec<u8>, Failure> {
    let invalid = |e: rquickjs::Error| Failure::new(FailureCode::InvalidProgram, e.to_string());
    let code = std::str::from_utf8(run.code)
        .map_err(|_| Failure::new(FailureCode::InvalidProgram, "JavaScript must be UTF-8"))?;
    let runtime = Runtime::new().map_err(invalid)?;
    runtime.set_memory_limit(usize::try_from(run.limits.memory_bytes).unwrap_or(usize::MAX));
    runtime.set_max_stack_size(STACK_BYTES);
    let budget = run.limits.fuel.max(1);
    let deadline = Deadline::after(run.limits.wall_ms);
    let watch = state.clone();
    runtime.set_interrupt_handler(Some(Box::new(move || {
        let mut s = watch.borrow_mut();
        s.checkpoints += 1;
        if (s.checkpoints * JS_FUEL_PER_CHECKPOINT).saturating_add(s.host_fuel) >= budget {
            s.stopped = Some(FailureCode::OutOfFuel);
            return true;
        }
        if deadline.passed() {
            s.stopped = Some(FailureCode::WallClockLimit);
            return true;
        }
        false
    })));
    let context = Context::full(&runtime).map_err(invalid)?;
    context.with(|ctx| -> Result<Vec<u8>, Failure> {
        install(&ctx, run, state)
            .map_err(|e| Failure::new(FailureCode::InvalidProgram, e.to_string()))?;
        match ctx.eval::<Value, _>(code.as_bytes().to_vec()) {
            Ok(value) => output_of(&ctx, value, run.limits.output_bytes),
            Err(rquickjs::Error::Exception) => Err(thrown(&ctx)),
            Err(rquickjs::Error::Allocation) => Err(Failure::new(
                FailureCode::MemoryLimit,
                format!(
                    "the program needs more than {} bytes",
                    run.limits.memory_bytes
                ),
            )),
            Err(other) => Err(Failure::new(FailureCode::CodeError, other.to_string())),
        }
    })
}

fn thrown(ctx: &Ctx<'_>) -> Failure {
    let value = ctx.catch();
    let message = if let Some(exception) = value.as_exception() {
        exception.message().unwrap_or_default()
    } else {
        value
            .get::<Coerced<String>>()
            .map(|c| c.0)
            .unwrap_or_else(|_| "an exception".into())
    };
    let lower = message.to_ascii_lowercase();
    let code = if lower.contains("out of memory") {
        FailureCode::MemoryLimit
    } else if lower.contains("stack overflow") || lower.contains("call stack size") {
        FailureCode::StackOverflow
    } else if lower.contains("could not load module") || lower.contains("import") {
        FailureCode::FilesystemNotAllowed
    } else {
        FailureCode::CodeError
    };
    Failure::new(code, truncate(message, 1024))
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

fn output_of<'js>(ctx: &Ctx<'js>, value: Value<'js>, cap: u64) -> Result<Vec<u8>, Failure> {
    let bytes = if value.is_undefined() {
        Vec::new()
    } else if let Some(text) = value.as_string() {
        text.to_string()
            .map_err(|e| Failure::new(FailureCode::CodeError, e.to_string()))?
            .into_bytes()
    } else {
        match ctx.json_stringify(value) {
            Ok(Some(json)) => json
                .to_string()
                .map_err(|e| Failure::new(FailureCode::CodeError, e.to_string()))?
                .into_bytes(),
            Ok(None) => Vec::new(),
            Err(rquickjs::Error::Exception) => return Err(thrown(ctx)),
            Err(e) => return Err(Failure::new(FailureCode::CodeError, e.to_string())),
        }
    };
    if bytes.len() as u64 > cap {
        return Err(Failure::new(
            FailureCode::OutputTooLarge,
            format!("the output is {} bytes; the limit is {cap}", bytes.len()),
        ));
    }
    Ok(bytes)
}

fn deny<'js>(
    ctx: &Ctx<'js>,
    state: &Rc<RefCell<State>>,
    code: FailureCode,
    what: &str,
) -> rquickjs::Error {
    let message = format!("{what} is not available to confidential programs");
    state
        .borrow_mut()
        .denied
        .get_or_insert_with(|| Failure::new(code, message.clone()));
    Exception::throw_message(ctx, &message)
}

fn install<'js>(ctx: &Ctx<'js>, run: &Run<'_>, state: &Rc<RefCell<State>>) -> rquickjs::Result<()> {
    let globals = ctx.globals();
    globals.set("input", String::from_utf8_lossy(run.input).into_owned())?;
    globals.set("inputHex", hex::encode(run.input))?;
    let platform = Object::new(ctx.clone())?;

    let secrets: Vec<(String, String)> = run
        .secrets
        .iter()
        .map(|s| (s.name.clone(), s.value.as_str().to_owned()))
        .collect();
    let s = state.clone();
    platform.set(
        "secret",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, name: JsString<'js>| {
            let name = name.to_cstring()?;
            match secrets.iter().find(|(n, _)| n.as_str() == name.as_str()) {
                Some((_, value)) => Ok(value.clone()),
                None => {
                    let shown: String = name.as_str().chars().take(64).collect();
                    Err(deny(
                        &ctx,
                        &s,
                        FailureCode::SecretNotGranted,
                        &format!("secret {shown:?} (not granted to this job)"),
                    ))
                }
            }
        })?,
    )?;
    let s = state.clone();
    platform.set(
        "log",
        Function::new(
            ctx.clone(),
            move |parts: rquickjs::function::Rest<Value<'js>>| -> rquickjs::Result<()> {
                // Strings are read in place (QuickJS's own buffer) and copied only up to the
                // log's room: a program cannot make the host allocate beyond the log cap.
                let mut line = String::new();
                for (i, part) in parts.0.iter().enumerate() {
                    if line.len() > super::LOG_BYTES || i >= 64 {
                        break;
                    }
                    if i > 0 {
                        line.push(' ');
                    }
                    let room = super::LOG_BYTES + 1 - line.len().min(super::LOG_BYTES);
                    if let Some(text) = part.as_string() {
                        let text = text.clone().to_cstring()?;
                        let mut cut = text.len().min(room);
                        while !text.as_str().is_char_boundary(cut) {
                            cut -= 1;
                        }
                        line.push_str(&text.as_str()[..cut]);
                    } else if part.is_number()
                        || part.is_bool()
                        || part.is_null()
                        || part.is_undefined()
                    {
                        line.push_str(&part.get::<Coerced<String>>()?.0);
                    } else {
                        line.push_str("[object]");
                    }
                }
                let mut state = s.borrow_mut();
                state.host_fuel += line.len() as u64 * FUEL_PER_HOST_BYTE;
                state.log.push(&line);
                Ok(())
            },
        )?,
    )?;
    let s = state.clone();
    platform.set(
        "sha256Hex",
        Function::new(
            ctx.clone(),
            move |text: JsString<'js>| -> rquickjs::Result<String> {
                let text = text.to_cstring()?;
                s.borrow_mut().host_fuel += text.len() as u64 * FUEL_PER_HOST_BYTE;
                Ok(hex::encode(neosl_crypto::hash::sha256(
                    text.as_str().as_bytes(),
                )))
            },
        )?,
    )?;
    let s = state.clone();
    platform.set(
        "hmacSha256Hex",
        Function::new(
            ctx.clone(),
            move |key: JsString<'js>, text: JsString<'js>| -> rquickjs::Result<String> {
                let (key, text) = (key.to_cstring()?, text.to_cstring()?);
                s.borrow_mut().host_fuel += (key.len() + text.len()) as u64 * FUEL_PER_HOST_BYTE;
                Ok(hex::encode(super::hmac(
                    key.as_str().as_bytes(),
                    text.as_str().as_bytes(),
                )))
            },
        )?,
    )?;
    for (name, code) in [
        ("fetch", FailureCode::NetworkNotAllowed),
        ("readFile", FailureCode::FilesystemNotAllowed),
    ] {
        let s = state.clone();
        let denied = move |ctx: Ctx<'js>| -> rquickjs::Result<()> {
            Err(deny(&ctx, &s, code, &format!("platform.{name}")))
        };
        platform.set(name, Function::new(ctx.clone(), denied)?)?;
    }
    globals.set("platform", platform)?;
    for (name, code) in [
        ("fetch", FailureCode::NetworkNotAllowed),
        ("XMLHttpRequest", FailureCode::NetworkNotAllowed),
        ("WebSocket", FailureCode::NetworkNotAllowed),
        ("require", FailureCode::FilesystemNotAllowed),
    ] {
        let s = state.clone();
        let denied =
            move |ctx: Ctx<'js>| -> rquickjs::Result<()> { Err(deny(&ctx, &s, code, name)) };
        globals.set(name, Function::new(ctx.clone(), denied)?)?;
    }
    Ok(())
}
