//! NeoVM scripts: opcodes, a script builder, verification scripts and contract calls.
//!
//! The builder emits what Neo's own `ScriptBuilder` emits for the same calls, byte for byte:
//! integers in their shortest two's-complement form, arrays as reversed items + count + `PACK`,
//! dynamic calls as `args, flags, method, hash, SYSCALL System.Contract.Call`.

use neosl_crypto::PublicKey;
use neosl_crypto::hash::sha256;
use num_bigint::BigInt;

use crate::{NeoError, Result, UInt160};

/// The NeoVM opcodes the platform emits or recognises.
#[allow(missing_docs)]
pub mod opcode {
    pub const PUSHINT8: u8 = 0x00;
    pub const PUSHINT16: u8 = 0x01;
    pub const PUSHINT32: u8 = 0x02;
    pub const PUSHINT64: u8 = 0x03;
    pub const PUSHINT128: u8 = 0x04;
    pub const PUSHINT256: u8 = 0x05;
    pub const PUSHT: u8 = 0x08;
    pub const PUSHF: u8 = 0x09;
    pub const PUSHA: u8 = 0x0a;
    pub const PUSHNULL: u8 = 0x0b;
    pub const PUSHDATA1: u8 = 0x0c;
    pub const PUSHDATA2: u8 = 0x0d;
    pub const PUSHDATA4: u8 = 0x0e;
    pub const PUSHM1: u8 = 0x0f;
    pub const PUSH0: u8 = 0x10;
    pub const PUSH1: u8 = 0x11;
    pub const PUSH16: u8 = 0x20;
    pub const NOP: u8 = 0x21;
    pub const ABORT: u8 = 0x38;
    pub const ASSERT: u8 = 0x39;
    pub const RET: u8 = 0x40;
    pub const SYSCALL: u8 = 0x41;
    pub const DROP: u8 = 0x45;
    pub const PACKMAP: u8 = 0xbe;
    pub const PACKSTRUCT: u8 = 0xbf;
    pub const PACK: u8 = 0xc0;
    pub const NEWARRAY0: u8 = 0xc2;
}

/// Well-known interop service names.
pub mod interop {
    /// Verifies one signature against one public key.
    pub const CHECK_SIG: &str = "System.Crypto.CheckSig";
    /// Verifies m signatures against n public keys.
    pub const CHECK_MULTISIG: &str = "System.Crypto.CheckMultisig";
    /// Calls a method of a deployed contract.
    pub const CONTRACT_CALL: &str = "System.Contract.Call";
}

/// The 4-byte identifier of an interop service: the first four bytes of SHA-256 of its name
/// (read by the VM as a little-endian u32).
pub fn interop_hash(name: &str) -> [u8; 4] {
    let digest = sha256(name.as_bytes());
    [digest[0], digest[1], digest[2], digest[3]]
}

/// Builds NeoVM scripts.
#[derive(Debug, Default, Clone)]
pub struct ScriptBuilder {
    script: Vec<u8>,
}

impl ScriptBuilder {
    /// An empty script.
    pub fn new() -> Self {
        Self::default()
    }

    /// Emits a bare opcode.
    pub fn opcode(&mut self, op: u8) -> &mut Self {
        self.script.push(op);
        self
    }

    /// Pushes an integer of any size that fits in 256 bits (two's complement).
    pub fn push_int(&mut self, value: &BigInt) -> Result<&mut Self> {
        if let Ok(small) = i64::try_from(value)
            && (-1..=16).contains(&small)
        {
            return Ok(self.opcode((opcode::PUSH0 as i64 + small) as u8));
        }
        let bytes = value.to_signed_bytes_le();
        let (op, width) = match bytes.len() {
            1 => (opcode::PUSHINT8, 1),
            2 => (opcode::PUSHINT16, 2),
            3..=4 => (opcode::PUSHINT32, 4),
            5..=8 => (opcode::PUSHINT64, 8),
            9..=16 => (opcode::PUSHINT128, 16),
            17..=32 => (opcode::PUSHINT256, 32),
            n => {
                return Err(NeoError::TooLarge {
                    what: "integer",
                    max: 32,
                    actual: n as u64,
                });
            }
        };
        let fill = if value.sign() == num_bigint::Sign::Minus {
            0xff
        } else {
            0x00
        };
        self.script.push(op);
        self.script.extend_from_slice(&bytes);
        self.script
            .extend(std::iter::repeat_n(fill, width - bytes.len()));
        Ok(self)
    }

    /// Pushes a 64-bit integer.
    pub fn push_i64(&mut self, value: i64) -> &mut Self {
        match self.push_int(&BigInt::from(value)) {
            Ok(_) => self,
            Err(_) => unreachable!("an i64 always fits in 256 bits"),
        }
    }

    /// Pushes a boolean (`PUSHT` / `PUSHF`).
    pub fn push_bool(&mut self, value: bool) -> &mut Self {
        self.opcode(if value { opcode::PUSHT } else { opcode::PUSHF })
    }

    /// Pushes `null`.
    pub fn push_null(&mut self) -> &mut Self {
        self.opcode(opcode::PUSHNULL)
    }

    /// Pushes a byte string with the shortest `PUSHDATA` form.
    pub fn push_bytes(&mut self, data: &[u8]) -> Result<&mut Self> {
        let len = data.len();
        if len < 0x100 {
            self.script
                .extend_from_slice(&[opcode::PUSHDATA1, len as u8]);
        } else if len < 0x1_0000 {
            self.script.push(opcode::PUSHDATA2);
            self.script.extend_from_slice(&(len as u16).to_le_bytes());
        } else {
            let len32 = u32::try_from(len).map_err(|_| NeoError::TooLarge {
                what: "pushed data",
                max: u32::MAX as u64,
                actual: len as u64,
            })?;
            self.script.push(opcode::PUSHDATA4);
            self.script.extend_from_slice(&len32.to_le_bytes());
        }
        self.script.extend_from_slice(data);
        Ok(self)
    }

    /// Pushes a UTF-8 string as bytes.
    pub fn push_string(&mut self, value: &str) -> Result<&mut Self> {
        self.push_bytes(value.as_bytes())
    }

    /// Pushes a script hash (its 20 internal-order bytes).
    pub fn push_hash160(&mut self, hash: &UInt160) -> &mut Self {
        self.script.extend_from_slice(&[opcode::PUSHDATA1, 20]);
        self.script.extend_from_slice(hash.as_le_bytes());
        self
    }

    /// Pushes a compressed public key (33 bytes).
    pub fn push_public_key(&mut self, key: &PublicKey) -> &mut Self {
        self.script.extend_from_slice(&[opcode::PUSHDATA1, 33]);
        self.script.extend_from_slice(&key.to_compressed());
        self
    }

    /// Emits `SYSCALL` of the named interop service.
    pub fn syscall(&mut self, name: &str) -> &mut Self {
        self.script.push(opcode::SYSCALL);
        self.script.extend_from_slice(&interop_hash(name));
        self
    }

    /// Packs the `count` items already pushed (in reverse order) into an array, as Neo's
    /// `CreateArray` does: `NEWARRAY0` when empty, else `count PACK`.
    pub fn pack(&mut self, count: usize) -> &mut Self {
        if count == 0 {
            return self.opcode(opcode::NEWARRAY0);
        }
        self.push_i64(count as i64).opcode(opcode::PACK)
    }

    /// The script built so far.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.script.clone()
    }

    /// The finished script.
    pub fn into_bytes(self) -> Vec<u8> {
        self.script
    }
}

/// The verification script of a single-signature account:
/// `PUSHDATA1 33 <key> SYSCALL System.Crypto.CheckSig` (40 bytes).
pub fn verification_script(key: &PublicKey) -> Vec<u8> {
    let mut sb = ScriptBuilder::new();
    sb.push_public_key(key).syscall(interop::CHECK_SIG);
    sb.into_bytes()
}

/// The verification script of an m-of-n multi-signature account. Keys are sorted as Neo sorts
/// them (by x, then y, as integers); 1 ≤ m ≤ n ≤ 1024.
pub fn multisig_verification_script(m: usize, keys: &[PublicKey]) -> Result<Vec<u8>> {
    let n = keys.len();
    if n == 0 || n > 1024 {
        return Err(NeoError::invalid(
            "multi-signature account",
            format!("{n} keys (1 to 1024)"),
        ));
    }
    if m == 0 || m > n {
        return Err(NeoError::invalid(
            "multi-signature account",
            format!("m = {m} with n = {n}"),
        ));
    }
    let mut sorted: Vec<PublicKey> = keys.to_vec();
    sorted.sort_by_key(|k| k.to_uncompressed());
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err(NeoError::invalid(
            "multi-signature account",
            "duplicate public key",
        ));
    }
    let mut sb = ScriptBuilder::new();
    sb.push_i64(m as i64);
    for key in &sorted {
        sb.push_public_key(key);
    }
    sb.push_i64(n as i64).syscall(interop::CHECK_MULTISIG);
    Ok(sb.into_bytes())
}

/// The invocation script of a single signature: `PUSHDATA1 64 <signature>` (66 bytes).
pub fn signature_invocation_script(signature: &neosl_crypto::Signature) -> Vec<u8> {
    let mut out = Vec::with_capacity(66);
    out.extend_from_slice(&[opcode::PUSHDATA1, 64]);
    out.extend_from_slice(&signature.to_bytes());
    out
}

/// If `script` is a single-signature verification script, its public key.
pub fn parse_single_sig(script: &[u8]) -> Option<PublicKey> {
    if script.len() != 40 || script[0] != opcode::PUSHDATA1 || script[1] != 33 {
        return None;
    }
    if script[35] != opcode::SYSCALL || script[36..40] != interop_hash(interop::CHECK_SIG) {
        return None;
    }
    PublicKey::from_slice(&script[2..35]).ok()
}

/// If `script` is a multi-signature verification script, `m` and its public keys (in script
/// order). Anything else, including invalid points or counts, gives `None`.
pub fn parse_multisig(script: &[u8]) -> Option<(usize, Vec<PublicKey>)> {
    fn read_small_int(script: &[u8], at: &mut usize) -> Option<usize> {
        let op = *script.get(*at)?;
        let (value, len) = match op {
            opcode::PUSH1..=opcode::PUSH16 => ((op - opcode::PUSH0) as usize, 1),
            opcode::PUSHINT8 => (*script.get(*at + 1)? as usize, 2),
            opcode::PUSHINT16 => {
                let bytes = script.get(*at + 1..*at + 3)?;
                (u16::from_le_bytes([bytes[0], bytes[1]]) as usize, 3)
            }
            _ => return None,
        };
        *at += len;
        Some(value)
    }
    let mut at = 0;
    let m = read_small_int(script, &mut at)?;
    let mut keys = Vec::new();
    while script.get(at) == Some(&opcode::PUSHDATA1) && script.get(at + 1) == Some(&33) {
        keys.push(PublicKey::from_slice(script.get(at + 2..at + 35)?).ok()?);
        at += 35;
    }
    let n = read_small_int(script, &mut at)?;
    let tail = script.get(at..)?;
    let valid_counts = m >= 1 && m <= n && n == keys.len() && n <= 1024;
    let is_check_multisig = tail.len() == 5
        && tail[0] == opcode::SYSCALL
        && tail[1..] == interop_hash(interop::CHECK_MULTISIG);
    (valid_counts && is_check_multisig).then_some((m, keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(v: BigInt) -> String {
        let mut sb = ScriptBuilder::new();
        sb.push_int(&v).expect("fits");
        hex::encode(sb.into_bytes())
    }

    #[test]
    fn integer_pushes_use_the_shortest_form() {
        assert_eq!(push((-1).into()), "0f");
        assert_eq!(push(0.into()), "10");
        assert_eq!(push(16.into()), "20");
        assert_eq!(push(17.into()), "0011");
        assert_eq!(push(127.into()), "007f");
        assert_eq!(push(128.into()), "018000");
        assert_eq!(push((-2).into()), "00fe");
        assert_eq!(push((-128).into()), "0080");
        assert_eq!(push((-129).into()), "017fff");
        assert_eq!(push(65535.into()), "02ffff0000");
        assert_eq!(push(100_000_000.into()), "0200e1f505");
        assert_eq!(push(i64::MAX.into()), "03ffffffffffffff7f");
        assert_eq!(push(i64::MIN.into()), "030000000000000080");
        assert_eq!(
            push(BigInt::from(u64::MAX)),
            format!("04{}{}", "ff".repeat(8), "00".repeat(8))
        );
        let max256: BigInt = (BigInt::from(1) << 255u32) - 1;
        assert_eq!(push(max256.clone()), format!("05{}7f", "ff".repeat(31)));
        let min256: BigInt = -(BigInt::from(1) << 255u32);
        assert_eq!(push(min256.clone()), format!("05{}80", "00".repeat(31)));
        let mut sb = ScriptBuilder::new();
        assert!(sb.push_int(&(max256 + 1)).is_err());
        assert!(sb.push_int(&(min256 - 1)).is_err());
    }

    #[test]
    fn data_pushes_pick_the_length_prefix() {
        let mut sb = ScriptBuilder::new();
        sb.push_bytes(&[0xaa; 255]).expect("ok");
        assert_eq!(&sb.to_bytes()[..2], &[0x0c, 0xff]);
        let mut sb = ScriptBuilder::new();
        sb.push_bytes(&[0xaa; 256]).expect("ok");
        assert_eq!(&sb.to_bytes()[..3], &[0x0d, 0x00, 0x01]);
        let mut sb = ScriptBuilder::new();
        sb.push_bytes(&vec![0xaa; 65536]).expect("ok");
        assert_eq!(&sb.to_bytes()[..5], &[0x0e, 0x00, 0x00, 0x01, 0x00]);
        let mut sb = ScriptBuilder::new();
        sb.push_string("transfer")
            .expect("ok")
            .push_bool(true)
            .push_bool(false)
            .push_null();
        assert_eq!(hex::encode(sb.into_bytes()), "0c087472616e7366657208090b");
    }

    #[test]
    fn interop_hashes_match_neo() {
        assert_eq!(hex::encode(interop_hash(interop::CHECK_SIG)), "56e7b327");
        assert_eq!(
            hex::encode(interop_hash(interop::CHECK_MULTISIG)),
            "9ed0dc3a"
        );
        assert_eq!(
            hex::encode(interop_hash(interop::CONTRACT_CALL)),
            "627d5b52"
        );
    }

    #[test]
    fn verification_scripts_parse_back() {
        let keys: Vec<PublicKey> = (1u8..=4)
            .map(|i| {
                neosl_crypto::SecretKey::from_bytes(&[i; 32])
                    .expect("valid")
                    .public_key()
            })
            .collect();
        let single = verification_script(&keys[0]);
        assert_eq!(single.len(), 40);
        assert_eq!(parse_single_sig(&single), Some(keys[0]));
        assert_eq!(parse_multisig(&single), None);
        let multi = multisig_verification_script(3, &keys).expect("3 of 4");
        let (m, parsed) = parse_multisig(&multi).expect("parses");
        assert_eq!(m, 3);
        let mut sorted = keys.clone();
        sorted.sort_by_key(|k| k.to_uncompressed());
        assert_eq!(parsed, sorted);
        assert_eq!(parse_single_sig(&multi), None);
        let mut broken = multi.clone();
        broken.pop();
        assert_eq!(parse_multisig(&broken), None);
        assert!(multisig_verification_script(0, &keys).is_err());
        assert!(multisig_verification_script(5, &keys).is_err());
        assert!(multisig_verification_script(1, &[keys[0], keys[0]]).is_err());
    }

    #[test]
    fn call_flags_reject_unknown_bits() {}
}
