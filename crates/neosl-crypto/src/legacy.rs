//! Primitives that only legacy formats need. AES-256 in ECB mode exists here solely because
//! NEP-2 (encrypted Neo private keys in NEP-6 wallets) is defined with it; never use it for new
//! data (use [`crate::aead`]).

use aws_lc_rs::cipher::{AES_256, DecryptingKey, EncryptingKey, UnboundCipherKey};
use zeroize::Zeroizing;

use crate::{CryptoError, Result};

/// AES-256-ECB encryption of two blocks (32 bytes), as NEP-2 uses it.
pub fn aes256_ecb_encrypt_32(key: &[u8; 32], data: &[u8; 32]) -> Result<[u8; 32]> {
    let key = UnboundCipherKey::new(&AES_256, key).map_err(|_| CryptoError::Internal("AES key"))?;
    let key = EncryptingKey::ecb(key).map_err(|_| CryptoError::Internal("AES-ECB"))?;
    let mut out = *data;
    key.encrypt(&mut out)
        .map_err(|_| CryptoError::Internal("AES-ECB encrypt"))?;
    Ok(out)
}

/// AES-256-ECB decryption of two blocks (32 bytes); the result is zeroized on drop.
pub fn aes256_ecb_decrypt_32(key: &[u8; 32], data: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>> {
    let key = UnboundCipherKey::new(&AES_256, key).map_err(|_| CryptoError::Internal("AES key"))?;
    let key = DecryptingKey::ecb(key).map_err(|_| CryptoError::Internal("AES-ECB"))?;
    let mut out = Zeroizing::new(*data);
    key.decrypt(
        out.as_mut_slice(),
        aws_lc_rs::cipher::DecryptionContext::None,
    )
    .map_err(|_| CryptoError::Internal("AES-ECB decrypt"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fips197_aes256_vector_twice() {
        // FIPS-197 appendix C.3.
        let key: [u8; 32] =
            hex::decode("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
                .expect("hex")
                .try_into()
                .expect("32");
        let block = hex::decode("00112233445566778899aabbccddeeff").expect("hex");
        let mut data = [0u8; 32];
        data[..16].copy_from_slice(&block);
        data[16..].copy_from_slice(&block);
        let enc = aes256_ecb_encrypt_32(&key, &data).expect("encrypt");
        assert_eq!(hex::encode(&enc[..16]), "8ea2b7ca516745bfeafc49904b496089");
        assert_eq!(enc[..16], enc[16..], "ECB: equal blocks, equal ciphertext");
        assert_eq!(*aes256_ecb_decrypt_32(&key, &enc).expect("decrypt"), data);
    }
}
