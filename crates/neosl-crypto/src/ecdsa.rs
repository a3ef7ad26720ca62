//! ECDSA over NIST P-256 (secp256r1), as Neo N3 uses it.
//!
//! - Messages are hashed with SHA-256 inside `sign`/`verify` (Neo signs `SHA-256(sign data)`).
//! - Signatures are 64 bytes `r ‖ s` (big-endian), and the signers here always produce low-s
//!   (`s ≤ n/2`). Verification accepts both halves, as Neo does.
//! - Randomized signing runs on `aws-lc-rs` (close to OpenSSL's speed); the deterministic RFC 6979
//!   signer and all point arithmetic (decompression, on-curve checks) run on RustCrypto `p256`.

use std::fmt;

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};
use p256::ecdsa::signature::Signer as _;
use p256::elliptic_curve::sec1::ToSec1Point;
use zeroize::{Zeroize, Zeroizing};

use crate::{CryptoError, Result};

/// The order `n` of the P-256 base point, big-endian.
pub const CURVE_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// A P-256 private key: a scalar in `[1, n − 1]`. Zeroized on drop; never printed.
#[derive(Clone)]
pub struct SecretKey {
    scalar: Zeroizing<[u8; 32]>,
}

impl SecretKey {
    /// Generates a fresh random key.
    pub fn generate() -> Self {
        loop {
            let mut candidate = Zeroizing::new(crate::random_array::<32>());
            if let Ok(key) = Self::from_bytes(&candidate) {
                return key;
            }
            candidate.zeroize();
        }
    }

    /// Parses a 32-byte big-endian scalar; 0 and values ≥ n are refused.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self> {
        if !scalar_in_range(bytes) {
            return Err(CryptoError::InvalidSecretKey);
        }
        Ok(Self {
            scalar: Zeroizing::new(*bytes),
        })
    }

    /// Parses a big-endian scalar given as a slice of exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let array: &[u8; 32] = bytes.try_into().map_err(|_| CryptoError::InvalidLength {
            what: "private key",
            expected: 32,
            actual: bytes.len(),
        })?;
        Self::from_bytes(array)
    }

    /// The scalar bytes (for WIF export). The copy is zeroized when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        self.scalar.clone()
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        let scalar = p256::NonZeroScalar::try_from(self.scalar.as_slice());
        match scalar {
            Ok(scalar) => PublicKey::from_point(p256::PublicKey::from_secret_scalar(&scalar)),
            Err(_) => unreachable!("SecretKey is validated on construction"),
        }
    }

    /// Prepares a signing key for many signatures with this key (avoids re-deriving the public
    /// key per signature).
    pub fn signing_key(&self) -> Result<SigningKey> {
        SigningKey::new(self)
    }

    /// Signs `message` (hashed with SHA-256) with a random nonce; the result is low-s.
    pub fn sign(&self, message: &[u8]) -> Result<Signature> {
        self.signing_key()?.sign(message)
    }

    /// Signs `message` (hashed with SHA-256) with the deterministic nonce of RFC 6979, then
    /// normalizes to low-s. Useful where reproducible signatures matter (tests, audits).
    pub fn sign_deterministic(&self, message: &[u8]) -> Signature {
        let key = match p256::ecdsa::SigningKey::from_slice(self.scalar.as_slice()) {
            Ok(key) => key,
            Err(_) => unreachable!("SecretKey is validated on construction"),
        };
        let sig: p256::ecdsa::Signature = key.sign(message);
        Signature::from_p256(&sig.normalize_s())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([REDACTED])")
    }
}

/// A P-256 key prepared for signing (the `aws-lc-rs` key pair). Holds secret material inside
/// aws-lc, which clears its allocations when they are freed.
pub struct SigningKey {
    pair: EcdsaKeyPair,
}

impl SigningKey {
    fn new(secret: &SecretKey) -> Result<Self> {
        // RFC 5915 ECPrivateKey: SEQUENCE { INTEGER 1, OCTET STRING d, [0] prime256v1 }.
        const PREFIX: [u8; 7] = [0x30, 0x31, 0x02, 0x01, 0x01, 0x04, 0x20];
        const SUFFIX: [u8; 12] = [
            0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
        ];
        let mut der = Zeroizing::new([0u8; 51]);
        der[..7].copy_from_slice(&PREFIX);
        der[7..39].copy_from_slice(secret.scalar.as_slice());
        der[39..].copy_from_slice(&SUFFIX);
        let pair = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, &der[..])
            .map_err(|_| CryptoError::Internal("ECDSA key import"))?;
        Ok(Self { pair })
    }

    /// The public key of this signing key.
    pub fn public_key(&self) -> Result<PublicKey> {
        PublicKey::from_slice(self.pair.public_key().as_ref())
    }

    /// Signs `message` (hashed with SHA-256) with a random nonce; the result is low-s.
    pub fn sign(&self, message: &[u8]) -> Result<Signature> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let sig = self
            .pair
            .sign(&rng, message)
            .map_err(|_| CryptoError::Internal("ECDSA sign"))?;
        let bytes: &[u8; 64] = sig
            .as_ref()
            .try_into()
            .map_err(|_| CryptoError::Internal("ECDSA signature size"))?;
        Ok(Signature::from_bytes(bytes)?.normalized())
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey([REDACTED])")
    }
}

/// A P-256 public key, always a valid point on the curve (never the identity).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey {
    compressed: [u8; 33],
    uncompressed: [u8; 65],
}

impl PublicKey {
    fn from_point(point: p256::PublicKey) -> Self {
        let mut compressed = [0u8; 33];
        let mut uncompressed = [0u8; 65];
        compressed.copy_from_slice(point.to_sec1_point(true).as_bytes());
        uncompressed.copy_from_slice(point.to_sec1_point(false).as_bytes());
        Self {
            compressed,
            uncompressed,
        }
    }

    /// Parses a SEC1 encoding: 33 bytes compressed (`02`/`03` prefix) or 65 bytes uncompressed
    /// (`04` prefix). The point must lie on P-256.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        match bytes.len() {
            33 if matches!(bytes[0], 0x02 | 0x03) => {}
            65 if bytes[0] == 0x04 => {}
            33 | 65 => return Err(CryptoError::InvalidPublicKey),
            other => {
                return Err(CryptoError::InvalidLength {
                    what: "public key",
                    expected: 33,
                    actual: other,
                });
            }
        }
        let point =
            p256::PublicKey::from_sec1_bytes(bytes).map_err(|_| CryptoError::InvalidPublicKey)?;
        Ok(Self::from_point(point))
    }

    /// The 33-byte compressed encoding (the form Neo uses everywhere).
    pub fn to_compressed(&self) -> [u8; 33] {
        self.compressed
    }

    /// The 65-byte uncompressed encoding.
    pub fn to_uncompressed(&self) -> [u8; 65] {
        self.uncompressed
    }

    /// Verifies an ECDSA signature over SHA-256(`message`). Both low-s and high-s are accepted.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.uncompressed[..])
            .verify(message, &signature.0)
            .is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", hex_lower(&self.compressed))
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex_lower(&self.compressed))
    }
}

/// A 64-byte ECDSA signature `r ‖ s` with `r` and `s` in `[1, n − 1]`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature([u8; 64]);

impl Signature {
    /// Parses `r ‖ s`; zero or out-of-range components are refused.
    pub fn from_bytes(bytes: &[u8; 64]) -> Result<Self> {
        let (r, s) = bytes.split_at(32);
        let in_range = |v: &[u8]| v.try_into().is_ok_and(scalar_in_range);
        if !in_range(r) || !in_range(s) {
            return Err(CryptoError::MalformedSignature);
        }
        Ok(Self(*bytes))
    }

    /// Parses a slice of exactly 64 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let array: &[u8; 64] = bytes.try_into().map_err(|_| CryptoError::InvalidLength {
            what: "signature",
            expected: 64,
            actual: bytes.len(),
        })?;
        Self::from_bytes(array)
    }

    fn from_p256(sig: &p256::ecdsa::Signature) -> Self {
        let mut out = [0u8; 64];
        out.copy_from_slice(sig.to_bytes().as_slice());
        Self(out)
    }

    /// The 64 bytes `r ‖ s`.
    pub fn to_bytes(&self) -> [u8; 64] {
        self.0
    }

    /// Whether `s ≤ n/2`.
    pub fn is_low_s(&self) -> bool {
        // n/2 rounded down, big-endian.
        const HALF_ORDER: [u8; 32] = [
            0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61,
            0x7e, 0x31, 0x92, 0xa8,
        ];
        self.0[32..] <= HALF_ORDER[..]
    }

    /// The same signature with `s` replaced by `n − s` when `s > n/2`.
    pub fn normalized(&self) -> Self {
        match p256::ecdsa::Signature::from_slice(&self.0) {
            Ok(sig) => Self::from_p256(&sig.normalize_s()),
            Err(_) => unreachable!("Signature is validated on construction"),
        }
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex_lower(&self.0))
    }
}

/// `0 < v < n`, in constant time over `v`'s bytes.
fn scalar_in_range(v: &[u8; 32]) -> bool {
    use subtle::{ConstantTimeEq, ConstantTimeLess};
    // Lexicographic big-endian compare built from constant-time byte operations.
    let mut less = subtle::Choice::from(0);
    let mut equal_so_far = subtle::Choice::from(1);
    for (a, b) in v.iter().zip(CURVE_ORDER.iter()) {
        less |= equal_so_far & a.ct_lt(b);
        equal_so_far &= a.ct_eq(b);
    }
    let nonzero = !v.ct_eq(&[0u8; 32]);
    bool::from(less & nonzero)
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unhex<const N: usize>(s: &str) -> [u8; N] {
        let v = hex::decode(s.split_whitespace().collect::<String>()).expect("hex");
        v.try_into().expect("length")
    }

    // RFC 6979, appendix A.2.5: P-256 with SHA-256.
    const RFC6979_X: &str = "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721";
    const RFC6979_UX: &str = "60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6";
    const RFC6979_UY: &str = "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299";
    const RFC6979_SAMPLE: &str = "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716
                                  f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8";
    const RFC6979_TEST: &str = "f1abb023518351cd71d881567b1ea663ed3efcf6c5132b354f28d3b0b7d38367
                                019f4113742a2b14bd25926b49c649155f267e60d3814b4c0cc84250e46f0083";

    fn rfc_key() -> SecretKey {
        SecretKey::from_bytes(&unhex(RFC6979_X)).expect("RFC key is valid")
    }

    #[test]
    fn rfc6979_public_key() {
        let public = rfc_key().public_key();
        let mut expected = vec![0x04];
        expected.extend(unhex::<32>(RFC6979_UX));
        expected.extend(unhex::<32>(RFC6979_UY));
        assert_eq!(public.to_uncompressed().to_vec(), expected);
        // Uy is odd → prefix 03.
        assert_eq!(public.to_compressed()[0], 0x03);
        assert_eq!(PublicKey::from_slice(&expected).expect("valid"), public);
        assert_eq!(
            PublicKey::from_slice(&public.to_compressed()).expect("valid"),
            public
        );
    }

    #[test]
    fn rfc6979_signatures_verify_and_are_reproduced() {
        let key = rfc_key();
        let public = key.public_key();
        for (message, expected) in [(&b"sample"[..], RFC6979_SAMPLE), (b"test", RFC6979_TEST)] {
            let rfc = Signature::from_bytes(&unhex(expected)).expect("RFC signature parses");
            assert!(public.verify(message, &rfc), "RFC signature must verify");
            let ours = key.sign_deterministic(message);
            // Same r; s is the RFC's s, normalized to the low half.
            assert_eq!(ours, rfc.normalized());
            assert_eq!(ours.to_bytes()[..32], rfc.to_bytes()[..32]);
            assert!(ours.is_low_s());
            assert!(public.verify(message, &ours));
        }
        // "sample" has a high s in the RFC: normalization must have changed it.
        let sample = Signature::from_bytes(&unhex(RFC6979_SAMPLE)).expect("parses");
        assert!(!sample.is_low_s());
        assert_ne!(sample.normalized(), sample);
        // "test" is already low-s: unchanged.
        let test = Signature::from_bytes(&unhex(RFC6979_TEST)).expect("parses");
        assert!(test.is_low_s());
        assert_eq!(test.normalized(), test);
    }

    #[test]
    fn randomized_signatures_differ_verify_and_are_low_s() {
        let key = rfc_key();
        let a = key.sign(b"neo").expect("sign");
        let b = key.sign(b"neo").expect("sign");
        assert_ne!(a, b, "nonces are random");
        for sig in [a, b] {
            assert!(sig.is_low_s());
            assert!(key.public_key().verify(b"neo", &sig));
            assert!(!key.public_key().verify(b"neo!", &sig));
        }
        let prepared = key.signing_key().expect("prepare");
        assert_eq!(prepared.public_key().expect("public"), key.public_key());
    }

    #[test]
    fn secret_key_range_is_enforced() {
        assert_eq!(
            SecretKey::from_bytes(&[0; 32]).err(),
            Some(CryptoError::InvalidSecretKey)
        );
        assert_eq!(
            SecretKey::from_bytes(&CURVE_ORDER).err(),
            Some(CryptoError::InvalidSecretKey)
        );
        assert_eq!(
            SecretKey::from_bytes(&[0xff; 32]).err(),
            Some(CryptoError::InvalidSecretKey)
        );
        let mut n_minus_one = CURVE_ORDER;
        n_minus_one[31] -= 1;
        assert!(SecretKey::from_bytes(&n_minus_one).is_ok());
        let mut one = [0u8; 32];
        one[31] = 1;
        assert!(SecretKey::from_bytes(&one).is_ok());
        assert!(matches!(
            SecretKey::from_slice(&[1; 31]),
            Err(CryptoError::InvalidLength { actual: 31, .. })
        ));
    }

    #[test]
    fn malformed_public_keys_are_refused() {
        let good = rfc_key().public_key().to_compressed();
        // Wrong prefix.
        let mut bad = good;
        bad[0] = 0x05;
        assert_eq!(
            PublicKey::from_slice(&bad).err(),
            Some(CryptoError::InvalidPublicKey)
        );
        // x with no point on the curve: x = 0 is not on P-256 for either parity... find one that
        // fails by scanning a few x values.
        let mut found_off_curve = false;
        for x in 0u8..32 {
            let mut candidate = [0u8; 33];
            candidate[0] = 0x02;
            candidate[32] = x;
            if PublicKey::from_slice(&candidate).is_err() {
                found_off_curve = true;
                break;
            }
        }
        assert!(found_off_curve);
        // Uncompressed with a wrong y.
        let mut uncompressed = rfc_key().public_key().to_uncompressed();
        uncompressed[64] ^= 1;
        assert_eq!(
            PublicKey::from_slice(&uncompressed).err(),
            Some(CryptoError::InvalidPublicKey)
        );
        // Wrong lengths.
        assert!(matches!(
            PublicKey::from_slice(&good[..32]),
            Err(CryptoError::InvalidLength { actual: 32, .. })
        ));
        assert!(PublicKey::from_slice(&[]).is_err());
    }

    #[test]
    fn malformed_signatures_are_refused() {
        let mut zero_r = [1u8; 64];
        zero_r[..32].fill(0);
        assert_eq!(
            Signature::from_bytes(&zero_r).err(),
            Some(CryptoError::MalformedSignature)
        );
        let mut big_s = [1u8; 64];
        big_s[32..].copy_from_slice(&CURVE_ORDER);
        assert_eq!(
            Signature::from_bytes(&big_s).err(),
            Some(CryptoError::MalformedSignature)
        );
        assert!(matches!(
            Signature::from_slice(&[1; 63]),
            Err(CryptoError::InvalidLength { actual: 63, .. })
        ));
    }

    #[test]
    fn debug_never_prints_secret_scalar() {
        let key = rfc_key();
        let text = format!("{key:?} {:?}", key.signing_key().expect("prepare"));
        assert!(!text.to_lowercase().contains(&RFC6979_X[..16]), "{text}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn sign_verify_round_trip(seed in any::<[u8; 32]>(), message in any::<Vec<u8>>()) {
            let Ok(key) = SecretKey::from_bytes(&seed) else { return Ok(()); };
            let public = key.public_key();
            let sig = key.sign(&message).expect("sign");
            prop_assert!(public.verify(&message, &sig));
            let det = key.sign_deterministic(&message);
            prop_assert!(public.verify(&message, &det));
            prop_assert_eq!(det, key.sign_deterministic(&message));
            let mut tampered = sig.to_bytes();
            tampered[5] ^= 0x40;
            if let Ok(tampered) = Signature::from_bytes(&tampered) {
                prop_assert!(!public.verify(&message, &tampered));
            }
            prop_assert_eq!(PublicKey::from_slice(&public.to_compressed()).expect("valid"), public);
            prop_assert_eq!(PublicKey::from_slice(&public.to_uncompressed()).expect("valid"), public);
        }
    }
}
