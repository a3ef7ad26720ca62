//! HKDF-SHA256 (RFC 5869) and the platform's key derivations.
//!
//! Business keys are derived only from injected secrets and business identifiers, never from
//! enclave measurements, so an enclave upgrade keeps every key.

use hkdf::Hkdf;
use sha2::Sha256;

use crate::ecdsa::{CURVE_ORDER, SecretKey};
use crate::{CryptoError, MasterKey, PublicKey, Result, SecretBytes};

/// HKDF-SHA256: extract with `salt` (an empty salt means the RFC's zero salt), expand with
/// `info` to `len` bytes (at most 255 × 32).
pub fn derive_key(ikm: &[u8], salt: &[u8], info: &[u8], len: usize) -> Result<SecretBytes> {
    if len > 255 * 32 {
        return Err(CryptoError::KdfOutputTooLong(len));
    }
    let hk = Hkdf::<Sha256>::new(Some(salt), ikm);
    let mut okm = vec![0u8; len];
    hk.expand(info, &mut okm)
        .map_err(|_| CryptoError::KdfOutputTooLong(len))?;
    Ok(SecretBytes::new(okm))
}

/// scrypt (RFC 7914) with cost `2^log_n`, block size `r` and parallelism `p`, for NEP-2.
pub fn scrypt(
    password: &[u8],
    salt: &[u8],
    log_n: u8,
    r: u32,
    p: u32,
    len: usize,
) -> Result<SecretBytes> {
    let params = ::scrypt::Params::new(log_n, r, p)
        .map_err(|_| CryptoError::Internal("scrypt parameters"))?;
    let mut out = vec![0u8; len];
    ::scrypt::scrypt(password, salt, &params, &mut out)
        .map_err(|_| CryptoError::KdfOutputTooLong(len))?;
    Ok(SecretBytes::new(out))
}

fn derive_32(ikm: &[u8], salt: &[u8], info: &[u8]) -> Result<zeroize::Zeroizing<[u8; 32]>> {
    let okm = derive_key(ikm, salt, info, 32)?;
    let mut out = zeroize::Zeroizing::new([0u8; 32]);
    out.copy_from_slice(okm.expose());
    Ok(out)
}

/// Derives the private key of the AccountPool account `account_id`.
///
/// HKDF-SHA256 with ikm = master key, salt = the UTF-8 bytes of the account id and
/// info = `pool-account`, 32 bytes read as a big-endian scalar. When the scalar is 0 or not below
/// the curve order (probability about 2⁻³²), derive again with info `pool-account/1`,
/// `pool-account/2`, … until it is valid.
pub fn derive_pool_account_key(master: &MasterKey, account_id: &str) -> Result<SecretKey> {
    derive_signing_key(master, account_id.as_bytes(), "pool-account")
}

/// Derives a P-256 private key from `master` for the business identifier `salt` and the purpose
/// `info`: HKDF-SHA256 → 32 bytes → scalar, retrying with `info/1`, `info/2`, … while the scalar
/// is 0 or not below the curve order.
pub fn derive_signing_key(master: &MasterKey, salt: &[u8], info: &str) -> Result<SecretKey> {
    let mut attempt: u32 = 0;
    loop {
        let info = if attempt == 0 {
            info.to_owned()
        } else {
            format!("{info}/{attempt}")
        };
        let candidate = derive_32(master.expose(), salt, info.as_bytes())?;
        if let Ok(key) = SecretKey::from_bytes(&candidate) {
            return Ok(key);
        }
        attempt = attempt
            .checked_add(1)
            .ok_or(CryptoError::Internal("key derivation"))?;
    }
}

/// The public key the AccountPool publishes as its master public key (metadata only).
///
/// x = HKDF-SHA256(master key, salt `coordinator-master-pubkey`, info `neoaccounts`, 32 bytes)
/// read big-endian; the scalar is `(x mod (n − 1)) + 1`, which is always in `[1, n − 1]`.
pub fn master_public_key(master: &MasterKey) -> Result<PublicKey> {
    let x = derive_32(
        master.expose(),
        b"coordinator-master-pubkey",
        b"neoaccounts",
    )?;
    let scalar = zeroize::Zeroizing::new(reduce_mod_order_minus_one_plus_one(&x));
    Ok(SecretKey::from_bytes(&scalar)?.public_key())
}

/// `(x mod (n − 1)) + 1` for a 256-bit big-endian `x`. Because 2²⁵⁶ < 2(n − 1), at most one
/// subtraction reduces `x`. Runs in constant time over the secret bytes.
fn reduce_mod_order_minus_one_plus_one(x: &[u8; 32]) -> [u8; 32] {
    let mut n_minus_one = CURVE_ORDER;
    n_minus_one[31] -= 1; // the order ends in 0x51: no borrow
    let (diff, borrow) = sub_be(x, &n_minus_one);
    // borrow == 1 means x < n − 1: keep x; otherwise take x − (n − 1).
    let keep_x = 0u8.wrapping_sub(borrow); // 0xff if x < n − 1
    let mut reduced = [0u8; 32];
    for i in 0..32 {
        reduced[i] = (x[i] & keep_x) | (diff[i] & !keep_x);
    }
    let (sum, _) = add_be(&reduced, &one());
    sum
}

fn one() -> [u8; 32] {
    let mut v = [0u8; 32];
    v[31] = 1;
    v
}

fn sub_be(a: &[u8; 32], b: &[u8; 32]) -> ([u8; 32], u8) {
    let mut out = [0u8; 32];
    let mut borrow = 0u16;
    for i in (0..32).rev() {
        let d = (a[i] as u16).wrapping_sub(b[i] as u16).wrapping_sub(borrow);
        out[i] = d as u8;
        borrow = (d >> 8) & 1;
    }
    (out, borrow as u8)
}

fn add_be(a: &[u8; 32], b: &[u8; 32]) -> ([u8; 32], u8) {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in (0..32).rev() {
        let s = a[i] as u16 + b[i] as u16 + carry;
        out[i] = s as u8;
        carry = s >> 8;
    }
    (out, carry as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex32(s: &str) -> Vec<u8> {
        hex::decode(s).expect("test vector hex")
    }

    #[test]
    fn rfc5869_test_case_1() {
        let ikm = [0x0bu8; 22];
        let salt = hex32("000102030405060708090a0b0c");
        let info = hex32("f0f1f2f3f4f5f6f7f8f9");
        let okm = derive_key(&ikm, &salt, &info, 42).expect("42 bytes is allowed");
        assert_eq!(
            hex::encode(okm.expose()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn rfc5869_test_case_2_long_inputs() {
        let ikm: Vec<u8> = (0x00..=0x4f).collect();
        let salt: Vec<u8> = (0x60..=0xaf).collect();
        let info: Vec<u8> = (0xb0..=0xff).collect();
        let okm = derive_key(&ikm, &salt, &info, 82).expect("82 bytes is allowed");
        assert_eq!(
            hex::encode(okm.expose()),
            "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87"
        );
    }

    #[test]
    fn rfc5869_test_case_3_empty_salt_and_info() {
        let okm = derive_key(&[0x0bu8; 22], &[], &[], 42).expect("42 bytes is allowed");
        assert_eq!(
            hex::encode(okm.expose()),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
        );
    }

    #[test]
    fn scrypt_rfc7914_vector() {
        // RFC 7914 section 12, second vector: P="password", S="NaCl", N=1024, r=8, p=16.
        let out = scrypt(b"password", b"NaCl", 10, 8, 16, 64).expect("scrypt");
        assert_eq!(
            hex::encode(out.expose()),
            "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"
        );
    }

    #[test]
    fn too_long_output_is_an_error() {
        assert_eq!(
            derive_key(b"k", b"s", b"i", 8161).err(),
            Some(CryptoError::KdfOutputTooLong(8161))
        );
        assert!(derive_key(b"k", b"s", b"i", 8160).is_ok());
    }

    #[test]
    fn pool_key_derivation_is_deterministic_and_id_bound() {
        let master = MasterKey::new(SecretBytes::from_slice(&[0x42; 32])).expect("32 bytes");
        let a1 = derive_pool_account_key(&master, "6f1c1b7e-0000-4000-8000-000000000001")
            .expect("derivable");
        let a2 = derive_pool_account_key(&master, "6f1c1b7e-0000-4000-8000-000000000001")
            .expect("derivable");
        let b = derive_pool_account_key(&master, "6f1c1b7e-0000-4000-8000-000000000002")
            .expect("derivable");
        assert_eq!(a1.public_key(), a2.public_key());
        assert_ne!(a1.public_key(), b.public_key());
        // The first attempt is plain HKDF with info "pool-account".
        let okm = derive_key(
            &[0x42; 32],
            b"6f1c1b7e-0000-4000-8000-000000000001",
            b"pool-account",
            32,
        )
        .expect("32 bytes");
        let direct = SecretKey::from_slice(okm.expose()).expect("valid scalar");
        assert_eq!(direct.public_key(), a1.public_key());
    }

    #[test]
    fn order_reduction_edges() {
        let mut n_minus_one = CURVE_ORDER;
        n_minus_one[31] -= 1;
        // x = 0 → 1
        assert_eq!(reduce_mod_order_minus_one_plus_one(&[0; 32]), one());
        // x = n − 2 → n − 1
        let mut n_minus_two = n_minus_one;
        n_minus_two[31] -= 1;
        assert_eq!(
            reduce_mod_order_minus_one_plus_one(&n_minus_two),
            n_minus_one
        );
        // x = n − 1 → 0 + 1
        assert_eq!(reduce_mod_order_minus_one_plus_one(&n_minus_one), one());
        // x = 2^256 − 1 → (2^256 − 1 − (n − 1)) + 1 = 2^256 − n + 1
        let max = [0xffu8; 32];
        let (expected, _) = sub_be(&max, &n_minus_one);
        let (expected, _) = add_be(&expected, &one());
        assert_eq!(reduce_mod_order_minus_one_plus_one(&max), expected);
    }

    #[test]
    fn master_public_key_is_stable() {
        let master = MasterKey::new(SecretBytes::from_slice(&[9; 32])).expect("32 bytes");
        let a = master_public_key(&master).expect("derivable");
        let b = master_public_key(&master).expect("derivable");
        assert_eq!(a, b);
    }
}
