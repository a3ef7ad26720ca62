//! ECVRF-P256-SHA256-TAI (RFC 9381, suite string 0x01): prove, verify, proof to hash.
//!
//! Proofs are 81 bytes `Gamma (33, compressed) ‖ c (16) ‖ s (32)`; outputs (β) are 32 bytes.
//! Point arithmetic runs on aws-lc (`neosl-ec`: its P-256 code, constant-time in the scalar for
//! fixed and variable bases); scalar arithmetic (`s = k + c·x`) on RustCrypto `p256`, constant
//! time too. The nonce is RFC 6979's, over `Hash(point_to_string(H))`, as the RFC specifies. A
//! proof whose `U` or `V` would be the point at infinity is invalid (the RFC's
//! `point_to_string` has no encoding for it).

use neosl_ec::Point;
use p256::elliptic_curve::ff::PrimeField;
use p256::elliptic_curve::ops::Reduce;
use p256::{FieldBytes, Scalar};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{CryptoError, PublicKey, Result, SecretKey};

const SUITE: u8 = 0x01;
/// Length of a proof.
pub const PROOF_LEN: usize = 81;
/// Length of an output (β).
pub const OUTPUT_LEN: usize = 32;

/// The RFC's `point_to_string` (compressed); `None` for the point at infinity.
fn point_to_string(p: &Point) -> Option<[u8; 33]> {
    p.to_compressed()
}

/// The RFC's `string_to_point`: only the 33-byte compressed form (`02`/`03` prefix).
fn string_to_point(bytes: &[u8]) -> Option<Point> {
    if bytes.len() != 33 || !matches!(bytes[0], 0x02 | 0x03) {
        return None;
    }
    Point::from_sec1(bytes)
}

fn public_point(key: &PublicKey) -> Result<Point> {
    string_to_point(&key.to_compressed()).ok_or(CryptoError::InvalidPublicKey)
}

/// ECVRF_encode_to_curve_try_and_increment (RFC 9381 §5.4.1.1).
fn encode_to_curve(pk_string: &[u8; 33], alpha: &[u8]) -> (Point, [u8; 33]) {
    for ctr in 0u8..=255 {
        let hash = Sha256::new()
            .chain_update([SUITE, 0x01])
            .chain_update(pk_string)
            .chain_update(alpha)
            .chain_update([ctr, 0x00])
            .finalize();
        let mut candidate = [0u8; 33];
        candidate[0] = 0x02;
        candidate[1..].copy_from_slice(&hash);
        if let Some(point) = string_to_point(&candidate) {
            return (point, candidate);
        }
    }
    // Probability 2^-256; the RFC treats it as unreachable.
    unreachable!("no curve point after 256 attempts")
}

/// ECVRF_challenge_generation (RFC 9381 §5.4.3): the first 16 bytes of the hash.
fn challenge(points: [&[u8; 33]; 5]) -> [u8; 16] {
    let mut hasher = Sha256::new().chain_update([SUITE, 0x02]);
    for p in points {
        hasher.update(p);
    }
    let digest = hasher.chain_update([0x00]).finalize();
    let mut c = [0u8; 16];
    c.copy_from_slice(&digest[..16]);
    c
}

fn scalar_from_c(c: &[u8; 16]) -> Scalar {
    let mut bytes = FieldBytes::default();
    bytes[16..].copy_from_slice(c);
    <Scalar as Reduce<FieldBytes>>::reduce(&bytes)
}

/// RFC 6979 nonce over `h1 = SHA-256(point_to_string(H))` (RFC 9381 §5.4.2.1).
fn nonce(secret: &[u8; 32], h_string: &[u8; 33]) -> Scalar {
    let h1 = Sha256::digest(h_string);
    let q = rfc6979::bigint::U256::from_be_hex(
        "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
    );
    let mut generator = rfc6979::KGenerator::<Sha256, _>::new(secret, &h1, &[], &q);
    let mut k = Zeroizing::new([0u8; 32]);
    generator.fill_next_k(k.as_mut_slice());
    <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(*k))
}

/// Proves `alpha` with `secret`: the 81-byte proof π.
pub fn prove(secret: &SecretKey, alpha: &[u8]) -> [u8; PROOF_LEN] {
    let x_bytes = secret.to_bytes();
    let x = Zeroizing::new(<Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(
        *x_bytes,
    )));
    // x is a valid secret key (1 ≤ x < n) and H a curve point, so Y, Γ, U and V are never the
    // point at infinity (k ≠ 0 by RFC 6979).
    let pk_string = point_to_string(&Point::mul_base(&x_bytes)).unwrap_or([0; 33]);
    let (h, h_string) = encode_to_curve(&pk_string, alpha);
    let gamma = h.mul(&x_bytes);
    let k = Zeroizing::new(nonce(&x_bytes, &h_string));
    let k_bytes = Zeroizing::new(<[u8; 32]>::from(k.to_bytes()));
    let u = Point::mul_base(&k_bytes);
    let v = h.mul(&k_bytes);
    let strings = [&gamma, &u, &v].map(|p| point_to_string(p).unwrap_or([0; 33]));
    let c = challenge([&pk_string, &h_string, &strings[0], &strings[1], &strings[2]]);
    let s = *k + scalar_from_c(&c) * *x;
    let mut proof = [0u8; PROOF_LEN];
    proof[..33].copy_from_slice(&strings[0]);
    proof[33..49].copy_from_slice(&c);
    proof[49..].copy_from_slice(&s.to_bytes());
    proof
}

/// ECVRF_proof_to_hash: β from a proof (without verifying it; use [`verify`] for that).
pub fn proof_to_hash(proof: &[u8]) -> Result<[u8; OUTPUT_LEN]> {
    let (_, gamma, _, _) = decode_proof(proof)?;
    Ok(gamma_to_hash(&gamma))
}

fn gamma_to_hash(gamma: &[u8; 33]) -> [u8; OUTPUT_LEN] {
    // Cofactor 1 for P-256.
    Sha256::new()
        .chain_update([SUITE, 0x03])
        .chain_update(gamma)
        .chain_update([0x00])
        .finalize()
        .into()
}

fn decode_proof(proof: &[u8]) -> Result<(Point, [u8; 33], [u8; 16], Scalar)> {
    if proof.len() != PROOF_LEN {
        return Err(CryptoError::InvalidLength {
            what: "VRF proof",
            expected: PROOF_LEN,
            actual: proof.len(),
        });
    }
    let gamma = string_to_point(&proof[..33]).ok_or(CryptoError::MalformedSignature)?;
    let mut gamma_string = [0u8; 33];
    gamma_string.copy_from_slice(&proof[..33]);
    let mut c = [0u8; 16];
    c.copy_from_slice(&proof[33..49]);
    let s_bytes: [u8; 32] = proof[49..]
        .try_into()
        .map_err(|_| CryptoError::MalformedSignature)?;
    let s = Option::<Scalar>::from(Scalar::from_repr(FieldBytes::from(s_bytes)))
        .ok_or(CryptoError::MalformedSignature)?;
    Ok((gamma, gamma_string, c, s))
}

/// Verifies `proof` for `alpha` under `public`; returns β when valid, `None` when not.
/// Malformed proofs are errors.
pub fn verify(public: &PublicKey, alpha: &[u8], proof: &[u8]) -> Result<Option<[u8; OUTPUT_LEN]>> {
    let (gamma, gamma_string, c, s) = decode_proof(proof)?;
    let y = public_point(public)?;
    let pk_string = public.to_compressed();
    let (h, h_string) = encode_to_curve(&pk_string, alpha);
    let mut c_bytes = [0u8; 32];
    c_bytes[16..].copy_from_slice(&c);
    let s_bytes: [u8; 32] = s.to_bytes().into();
    // U = s·B − c·Y, V = s·H − c·Γ.
    let u = Point::mul_base_add(&s_bytes, &c_bytes, &y.negate());
    let v = h.mul(&s_bytes).add(&gamma.negate().mul(&c_bytes));
    let (Some(u), Some(v)) = (point_to_string(&u), point_to_string(&v)) else {
        return Ok(None);
    };
    let expected = challenge([&pk_string, &h_string, &gamma_string, &u, &v]);
    Ok(crate::hash::constant_time_eq(&expected, &c).then(|| gamma_to_hash(&gamma_string)))
}

/// The platform's random words from a VRF output: word `i` is SHA-256(β ‖ i as 4 bytes
/// big-endian), for i = 0 … n − 1. Anyone with β (or the proof) can recompute them.
pub fn random_words(beta: &[u8; OUTPUT_LEN], n: u32) -> Vec<[u8; 32]> {
    (0..n)
        .map(|i| {
            Sha256::new()
                .chain_update(beta)
                .chain_update(i.to_be_bytes())
                .finalize()
                .into()
        })
        .collect()
}

/// Offline check of a platform VRF answer: the proof verifies for `seed` under `public`, and
/// `words` are exactly the words derived from its output. Returns β when everything matches.
pub fn verify_random_words(
    public: &PublicKey,
    seed: &[u8],
    proof: &[u8],
    words: &[[u8; 32]],
) -> Result<Option<[u8; OUTPUT_LEN]>> {
    let Some(beta) = verify(public, seed, proof)? else {
        return Ok(None);
    };
    let expected = random_words(&beta, words.len() as u32);
    Ok((expected == words).then_some(beta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).expect("hex")
    }

    /// RFC 9381 appendix B.1, ECVRF-P256-SHA256-TAI: (SK, alpha, pi, beta).
    const VECTORS: [(&str, &str, &str, &str); 3] = [
        (
            "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721",
            "73616d706c65",
            "035b5c726e8c0e2c488a107c600578ee75cb702343c153cb1eb8dec77f4b5071b4a53f0a46f018bc2c56e58d383f2305e0975972c26feea0eb122fe7893c15af376b33edf7de17c6ea056d4d82de6bc02f",
            "a3ad7b0ef73d8fc6655053ea22f9bede8c743f08bbed3d38821f0e16474b505e",
        ),
        (
            "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721",
            "74657374",
            "034dac60aba508ba0c01aa9be80377ebd7562c4a52d74722e0abae7dc3080ddb56c19e067b15a8a8174905b13617804534214f935b94c2287f797e393eb0816969d864f37625b443f30f1a5a33f2b3c854",
            "a284f94ceec2ff4b3794629da7cbafa49121972671b466cab4ce170aa365f26d",
        ),
        (
            "2ca1411a41b17b24cc8c3b089cfd033f1920202a6c0de8abb97df1498d50d2c8",
            "4578616d706c65207573696e67204543445341206b65792066726f6d20417070656e646978204c2e342e32206f6620414e53492e58392d36322d32303035",
            "03d03398bf53aa23831d7d1b2937e005fb0062cbefa06796579f2a1fc7e7b8c667d091c00b0f5c3619d10ecea44363b5a599cadc5b2957e223fec62e81f7b4825fc799a771a3d7334b9186bdbee87316b1",
            "90871e06da5caa39a3c61578ebb844de8635e27ac0b13e829997d0d95dd98c19",
        ),
    ];

    /// A proof crafted so that V = s·H − c·Γ is the point at infinity (Γ = H, s = c) is
    /// invalid, not a crash.
    #[test]
    fn a_proof_whose_v_is_infinity_is_invalid() {
        let key = SecretKey::generate();
        let public = key.public_key();
        let (_, h_string) = encode_to_curve(&public.to_compressed(), b"alpha");
        let c = [7u8; 16];
        let mut proof = [0u8; PROOF_LEN];
        proof[..33].copy_from_slice(&h_string);
        proof[33..49].copy_from_slice(&c);
        proof[49 + 16..].copy_from_slice(&c);
        assert_eq!(
            verify(&public, b"alpha", &proof).expect("well-formed"),
            None
        );
    }

    #[test]
    fn rfc9381_vectors() {
        for (sk, alpha, pi, beta) in VECTORS {
            let key = SecretKey::from_slice(&unhex(sk)).expect("key");
            let alpha = unhex(alpha);
            let proof = prove(&key, &alpha);
            assert_eq!(hex::encode(proof), pi, "proof");
            assert_eq!(
                hex::encode(proof_to_hash(&proof).expect("hash")),
                beta,
                "beta"
            );
            let verified = verify(&key.public_key(), &alpha, &unhex(pi)).expect("well-formed");
            assert_eq!(
                verified.map(hex::encode).as_deref(),
                Some(beta),
                "verification"
            );
        }
    }

    #[test]
    fn malformed_proofs_are_errors() {
        let key = SecretKey::from_slice(&unhex(VECTORS[0].0)).expect("key");
        let proof = prove(&key, b"x");
        assert!(verify(&key.public_key(), b"x", &proof[..80]).is_err());
        let mut bad_point = proof;
        bad_point[0] = 0x05;
        assert!(verify(&key.public_key(), b"x", &bad_point).is_err());
        let mut big_s = proof;
        big_s[49..].fill(0xff);
        assert!(verify(&key.public_key(), b"x", &big_s).is_err());
    }

    #[test]
    fn random_words_follow_the_documented_derivation() {
        let key = SecretKey::from_slice(&unhex(VECTORS[0].0)).expect("key");
        let proof = prove(&key, b"seed");
        let beta = proof_to_hash(&proof).expect("beta");
        let words = random_words(&beta, 3);
        let mut input = beta.to_vec();
        input.extend_from_slice(&[0, 0, 0, 2]);
        assert_eq!(words[2], <[u8; 32]>::from(Sha256::digest(&input)));
        assert_eq!(
            verify_random_words(&key.public_key(), b"seed", &proof, &words).expect("ok"),
            Some(beta)
        );
        let mut changed = words.clone();
        changed[1][0] ^= 1;
        assert_eq!(
            verify_random_words(&key.public_key(), b"seed", &proof, &changed).expect("ok"),
            None
        );
        assert_eq!(
            verify_random_words(&key.public_key(), b"seed!", &proof, &words).expect("ok"),
            None
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn prove_verify_round_trip_and_any_change_fails(seed in any::<[u8; 32]>(), alpha in any::<Vec<u8>>(), byte in 0usize..81) {
            let Ok(key) = SecretKey::from_bytes(&seed) else { return Ok(()); };
            let public = key.public_key();
            let proof = prove(&key, &alpha);
            let beta = verify(&public, &alpha, &proof).expect("well-formed");
            prop_assert_eq!(beta, Some(proof_to_hash(&proof).expect("hash")));
            let words = random_words(&proof_to_hash(&proof).expect("hash"), 4);
            prop_assert_eq!(verify_random_words(&public, &alpha, &proof, &words).expect("well-formed"), beta);
            let mut changed_word = words.clone();
            changed_word[byte % 4][byte % 32] ^= 0x80;
            prop_assert_eq!(verify_random_words(&public, &alpha, &proof, &changed_word).expect("well-formed"), None);
            let mut other_alpha = alpha.clone();
            other_alpha.push(1);
            prop_assert_eq!(verify(&public, &other_alpha, &proof).expect("well-formed"), None);
            let mut tampered = proof;
            tampered[byte] ^= 0x01;
            prop_assert!(!matches!(verify(&public, &alpha, &tampered), Ok(Some(_))));
            let other = SecretKey::generate().public_key();
            prop_assert_eq!(verify(&other, &alpha, &proof).expect("well-formed"), None);
        }
    }
}
