//! What stands between the open internet and the gateway's credentials: the client's address,
//! the bounded password-hashing gate, strict e-mail and password rules, and API key scopes.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::FromRequestParts;
use axum::http::Method;
use axum::http::request::Parts;
use neosl_runtime::server::ClientAddr;
use tokio::sync::Semaphore;

use crate::auth::{self, HashMemory};
use crate::error::GatewayError;

/// The address of the client (absent for in-process calls), as the runtime's edge layer
/// established it (the peer, or what a trusted proxy says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client(pub Option<IpAddr>);

impl Client {
    /// The client's rate-limit key (IPv6 by /64).
    pub fn key(&self) -> String {
        crate::limit::client_key(self.0)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<ClientAddr>().map(|c| c.0)))
    }
}

/// Bounds the password hashing the server does at once (each Argon2id hash needs 19 MiB and a
/// core for tens of milliseconds) and how many requests may wait for it; beyond that a caller
/// is told `503 auth_busy` with `Retry-After` instead of piling up memory and latency.
///
/// Each slot owns one block of hash memory, reused and wiped between hashes: memory for
/// hashing is exactly `concurrency` × 19 MiB, and the allocator never accumulates freed
/// blocks in per-thread arenas (which once let a login flood grow the process to gigabytes).
#[derive(Debug)]
pub struct PasswordGate {
    permits: Arc<Semaphore>,
    memory: Arc<std::sync::Mutex<Vec<HashMemory>>>,
    waiting: AtomicUsize,
    queue: usize,
}

impl PasswordGate {
    /// `concurrency` hashes at once, `queue` callers waiting.
    pub fn new(concurrency: usize, queue: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            memory: Arc::default(),
            waiting: AtomicUsize::new(0),
            queue,
        }
    }

    /// Runs `work` (a password hash or check, given its hash memory) on a blocking thread once
    /// a slot is free. The slot is held until the work ends, even if the caller goes away.
    pub async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut HashMemory) -> R + Send + 'static,
    ) -> Result<R, GatewayError> {
        let busy = || GatewayError::AuthBusy;
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue {
                    self.waiting.fetch_sub(1, Ordering::AcqRel);
                    return Err(busy());
                }
                let acquired = self.permits.clone().acquire_owned().await;
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                acquired.map_err(|_| busy())?
            }
        };
        let pool = self.memory.clone();
        tokio::task::spawn_blocking(move || {
            // A permit guarantees a block: there are never more blocks than permits.
            let mut memory = pool
                .lock()
                .ok()
                .and_then(|mut blocks| blocks.pop())
                .unwrap_or_else(auth::hash_memory);
            let result = work(&mut memory);
            if let Ok(mut blocks) = pool.lock() {
                blocks.push(memory);
            }
            drop(permit);
            result
        })
        .await
        .map_err(|_| GatewayError::AuthBusy)
    }
}

/// Validates and normalises an e-mail address. Strict on purpose: ASCII only (an
/// internationalised domain is given in its `xn--` form), exactly one `@`, a dot-atom local
/// part, a domain of at least two valid labels; no whitespace, control or invisible characters.
/// The result is lower-cased and is the identity compared for uniqueness, so look-alikes
/// (`alice@EXAMPLE.com`, a trailing zero-width space) are either the same account or refused.
pub fn normalise_email(email: &str) -> Result<String, GatewayError> {
    let invalid = |why: &str| GatewayError::InvalidEmail(why.to_owned());
    let email = email.trim_matches(|c: char| c == ' ').to_ascii_lowercase();
    if !email.is_ascii() {
        return Err(invalid(
            "only ASCII is accepted (give an internationalised domain as xn--…)",
        ));
    }
    if email.len() > 254 {
        return Err(invalid("longer than 254 characters"));
    }
    let mut parts = email.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid("it needs exactly one @"));
    };
    let atom_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(atom_char));
    if !local_ok {
        return Err(invalid("the part before @ is not a valid mailbox name"));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let tld = labels.last().copied().unwrap_or_default();
    let tld_ok =
        tld.len() >= 2 && (tld.chars().all(|c| c.is_ascii_alphabetic()) || tld.starts_with("xn--"));
    if labels.len() < 2 || domain.len() > 253 || !labels.iter().all(label_ok) || !tld_ok {
        return Err(invalid("the domain is not a valid host name"));
    }
    Ok(email)
}

/// Password rules: 12 to 256 characters (counted as characters, not bytes), not only
/// whitespace. Control characters never reach here (the JSON extractor refuses them).
pub fn check_password(password: &str) -> Result<(), GatewayError> {
    let chars = password.chars().count();
    if !(12..=256).contains(&chars) {
        return Err(GatewayError::WeakPassword(
            "passwords are 12 to 256 characters".into(),
        ));
    }
    if password.trim().is_empty() {
        return Err(GatewayError::WeakPassword(
            "a password cannot be only spaces".into(),
        ));
    }
    Ok(())
}

/// The areas of the gateway's own routes an API key can be scoped to (the caller's account,
/// the GasBank); each public service's prefix is an area too.
pub const GATEWAY_AREAS: &[&str] = &["account", "gasbank"];

/// What an API key may do: entries `*` (everything), `AREA` (everything in one area), each
/// optionally `:read` (GET and HEAD only). Key management itself never takes a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// Everything (the default of a new key).
    pub fn all() -> Self {
        Self(vec!["*".into()])
    }

    /// Parses and checks the entries a user asked for against the platform's `areas`.
    pub fn parse(entries: &[String], areas: &[String]) -> Result<Self, GatewayError> {
        if entries.is_empty() || entries.len() > areas.len() * 2 + 2 {
            return Err(GatewayError::InvalidScope(
                "give 1 or more scopes: \"*\", an area, or either with \":read\"".into(),
            ));
        }
        let mut scopes = Vec::new();
        for entry in entries {
            let area = entry.strip_suffix(":read").unwrap_or(entry);
            if area != "*" && !areas.iter().any(|a| a == area) {
                return Err(GatewayError::InvalidScope(format!(
                    "unknown scope {entry:?}; areas: *, {}",
                    areas.join(", ")
                )));
            }
            if !scopes.contains(entry) {
                scopes.push(entry.clone());
            }
        }
        Ok(Self(scopes))
    }

    /// The stored form (comma-separated).
    pub fn stored(&self) -> String {
        self.0.join(",")
    }

    /// From the stored form.
    pub fn from_stored(text: &str) -> Self {
        Self(
            text.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    /// The entries.
    pub fn entries(&self) -> &[String] {
        &self.0
    }

    /// Whether a request `method path` is allowed.
    pub fn allow(&self, method: &Method, path: &str) -> bool {
        let Some(area) = area_of(path) else {
            return false;
        };
        let read = method == Method::GET || method == Method::HEAD;
        self.0.iter().any(|entry| {
            let (scope_area, read_only) = match entry.strip_suffix(":read") {
                Some(a) => (a, true),
                None => (entry.as_str(), false),
            };
            (scope_area == "*" || scope_area == area) && (read || !read_only)
        })
    }
}

/// The scope area of a path; `None` for what keys may never do (key management, sign-in).
fn area_of(path: &str) -> Option<&str> {
    let mut segments = path.trim_start_matches('/').split('/');
    match segments.next()? {
        "api" => {
            let _version = segments.next()?;
            match segments.next()? {
                "me" => Some("account"),
                "gasbank" => Some("gasbank"),
                _ => None,
            }
        }
        service => Some(service),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_gate_bounds_hashing_and_turns_the_excess_away() {
        let gate = Arc::new(PasswordGate::new(1, 1));
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let first = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.run(move |_| hold.recv().is_ok()).await })
        };
        // Wait until the first holds the only slot, then queue one more.
        while gate.permits.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let second = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.run(|m| m.len()).await })
        };
        while gate.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        let third = gate.run(|_| ()).await.expect_err("queue full");
        let third = neosl_runtime::ApiError::from(third);
        assert_eq!(third.code_str(), "auth_busy");
        assert_eq!(third.retry_after, Some(1));
        release.send(()).expect("release");
        assert!(first.await.expect("task").expect("ran"));
        assert_eq!(
            second.await.expect("task").expect("ran"),
            auth::hash_memory().len(),
            "the waiting one ran, with the same block of memory"
        );
        assert_eq!(
            gate.memory.lock().expect("lock").len(),
            1,
            "one block for one slot"
        );
    }

    #[test]
    fn emails_are_strict_and_normalised() {
        for good in [
            "alice@example.com",
            "Alice@EXAMPLE.com",
            "a.b+tag@sub.example.org",
            "x@xn--bcher-kva.example",
        ] {
            assert!(normalise_email(good).is_ok(), "{good}");
        }
        assert_eq!(
            normalise_email("Alice@EXAMPLE.com").ok().as_deref(),
            Some("alice@example.com")
        );
        for bad in [
            "alice@example.com\u{200b}",
            "a@@b.com",
            "a@b@c.com",
            "x@example..com",
            "аlice@example.com", // Cyrillic а
            "alice@exаmple.com",
            ".a@example.com",
            "a.@example.com",
            "a..b@example.com",
            "a b@example.com",
            "a@example",
            "a@-example.com",
            "a@example.c0m",
            "@example.com",
            "a@",
            "a\u{0}@example.com",
            "a@example.com\n",
        ] {
            assert!(normalise_email(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn passwords_count_characters() {
        assert!(check_password(&"é".repeat(12)).is_ok(), "12 characters");
        assert!(check_password(&"é".repeat(11)).is_err());
        assert!(check_password(&"é".repeat(256)).is_ok(), "512 bytes");
        assert!(check_password(&"a".repeat(257)).is_err());
        assert!(check_password(&" ".repeat(20)).is_err());
    }

    #[test]
    fn scopes_limit_areas_and_methods() {
        let areas: Vec<String> = ["account", "gasbank", "vrf"].map(String::from).into();
        let read_gasbank = Scopes::parse(&["gasbank:read".into()], &areas).expect("scopes");
        assert!(read_gasbank.allow(&Method::GET, "/api/v1/gasbank/balance"));
        assert!(!read_gasbank.allow(&Method::POST, "/api/v1/gasbank/pay-user"));
        assert!(!read_gasbank.allow(&Method::POST, "/vrf/random"));
        let vrf = Scopes::parse(&["vrf".into()], &areas).expect("scopes");
        assert!(vrf.allow(&Method::POST, "/vrf/random"));
        assert!(!vrf.allow(&Method::GET, "/api/v1/me"));
        let all = Scopes::all();
        assert!(all.allow(&Method::POST, "/api/v1/gasbank/withdraw"));
        assert!(
            !all.allow(&Method::POST, "/api/v1/api-keys"),
            "never key management"
        );
        assert!(Scopes::parse(&["admin".into()], &areas).is_err());
        assert!(Scopes::parse(&[], &areas).is_err());
    }
}
