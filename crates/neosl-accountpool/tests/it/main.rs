//! The AccountPool's behaviour, run against SQLite and PostgreSQL alike, plus the PostgreSQL
//! concurrency suite and the end-to-end suite on a real devnet.

mod behaviour;
mod chain;
mod common;
mod concurrency;
