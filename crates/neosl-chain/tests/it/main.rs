//! The chain client against a real NeoGo devnet: transfers, invocations, typed errors, and the
//! event stream over WebSocket and polling, including recovery from failures.

mod common;
mod errors;
mod events;
mod transfers;
