//! Script hashes of Neo N3's native contracts (identical on every network).
//!
//! A native contract's hash is the Hash160 of `ABORT, PUSHDATA1 <20 zero bytes>, PUSH0,
//! PUSHDATA1 <name>`: the deployment hash with sender zero and NEF checksum 0. The tests derive
//! every constant below from its name.

use crate::UInt160;

const fn display(be: [u8; 20]) -> UInt160 {
    let mut le = [0u8; 20];
    let mut i = 0;
    while i < 20 {
        le[i] = be[19 - i];
        i += 1;
    }
    UInt160::from_le_bytes(le)
}

macro_rules! native {
    ($name:ident, $contract:literal, $hex:literal) => {
        #[doc = concat!("The native `", $contract, "` contract, `0x", $hex, "`.")]
        pub const $name: UInt160 = display(hex_literal($hex));
    };
}

const fn hex_digit(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => panic!("native contract hashes are lowercase hex"),
    }
}

const fn hex_literal(s: &str) -> [u8; 20] {
    let b = s.as_bytes();
    let mut out = [0u8; 20];
    let mut i = 0;
    while i < 20 {
        out[i] = hex_digit(b[2 * i]) << 4 | hex_digit(b[2 * i + 1]);
        i += 1;
    }
    out
}

native!(
    CONTRACT_MANAGEMENT,
    "ContractManagement",
    "fffdc93764dbaddd97c48f252a53ea4643faa3fd"
);
native!(
    STD_LIB,
    "StdLib",
    "acce6fd80d44e1796aa0c2c625e9e4e0ce39efc0"
);
native!(
    CRYPTO_LIB,
    "CryptoLib",
    "726cb6e0cd8628a1350a611384688911ab75f51b"
);
native!(
    LEDGER,
    "LedgerContract",
    "da65b600f7124ce6c79950c1772a36403104f2be"
);
native!(NEO, "NeoToken", "ef4073a0f2b305a38ec4050e4d3d28bc40ea63f5");
native!(GAS, "GasToken", "d2a4cff31913016155e38e474a2c06d08be276cf");
native!(
    POLICY,
    "PolicyContract",
    "cc5e4edd9f5f8dba8bb65734541df7a1c081c67b"
);
native!(
    ROLE_MANAGEMENT,
    "RoleManagement",
    "49cf4e5378ffcd4dec034fd98a174c5491e395e2"
);
native!(
    ORACLE,
    "OracleContract",
    "fe924b7cfe89ddd271abaf7210a80a7e11178758"
);

/// Every native contract with its on-chain name.
pub const ALL: [(&str, UInt160); 9] = [
    ("ContractManagement", CONTRACT_MANAGEMENT),
    ("StdLib", STD_LIB),
    ("CryptoLib", CRYPTO_LIB),
    ("LedgerContract", LEDGER),
    ("NeoToken", NEO),
    ("GasToken", GAS),
    ("PolicyContract", POLICY),
    ("RoleManagement", ROLE_MANAGEMENT),
    ("OracleContract", ORACLE),
];

/// The hash a contract deployed by `sender` with NEF checksum `nef_checksum` and manifest name
/// `name` gets.
pub fn contract_hash(sender: &UInt160, nef_checksum: u32, name: &str) -> UInt160 {
    let mut sb = crate::script::ScriptBuilder::new();
    sb.opcode(crate::script::opcode::ABORT)
        .push_hash160(sender)
        .push_i64(nef_checksum as i64);
    if sb.push_string(name).is_err() {
        unreachable!("a contract name always fits in a push");
    }
    UInt160::of_script(&sb.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_are_the_derived_hashes() {
        for (name, hash) in ALL {
            assert_eq!(contract_hash(&UInt160::ZERO, 0, name), hash, "{name}");
        }
        assert_eq!(
            GAS.to_string(),
            "0xd2a4cff31913016155e38e474a2c06d08be276cf"
        );
    }
}
