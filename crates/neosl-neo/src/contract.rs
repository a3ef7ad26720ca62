//! Calling contracts from a script: `System.Contract.Call` with its arguments described as
//! [`ContractParameter`]s, and the builders of common calls (the NEP-17 transfer). The
//! platform's own contract calls (the gateway's fulfilments, the services' updates) add their
//! builders here.

use num_bigint::BigInt;

use crate::param::ContractParameter;
use crate::script::{ScriptBuilder, interop, opcode};
use crate::{NeoError, Result, UInt160};

/// Call flags of `System.Contract.Call`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallFlags(u8);

impl CallFlags {
    /// No permission.
    pub const NONE: Self = Self(0);
    /// May read contract state.
    pub const READ_STATES: Self = Self(0x01);
    /// May write contract state.
    pub const WRITE_STATES: Self = Self(0x02);
    /// May call other contracts.
    pub const ALLOW_CALL: Self = Self(0x04);
    /// May emit notifications.
    pub const ALLOW_NOTIFY: Self = Self(0x08);
    /// Read and write state.
    pub const STATES: Self = Self(0x03);
    /// Read state and call.
    pub const READ_ONLY: Self = Self(0x05);
    /// Everything.
    pub const ALL: Self = Self(0x0f);

    /// From the raw bits; bits outside `ALL` are refused.
    pub fn from_bits(bits: u8) -> Result<Self> {
        if bits & !0x0f != 0 {
            return Err(NeoError::invalid(
                "call flags",
                format!("unknown bits in 0x{bits:02x}"),
            ));
        }
        Ok(Self(bits))
    }

    /// The raw bits.
    pub fn bits(self) -> u8 {
        self.0
    }
}

/// Emits a dynamic call of `method` on `contract` with `args`: the arguments packed in reverse
/// order, the flags, the method and the contract, then `System.Contract.Call`.
pub fn call(
    sb: &mut ScriptBuilder,
    contract: &UInt160,
    method: &str,
    flags: CallFlags,
    args: &[ContractParameter],
) -> Result<()> {
    for arg in args.iter().rev() {
        arg.emit(sb)?;
    }
    sb.pack(args.len());
    sb.push_i64(flags.bits() as i64);
    sb.push_string(method)?;
    sb.push_hash160(contract);
    sb.syscall(interop::CONTRACT_CALL);
    Ok(())
}

/// The NEP-17 `transfer(from, to, amount, data)` call on `token`, followed by `ASSERT` so that
/// a transfer returning `false` faults the transaction instead of succeeding silently.
pub fn nep17_transfer(
    token: &UInt160,
    from: &UInt160,
    to: &UInt160,
    amount: &BigInt,
    data: Option<&ContractParameter>,
) -> Result<Vec<u8>> {
    use ContractParameter as P;
    let args = [
        P::Hash160(*from),
        P::Hash160(*to),
        P::Integer(amount.clone()),
        data.cloned().unwrap_or(P::Any),
    ];
    let mut sb = ScriptBuilder::new();
    call(&mut sb, token, "transfer", CallFlags::ALL, &args)?;
    sb.opcode(opcode::ASSERT);
    Ok(sb.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_flags_refuse_unknown_bits() {
        assert_eq!(CallFlags::from_bits(0x0f), Ok(CallFlags::ALL));
        assert!(CallFlags::from_bits(0x10).is_err());
    }
}
