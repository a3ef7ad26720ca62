//! Credentials: Argon2id password hashes, HS256 access tokens, refresh tokens and API keys
//! (stored only as SHA-256 hashes), and the Neo wallet login message.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use neosl_crypto::SecretBytes;
use neosl_crypto::hash::{constant_time_eq, hmac_sha256, sha256};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Argon2id cost: OWASP's recommended minimum (19 MiB, 2 passes, 1 lane).
const ARGON2_M_KIB: u32 = 19_456;
const ARGON2_T: u32 = 2;
const ARGON2_P: u32 = 1;

fn argon2(m: u32, t: u32, p: u32) -> Option<argon2::Argon2<'static>> {
    let params = argon2::Params::new(m, t, p, Some(32)).ok()?;
    Some(argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params,
    ))
}

/// Memory for one Argon2id computation at our cost (19 MiB), reused across hashes so that
/// the process holds exactly one such block per concurrent hash (see `guard::PasswordGate`).
pub type HashMemory = Vec<argon2::Block>;

/// A new block of hash memory.
pub fn hash_memory() -> HashMemory {
    vec![argon2::Block::default(); ARGON2_M_KIB as usize]
}

/// Hashes a password: `argon2id$v=19$m=…,t=…,p=…$<salt hex>$<hash hex>`, in `memory`.
pub fn hash_password(password: &str, memory: &mut HashMemory) -> Option<String> {
    let salt: [u8; 16] = neosl_crypto::random_array();
    let mut out = Zeroizing::new([0u8; 32]);
    let hasher = argon2(ARGON2_M_KIB, ARGON2_T, ARGON2_P)?;
    let result = hasher.hash_password_into_with_memory(
        password.as_bytes(),
        &salt,
        out.as_mut_slice(),
        &mut memory[..],
    );
    wipe(memory);
    result.ok()?;
    Some(format!(
        "argon2id$v=19$m={ARGON2_M_KIB},t={ARGON2_T},p={ARGON2_P}${}${}",
        hex::encode(salt),
        hex::encode(out.as_slice())
    ))
}

/// Clears hash memory after use (it holds data derived from the password).
fn wipe(memory: &mut HashMemory) {
    memory.fill(argon2::Block::default());
}

/// Checks a password against a stored hash, in constant time over the hash bytes, in `memory`
/// (a hash stored with a larger memory cost gets a block of its own).
pub fn verify_password(password: &str, stored: &str, memory: &mut HashMemory) -> bool {
    let parts: Vec<&str> = stored.split('$').collect();
    let [alg, "v=19", params, salt, hash] = parts[..] else {
        return false;
    };
    if alg != "argon2id" {
        return false;
    }
    let mut m = 0;
    let mut t = 0;
    let mut p = 0;
    for kv in params.split(',') {
        match kv.split_once('=') {
            Some(("m", v)) => m = v.parse().unwrap_or(0),
            Some(("t", v)) => t = v.parse().unwrap_or(0),
            Some(("p", v)) => p = v.parse().unwrap_or(0),
            _ => return false,
        }
    }
    let (Ok(salt), Ok(expected)) = (hex::decode(salt), hex::decode(hash)) else {
        return false;
    };
    let Some(hasher) = argon2(m, t, p) else {
        return false;
    };
    let needed = hasher.params().block_count();
    let mut own;
    let blocks: &mut HashMemory = if memory.len() >= needed {
        memory
    } else {
        own = vec![argon2::Block::default(); needed];
        &mut own
    };
    let mut out = Zeroizing::new(vec![0u8; expected.len()]);
    let ok = hasher
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, &mut blocks[..needed])
        .is_ok()
        && constant_time_eq(&out, &expected);
    wipe(blocks);
    ok
}

/// A hash to verify against when the user does not exist, so that the answer takes as long.
pub fn dummy_password_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_password("not a real password", &mut hash_memory()).unwrap_or_default()
    })
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The session id (checked on every request, so logout takes effect at once).
    pub sid: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Issuer.
    pub iss: String,
}

const JWT_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// Signs claims as an HS256 JWT.
pub fn sign_jwt(key: &SecretBytes, claims: &Claims) -> String {
    let header = B64URL.encode(JWT_HEADER);
    let payload = B64URL.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signing_input = format!("{header}.{payload}");
    let tag = hmac_sha256(key.expose(), signing_input.as_bytes());
    format!("{signing_input}.{}", B64URL.encode(tag))
}

/// Verifies an HS256 JWT: only our exact header is accepted (no `alg: none`, no algorithm
/// switching), the tag is checked in constant time, then the expiry.
pub fn verify_jwt(key: &SecretBytes, token: &str, now_secs: i64) -> Option<Claims> {
    let mut parts = token.split('.');
    let (header, payload, tag) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || B64URL.decode(header).ok()? != JWT_HEADER.as_bytes() {
        return None;
    }
    let tag = B64URL.decode(tag).ok()?;
    let expected = hmac_sha256(key.expose(), format!("{header}.{payload}").as_bytes());
    if !constant_time_eq(&tag, &expected) {
        return None;
    }
    let claims: Claims = serde_json::from_slice(&B64URL.decode(payload).ok()?).ok()?;
    (claims.exp > now_secs && claims.iss == "neosl").then_some(claims)
}

/// A random bearer secret with a prefix (`nsr_` refresh tokens, `nsk_` API keys).
pub fn new_secret(prefix: &str) -> Zeroizing<String> {
    let bytes: [u8; 32] = neosl_crypto::random_array();
    Zeroizing::new(format!("{prefix}{}", B64URL.encode(bytes)))
}

/// How a bearer secret is stored: hex SHA-256 (the secrets are 256-bit random, so a fast hash
/// is enough: nothing to brute-force).
pub fn secret_hash(secret: &str) -> String {
    hex::encode(sha256(secret.as_bytes()))
}

/// The message a wallet signs to log in.
pub fn wallet_message(address: &str, nonce: &str) -> String {
    format!("Neo Service Layer login\naddress: {address}\nnonce: {nonce}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords() {
        let m = &mut hash_memory();
        let stored = hash_password("correct horse battery", m).expect("hash");
        assert!(stored.starts_with("argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("correct horse battery", &stored, m));
        assert!(!verify_password("correct horse batterY", &stored, m));
        assert!(!verify_password("x", "garbage", m));
        assert_ne!(
            hash_password("same", m).expect("hash"),
            hash_password("same", m).expect("hash"),
            "salted"
        );
        assert!(
            m.iter().all(|b| b.as_ref().iter().all(|w| *w == 0)),
            "the memory is wiped after use"
        );
        // A hash made with another (larger) cost still verifies, in memory of its own.
        let salt = [5u8; 16];
        let mut out = [0u8; 32];
        argon2(32 * 1024, 1, 1)
            .expect("params")
            .hash_password_into(b"other cost", &salt, &mut out)
            .expect("hash");
        let other = format!(
            "argon2id$v=19$m=32768,t=1,p=1${}${}",
            hex::encode(salt),
            hex::encode(out)
        );
        assert!(verify_password("other cost", &other, m));
    }

    #[test]
    fn jwts_refuse_tampering_and_other_algorithms() {
        let key = SecretBytes::from_slice(&[7; 32]);
        let claims = Claims {
            sub: "u".into(),
            sid: "s".into(),
            iat: 100,
            exp: 200,
            iss: "neosl".into(),
        };
        let token = sign_jwt(&key, &claims);
        assert_eq!(verify_jwt(&key, &token, 150), Some(claims.clone()));
        assert_eq!(verify_jwt(&key, &token, 200), None, "expired");
        assert_eq!(
            verify_jwt(&SecretBytes::from_slice(&[8; 32]), &token, 150),
            None,
            "other key"
        );
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let forged = Claims {
            sub: "admin".into(),
            ..claims.clone()
        };
        parts[1] = B64URL.encode(serde_json::to_vec(&forged).expect("json"));
        assert_eq!(
            verify_jwt(&key, &parts.join("."), 150),
            None,
            "tampered payload"
        );
        let none = format!(
            "{}.{}.",
            B64URL.encode(r#"{"alg":"none","typ":"JWT"}"#),
            parts[1]
        );
        assert_eq!(verify_jwt(&key, &none, 150), None, "alg none");
        assert_eq!(verify_jwt(&key, "a.b", 150), None);
    }
}
