//! Neo N3 transactions (version 0): signers, witness scopes and rules, attributes, witnesses;
//! binary serialization, hashing and the data that is signed.
//!
//! Parsing and building share one set of rules (the ones a Neo node applies when it decodes a
//! transaction), so a transaction this crate accepts or builds is one a node decodes, and bytes
//! a node would refuse are refused here with a typed error.

use neosl_crypto::hash::sha256;
use neosl_crypto::{PublicKey, Signature};
use serde_json::{Value, json};

use crate::binary::{BinaryReader, BinaryWriter};
use crate::script::{signature_invocation_script, verification_script};
use crate::{NeoError, Result, UInt160, UInt256};

/// The largest transaction a node accepts, in bytes.
pub const MAX_TRANSACTION_SIZE: usize = 102_400;
/// Signers plus attributes per transaction.
pub const MAX_TRANSACTION_ATTRIBUTES: usize = 16;
/// Allowed contracts, groups or rules per signer; sub-conditions per `And`/`Or`.
pub const MAX_SUBITEMS: usize = 16;
/// How deep witness conditions nest: the stricter of the two node implementations (NeoGo allows
/// 2 levels, the C# node 3), so that every transaction built here is accepted by both.
pub const MAX_CONDITION_NESTING: usize = 2;
/// Largest invocation script of a witness.
pub const MAX_INVOCATION_SCRIPT: usize = 1024;
/// Largest verification script of a witness.
pub const MAX_VERIFICATION_SCRIPT: usize = 1024;
/// Largest transaction script.
pub const MAX_SCRIPT: usize = u16::MAX as usize;

/// Witness scope flags of a signer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WitnessScope(u8);

impl WitnessScope {
    /// The signature only pays fees; no contract can use it.
    pub const NONE: Self = Self(0x00);
    /// Valid for the entry script and the contracts it calls directly.
    pub const CALLED_BY_ENTRY: Self = Self(0x01);
    /// Valid for the listed contracts.
    pub const CUSTOM_CONTRACTS: Self = Self(0x10);
    /// Valid for contracts in the listed groups.
    pub const CUSTOM_GROUPS: Self = Self(0x20);
    /// Valid where the witness rules allow.
    pub const WITNESS_RULES: Self = Self(0x40);
    /// Valid everywhere (may not be combined with anything).
    pub const GLOBAL: Self = Self(0x80);

    const NAMES: [(Self, &'static str); 5] = [
        (Self::CALLED_BY_ENTRY, "CalledByEntry"),
        (Self::CUSTOM_CONTRACTS, "CustomContracts"),
        (Self::CUSTOM_GROUPS, "CustomGroups"),
        (Self::WITNESS_RULES, "WitnessRules"),
        (Self::GLOBAL, "Global"),
    ];

    /// From raw bits, with Neo's rules: no unknown bits, `Global` alone.
    pub fn from_bits(bits: u8) -> Result<Self> {
        if bits & !0xf1 != 0 {
            return Err(NeoError::invalid(
                "witness scope",
                format!("unknown bits in 0x{bits:02x}"),
            ));
        }
        if bits & 0x80 != 0 && bits != 0x80 {
            return Err(NeoError::invalid(
                "witness scope",
                "Global cannot be combined with other scopes",
            ));
        }
        Ok(Self(bits))
    }

    /// The raw bits.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union of two scopes (validated).
    pub fn with(self, other: Self) -> Result<Self> {
        Self::from_bits(self.0 | other.0)
    }

    /// The name Neo RPC uses: `None`, `Global`, or flags joined by `, `.
    pub fn to_name(self) -> String {
        if self.0 == 0 {
            return "None".into();
        }
        Self::NAMES
            .iter()
            .filter(|(flag, _)| self.contains(*flag))
            .map(|(_, name)| *name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Parses `None`, `Global`, or flags separated by commas.
    pub fn parse_name(text: &str) -> Result<Self> {
        let mut bits = 0u8;
        for part in text.split(',').map(str::trim) {
            bits |= match part {
                "None" => 0,
                other => Self::NAMES
                    .iter()
                    .find(|(_, name)| *name == other)
                    .map(|(flag, _)| flag.0)
                    .ok_or_else(|| {
                        NeoError::invalid("witness scope", format!("unknown scope {other:?}"))
                    })?,
            };
        }
        Self::from_bits(bits)
    }
}

/// What a witness rule does when its condition matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WitnessRuleAction {
    /// Refuse the witness.
    Deny = 0,
    /// Accept the witness.
    Allow = 1,
}

/// A condition of a witness rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WitnessCondition {
    /// A constant.
    Boolean(bool),
    /// Negation.
    Not(Box<WitnessCondition>),
    /// All of (1 to 16 conditions).
    And(Vec<WitnessCondition>),
    /// Any of (1 to 16 conditions).
    Or(Vec<WitnessCondition>),
    /// The current script hash is this one.
    ScriptHash(UInt160),
    /// The current contract is in this group.
    Group(PublicKey),
    /// Called by the entry script.
    CalledByEntry,
    /// Called by this contract.
    CalledByContract(UInt160),
    /// Called by a contract in this group.
    CalledByGroup(PublicKey),
}

impl WitnessCondition {
    fn type_byte(&self) -> u8 {
        match self {
            Self::Boolean(_) => 0x00,
            Self::Not(_) => 0x01,
            Self::And(_) => 0x02,
            Self::Or(_) => 0x03,
            Self::ScriptHash(_) => 0x18,
            Self::Group(_) => 0x19,
            Self::CalledByEntry => 0x20,
            Self::CalledByContract(_) => 0x28,
            Self::CalledByGroup(_) => 0x29,
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Self::Boolean(_) => "Boolean",
            Self::Not(_) => "Not",
            Self::And(_) => "And",
            Self::Or(_) => "Or",
            Self::ScriptHash(_) => "ScriptHash",
            Self::Group(_) => "Group",
            Self::CalledByEntry => "CalledByEntry",
            Self::CalledByContract(_) => "CalledByContract",
            Self::CalledByGroup(_) => "CalledByGroup",
        }
    }

    /// Checks nesting depth and sub-condition counts (`depth_left` levels may remain).
    fn validate(&self, depth_left: usize) -> Result<()> {
        if depth_left == 0 {
            return Err(NeoError::invalid(
                "witness condition",
                format!("nested deeper than {MAX_CONDITION_NESTING} levels"),
            ));
        }
        match self {
            Self::Not(inner) => inner.validate(depth_left - 1),
            Self::And(items) | Self::Or(items) => {
                if items.is_empty() || items.len() > MAX_SUBITEMS {
                    return Err(NeoError::invalid(
                        "witness condition",
                        format!(
                            "{} needs 1 to {MAX_SUBITEMS} sub-conditions, got {}",
                            self.type_name(),
                            items.len()
                        ),
                    ));
                }
                items.iter().try_for_each(|c| c.validate(depth_left - 1))
            }
            _ => Ok(()),
        }
    }

    fn write(&self, w: &mut BinaryWriter) {
        w.u8(self.type_byte());
        match self {
            Self::Boolean(b) => {
                w.u8(*b as u8);
            }
            Self::Not(inner) => inner.write(w),
            Self::And(items) | Self::Or(items) => {
                w.var_int(items.len() as u64);
                items.iter().for_each(|c| c.write(w));
            }
            Self::ScriptHash(h) | Self::CalledByContract(h) => {
                w.bytes(h.as_le_bytes());
            }
            Self::Group(k) | Self::CalledByGroup(k) => {
                w.bytes(&k.to_compressed());
            }
            Self::CalledByEntry => {}
        }
    }

    fn read(r: &mut BinaryReader<'_>, depth_left: usize) -> Result<Self> {
        const WHAT: &str = "witness condition";
        if depth_left == 0 {
            return Err(NeoError::invalid(
                WHAT,
                format!("nested deeper than {MAX_CONDITION_NESTING} levels"),
            ));
        }
        let read_list = |r: &mut BinaryReader<'_>| -> Result<Vec<Self>> {
            let n = r.var_int(MAX_SUBITEMS as u64, WHAT)? as usize;
            if n == 0 {
                return Err(NeoError::invalid(
                    WHAT,
                    "And/Or needs at least one sub-condition",
                ));
            }
            (0..n).map(|_| Self::read(r, depth_left - 1)).collect()
        };
        Ok(match r.u8(WHAT)? {
            0x00 => Self::Boolean(r.bool(WHAT)?),
            0x01 => Self::Not(Box::new(Self::read(r, depth_left - 1)?)),
            0x02 => Self::And(read_list(r)?),
            0x03 => Self::Or(read_list(r)?),
            0x18 => Self::ScriptHash(UInt160::from_le_bytes(r.array(WHAT)?)),
            0x19 => Self::Group(read_public_key(r)?),
            0x20 => Self::CalledByEntry,
            0x28 => Self::CalledByContract(UInt160::from_le_bytes(r.array(WHAT)?)),
            0x29 => Self::CalledByGroup(read_public_key(r)?),
            other => {
                return Err(NeoError::invalid(
                    WHAT,
                    format!("unknown type 0x{other:02x}"),
                ));
            }
        })
    }

    /// The JSON form of Neo RPC.
    pub fn to_json(&self) -> Value {
        let mut v = json!({ "type": self.type_name() });
        match self {
            Self::Boolean(b) => v["expression"] = json!(b),
            Self::Not(inner) => v["expression"] = inner.to_json(),
            Self::And(items) | Self::Or(items) => {
                v["expressions"] = Value::Array(items.iter().map(Self::to_json).collect())
            }
            Self::ScriptHash(h) | Self::CalledByContract(h) => v["hash"] = json!(h.to_string()),
            Self::Group(k) | Self::CalledByGroup(k) => v["group"] = json!(k.to_string()),
            Self::CalledByEntry => {}
        }
        v
    }

    /// Parses the JSON form of Neo RPC.
    pub fn from_json(v: &Value) -> Result<Self> {
        let c = Self::from_json_at(v, MAX_CONDITION_NESTING + 1)?;
        c.validate(MAX_CONDITION_NESTING)?;
        Ok(c)
    }

    fn from_json_at(v: &Value, depth_left: usize) -> Result<Self> {
        const WHAT: &str = "witness condition";
        if depth_left == 0 {
            return Err(NeoError::invalid(WHAT, "nested too deeply"));
        }
        let field = |name: &str| {
            v.get(name)
                .ok_or_else(|| NeoError::invalid(WHAT, format!("missing {name:?}")))
        };
        let text = |name: &str| {
            field(name)?
                .as_str()
                .ok_or_else(|| NeoError::invalid(WHAT, format!("{name:?} must be a string")))
        };
        let key = |name: &str| -> Result<PublicKey> {
            let bytes = hex::decode(text(name)?).map_err(|e| NeoError::InvalidHex {
                what: "group",
                reason: e.to_string(),
            })?;
            Ok(PublicKey::from_slice(&bytes)?)
        };
        let list = || -> Result<Vec<Self>> {
            field("expressions")?
                .as_array()
                .ok_or_else(|| NeoError::invalid(WHAT, "\"expressions\" must be an array"))?
                .iter()
                .map(|c| Self::from_json_at(c, depth_left - 1))
                .collect()
        };
        let kind = text("type")?;
        Ok(match kind {
            "Boolean" => Self::Boolean(match field("expression")? {
                Value::Bool(b) => *b,
                Value::String(s) if s.eq_ignore_ascii_case("true") => true,
                Value::String(s) if s.eq_ignore_ascii_case("false") => false,
                _ => {
                    return Err(NeoError::invalid(
                        WHAT,
                        "Boolean expression must be true or false",
                    ));
                }
            }),
            "Not" => Self::Not(Box::new(Self::from_json_at(
                field("expression")?,
                depth_left - 1,
            )?)),
            "And" => Self::And(list()?),
            "Or" => Self::Or(list()?),
            "ScriptHash" => Self::ScriptHash(UInt160::parse_display(text("hash")?)?),
            "Group" => Self::Group(key("group")?),
            "CalledByEntry" => Self::CalledByEntry,
            "CalledByContract" => Self::CalledByContract(UInt160::parse_display(text("hash")?)?),
            "CalledByGroup" => Self::CalledByGroup(key("group")?),
            other => return Err(NeoError::invalid(WHAT, format!("unknown type {other:?}"))),
        })
    }
}

/// A witness rule: an action and the condition under which it applies.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WitnessRule {
    /// Allow or deny.
    pub action: WitnessRuleAction,
    /// When the rule applies.
    pub condition: WitnessCondition,
}

impl WitnessRule {
    fn write(&self, w: &mut BinaryWriter) {
        w.u8(self.action as u8);
        self.condition.write(w);
    }

    fn read(r: &mut BinaryReader<'_>) -> Result<Self> {
        let action = match r.u8("witness rule")? {
            0 => WitnessRuleAction::Deny,
            1 => WitnessRuleAction::Allow,
            other => {
                return Err(NeoError::invalid(
                    "witness rule",
                    format!("unknown action 0x{other:02x}"),
                ));
            }
        };
        Ok(Self {
            action,
            condition: WitnessCondition::read(r, MAX_CONDITION_NESTING)?,
        })
    }

    /// The JSON form of Neo RPC.
    pub fn to_json(&self) -> Value {
        let action = match self.action {
            WitnessRuleAction::Deny => "Deny",
            WitnessRuleAction::Allow => "Allow",
        };
        json!({ "action": action, "condition": self.condition.to_json() })
    }

    /// Parses the JSON form of Neo RPC.
    pub fn from_json(v: &Value) -> Result<Self> {
        let action = match v.get("action").and_then(Value::as_str) {
            Some("Deny") => WitnessRuleAction::Deny,
            Some("Allow") => WitnessRuleAction::Allow,
            _ => {
                return Err(NeoError::invalid(
                    "witness rule",
                    "action must be \"Allow\" or \"Deny\"",
                ));
            }
        };
        let condition = v
            .get("condition")
            .ok_or_else(|| NeoError::invalid("witness rule", "missing condition"))?;
        Ok(Self {
            action,
            condition: WitnessCondition::from_json(condition)?,
        })
    }
}

/// A transaction signer: an account and where its witness is valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Signer {
    /// The account (script hash) that signs.
    pub account: UInt160,
    /// Where the witness is valid.
    pub scopes: WitnessScope,
    /// With `CustomContracts`: the contracts (at most 16).
    pub allowed_contracts: Vec<UInt160>,
    /// With `CustomGroups`: the groups (at most 16).
    pub allowed_groups: Vec<PublicKey>,
    /// With `WitnessRules`: the rules (at most 16).
    pub rules: Vec<WitnessRule>,
}

impl Signer {
    /// A signer with the given scope and no lists.
    pub fn new(account: UInt160, scopes: WitnessScope) -> Self {
        Self {
            account,
            scopes,
            allowed_contracts: vec![],
            allowed_groups: vec![],
            rules: vec![],
        }
    }

    /// The usual signer of a transfer: `CalledByEntry`.
    pub fn called_by_entry(account: UInt160) -> Self {
        Self::new(account, WitnessScope::CALLED_BY_ENTRY)
    }

    /// Checks the scope rules and that lists are present exactly when their flag is set.
    pub fn validate(&self) -> Result<()> {
        WitnessScope::from_bits(self.scopes.bits())?;
        let check = |flag: WitnessScope, len: usize, what: &'static str| -> Result<()> {
            if !self.scopes.contains(flag) && len > 0 {
                return Err(NeoError::invalid(
                    "signer",
                    format!("{what} given without the {} scope", flag.to_name()),
                ));
            }
            if len > MAX_SUBITEMS {
                return Err(NeoError::TooLarge {
                    what,
                    max: MAX_SUBITEMS as u64,
                    actual: len as u64,
                });
            }
            Ok(())
        };
        check(
            WitnessScope::CUSTOM_CONTRACTS,
            self.allowed_contracts.len(),
            "allowed contracts",
        )?;
        check(
            WitnessScope::CUSTOM_GROUPS,
            self.allowed_groups.len(),
            "allowed groups",
        )?;
        check(
            WitnessScope::WITNESS_RULES,
            self.rules.len(),
            "witness rules",
        )?;
        self.rules
            .iter()
            .try_for_each(|r| r.condition.validate(MAX_CONDITION_NESTING))
    }

    fn write(&self, w: &mut BinaryWriter) {
        w.bytes(self.account.as_le_bytes()).u8(self.scopes.bits());
        if self.scopes.contains(WitnessScope::CUSTOM_CONTRACTS) {
            w.var_int(self.allowed_contracts.len() as u64);
            self.allowed_contracts.iter().for_each(|h| {
                w.bytes(h.as_le_bytes());
            });
        }
        if self.scopes.contains(WitnessScope::CUSTOM_GROUPS) {
            w.var_int(self.allowed_groups.len() as u64);
            self.allowed_groups.iter().for_each(|k| {
                w.bytes(&k.to_compressed());
            });
        }
        if self.scopes.contains(WitnessScope::WITNESS_RULES) {
            w.var_int(self.rules.len() as u64);
            self.rules.iter().for_each(|r| r.write(w));
        }
    }

    fn read(r: &mut BinaryReader<'_>) -> Result<Self> {
        const WHAT: &str = "signer";
        let account = UInt160::from_le_bytes(r.array(WHAT)?);
        let scopes = WitnessScope::from_bits(r.u8(WHAT)?)?;
        let mut signer = Self::new(account, scopes);
        if scopes.contains(WitnessScope::CUSTOM_CONTRACTS) {
            let n = r.var_int(MAX_SUBITEMS as u64, "allowed contracts")?;
            signer.allowed_contracts = (0..n)
                .map(|_| Ok(UInt160::from_le_bytes(r.array(WHAT)?)))
                .collect::<Result<_>>()?;
        }
        if scopes.contains(WitnessScope::CUSTOM_GROUPS) {
            let n = r.var_int(MAX_SUBITEMS as u64, "allowed groups")?;
            signer.allowed_groups = (0..n).map(|_| read_public_key(r)).collect::<Result<_>>()?;
        }
        if scopes.contains(WitnessScope::WITNESS_RULES) {
            let n = r.var_int(MAX_SUBITEMS as u64, "witness rules")?;
            signer.rules = (0..n)
                .map(|_| WitnessRule::read(r))
                .collect::<Result<_>>()?;
        }
        Ok(signer)
    }

    /// The JSON form Neo RPC takes in `invokefunction`/`invokescript` and returns in transactions.
    pub fn to_json(&self) -> Value {
        let mut v = json!({ "account": self.account.to_string(), "scopes": self.scopes.to_name() });
        if self.scopes.contains(WitnessScope::CUSTOM_CONTRACTS) {
            v["allowedcontracts"] = json!(
                self.allowed_contracts
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
            );
        }
        if self.scopes.contains(WitnessScope::CUSTOM_GROUPS) {
            v["allowedgroups"] = json!(
                self.allowed_groups
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
            );
        }
        if self.scopes.contains(WitnessScope::WITNESS_RULES) {
            v["rules"] = Value::Array(self.rules.iter().map(WitnessRule::to_json).collect());
        }
        v
    }

    /// Parses the JSON form of Neo RPC.
    pub fn from_json(v: &Value) -> Result<Self> {
        const WHAT: &str = "signer";
        let text = |name: &str| {
            v.get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| NeoError::invalid(WHAT, format!("missing {name:?}")))
        };
        let list = |name: &str| -> Result<&Vec<Value>> {
            v.get(name)
                .and_then(Value::as_array)
                .ok_or_else(|| NeoError::invalid(WHAT, format!("{name:?} must be an array")))
        };
        let mut signer = Self::new(
            UInt160::parse_display(text("account")?)?,
            WitnessScope::parse_name(text("scopes")?)?,
        );
        if signer.scopes.contains(WitnessScope::CUSTOM_CONTRACTS) {
            signer.allowed_contracts = list("allowedcontracts")?
                .iter()
                .map(|h| UInt160::parse_display(h.as_str().unwrap_or_default()))
                .collect::<Result<_>>()?;
        }
        if signer.scopes.contains(WitnessScope::CUSTOM_GROUPS) {
            signer.allowed_groups = list("allowedgroups")?
                .iter()
                .map(|k| {
                    let bytes = hex::decode(k.as_str().unwrap_or_default()).map_err(|e| {
                        NeoError::InvalidHex {
                            what: "group",
                            reason: e.to_string(),
                        }
                    })?;
                    Ok(PublicKey::from_slice(&bytes)?)
                })
                .collect::<Result<_>>()?;
        }
        if signer.scopes.contains(WitnessScope::WITNESS_RULES) {
            signer.rules = list("rules")?
                .iter()
                .map(WitnessRule::from_json)
                .collect::<Result<_>>()?;
        }
        signer.validate()?;
        Ok(signer)
    }
}

/// The result code of an oracle response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OracleResponseCode(u8);

impl OracleResponseCode {
    /// The request succeeded.
    pub const SUCCESS: Self = Self(0x00);
    const VALID: [u8; 10] = [0x00, 0x10, 0x12, 0x14, 0x16, 0x18, 0x1a, 0x1c, 0x1f, 0xff];

    /// From the raw byte; values Neo does not define are refused.
    pub fn from_byte(code: u8) -> Result<Self> {
        if Self::VALID.contains(&code) {
            Ok(Self(code))
        } else {
            Err(NeoError::invalid(
                "oracle response code",
                format!("0x{code:02x}"),
            ))
        }
    }

    /// The raw byte.
    pub fn byte(self) -> u8 {
        self.0
    }
}

/// A transaction attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TransactionAttribute {
    /// Committee-only: put the transaction first in the block.
    HighPriority,
    /// The response to an oracle request.
    OracleResponse {
        /// The request id.
        id: u64,
        /// The result code.
        code: OracleResponseCode,
        /// The response body (empty unless the code is success); at most 65,535 bytes.
        result: Vec<u8>,
    },
    /// Not valid before this block height.
    NotValidBefore {
        /// The first block height at which the transaction is valid.
        height: u32,
    },
    /// Conflicts with (replaces) the transaction with this hash.
    Conflicts {
        /// The conflicting transaction.
        hash: UInt256,
    },
}

impl TransactionAttribute {
    fn type_byte(&self) -> u8 {
        match self {
            Self::HighPriority => 0x01,
            Self::OracleResponse { .. } => 0x11,
            Self::NotValidBefore { .. } => 0x20,
            Self::Conflicts { .. } => 0x21,
        }
    }

    fn allow_multiple(&self) -> bool {
        matches!(self, Self::Conflicts { .. })
    }

    fn validate(&self) -> Result<()> {
        if let Self::OracleResponse { code, result, .. } = self {
            if result.len() > u16::MAX as usize {
                return Err(NeoError::TooLarge {
                    what: "oracle result",
                    max: u16::MAX as u64,
                    actual: result.len() as u64,
                });
            }
            if *code != OracleResponseCode::SUCCESS && !result.is_empty() {
                return Err(NeoError::invalid(
                    "oracle response",
                    "a failed response must have an empty result",
                ));
            }
        }
        Ok(())
    }

    fn write(&self, w: &mut BinaryWriter) {
        w.u8(self.type_byte());
        match self {
            Self::HighPriority => {}
            Self::OracleResponse { id, code, result } => {
                w.u64(*id).u8(code.byte()).var_bytes(result);
            }
            Self::NotValidBefore { height } => {
                w.u32(*height);
            }
            Self::Conflicts { hash } => {
                w.bytes(hash.as_le_bytes());
            }
        }
    }

    fn read(r: &mut BinaryReader<'_>) -> Result<Self> {
        const WHAT: &str = "transaction attribute";
        let attr = match r.u8(WHAT)? {
            0x01 => Self::HighPriority,
            0x11 => Self::OracleResponse {
                id: r.u64(WHAT)?,
                code: OracleResponseCode::from_byte(r.u8(WHAT)?)?,
                result: r.var_bytes(u16::MAX as usize, "oracle result")?.to_vec(),
            },
            0x20 => Self::NotValidBefore {
                height: r.u32(WHAT)?,
            },
            0x21 => Self::Conflicts {
                hash: UInt256::from_le_bytes(r.array(WHAT)?),
            },
            other => {
                return Err(NeoError::invalid(
                    WHAT,
                    format!("unknown type 0x{other:02x}"),
                ));
            }
        };
        attr.validate()?;
        Ok(attr)
    }
}

/// A witness: the invocation script (signatures) and the verification script (the account).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Witness {
    /// Pushes the signatures.
    pub invocation: Vec<u8>,
    /// Checks them; its hash is the account.
    pub verification: Vec<u8>,
}

impl Witness {
    /// The witness of a single-signature account.
    pub fn single_sig(signature: &Signature, key: &PublicKey) -> Self {
        Self {
            invocation: signature_invocation_script(signature),
            verification: verification_script(key),
        }
    }

    /// The account this witness is for.
    pub fn script_hash(&self) -> UInt160 {
        UInt160::of_script(&self.verification)
    }

    fn validate(&self) -> Result<()> {
        if self.invocation.len() > MAX_INVOCATION_SCRIPT {
            return Err(NeoError::TooLarge {
                what: "invocation script",
                max: MAX_INVOCATION_SCRIPT as u64,
                actual: self.invocation.len() as u64,
            });
        }
        if self.verification.len() > MAX_VERIFICATION_SCRIPT {
            return Err(NeoError::TooLarge {
                what: "verification script",
                max: MAX_VERIFICATION_SCRIPT as u64,
                actual: self.verification.len() as u64,
            });
        }
        Ok(())
    }

    fn write(&self, w: &mut BinaryWriter) {
        w.var_bytes(&self.invocation).var_bytes(&self.verification);
    }

    fn read(r: &mut BinaryReader<'_>) -> Result<Self> {
        Ok(Self {
            invocation: r
                .var_bytes(MAX_INVOCATION_SCRIPT, "invocation script")?
                .to_vec(),
            verification: r
                .var_bytes(MAX_VERIFICATION_SCRIPT, "verification script")?
                .to_vec(),
        })
    }
}

/// A Neo N3 transaction (version 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// Random number that makes otherwise equal transactions distinct.
    pub nonce: u32,
    /// GAS (in 10⁻⁸) paid for executing the script.
    pub system_fee: i64,
    /// GAS (in 10⁻⁸) paid for size and verification.
    pub network_fee: i64,
    /// The last block height at which the transaction may be included.
    pub valid_until_block: u32,
    /// 1 to 16 signers; the first pays the fees.
    pub signers: Vec<Signer>,
    /// Attributes (at most 16 minus the number of signers).
    pub attributes: Vec<TransactionAttribute>,
    /// The script to run (1 to 65,535 bytes).
    pub script: Vec<u8>,
    /// One witness per signer, in signer order (empty while unsigned).
    pub witnesses: Vec<Witness>,
}

impl Transaction {
    /// The only transaction version Neo N3 defines.
    pub const VERSION: u8 = 0;

    /// The serialization without witnesses: what the hash covers.
    pub fn unsigned_bytes(&self) -> Result<Vec<u8>> {
        self.validate_unsigned()?;
        let mut w = BinaryWriter::new();
        self.write_unsigned(&mut w);
        Ok(w.into_bytes())
    }

    /// The full serialization, witnesses included. Every signer needs its witness.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.validate()?;
        let mut w = BinaryWriter::new();
        self.write_unsigned(&mut w);
        w.var_int(self.witnesses.len() as u64);
        self.witnesses.iter().for_each(|x| x.write(&mut w));
        let bytes = w.into_bytes();
        if bytes.len() > MAX_TRANSACTION_SIZE {
            return Err(NeoError::TooLarge {
                what: "transaction",
                max: MAX_TRANSACTION_SIZE as u64,
                actual: bytes.len() as u64,
            });
        }
        Ok(bytes)
    }

    /// The transaction hash: SHA-256 of the unsigned serialization (one round, not two).
    pub fn hash(&self) -> Result<UInt256> {
        Ok(UInt256::from_le_bytes(sha256(&self.unsigned_bytes()?)))
    }

    /// What a signer signs: the network magic (u32 little-endian) followed by the hash.
    pub fn sign_data(&self, network: u32) -> Result<[u8; 36]> {
        Ok(sign_data(network, &self.hash()?))
    }

    /// The account paying the fees (the first signer).
    pub fn sender(&self) -> Option<UInt160> {
        self.signers.first().map(|s| s.account)
    }

    /// Checks every rule a node applies to the unsigned part.
    pub fn validate_unsigned(&self) -> Result<()> {
        const WHAT: &str = "transaction";
        if self.system_fee < 0 || self.network_fee < 0 {
            return Err(NeoError::invalid(WHAT, "fees must not be negative"));
        }
        if self.system_fee.checked_add(self.network_fee).is_none() {
            return Err(NeoError::invalid(
                WHAT,
                "system fee + network fee overflows",
            ));
        }
        if self.signers.is_empty() {
            return Err(NeoError::invalid(WHAT, "at least one signer is required"));
        }
        if self.signers.len() > MAX_TRANSACTION_ATTRIBUTES {
            return Err(NeoError::TooLarge {
                what: "signers",
                max: MAX_TRANSACTION_ATTRIBUTES as u64,
                actual: self.signers.len() as u64,
            });
        }
        for (i, signer) in self.signers.iter().enumerate() {
            signer.validate()?;
            if self.signers[..i]
                .iter()
                .any(|s| s.account == signer.account)
            {
                return Err(NeoError::invalid(
                    WHAT,
                    format!("duplicate signer {}", signer.account),
                ));
            }
        }
        let max_attributes = MAX_TRANSACTION_ATTRIBUTES - self.signers.len();
        if self.attributes.len() > max_attributes {
            return Err(NeoError::TooLarge {
                what: "attributes",
                max: max_attributes as u64,
                actual: self.attributes.len() as u64,
            });
        }
        for (i, attr) in self.attributes.iter().enumerate() {
            attr.validate()?;
            if !attr.allow_multiple()
                && self.attributes[..i]
                    .iter()
                    .any(|a| a.type_byte() == attr.type_byte())
            {
                return Err(NeoError::invalid(WHAT, "duplicate attribute type"));
            }
        }
        if self.script.is_empty() {
            return Err(NeoError::invalid(WHAT, "the script is empty"));
        }
        if self.script.len() > MAX_SCRIPT {
            return Err(NeoError::TooLarge {
                what: "script",
                max: MAX_SCRIPT as u64,
                actual: self.script.len() as u64,
            });
        }
        Ok(())
    }

    /// Checks the unsigned rules plus one valid witness per signer.
    pub fn validate(&self) -> Result<()> {
        self.validate_unsigned()?;
        if self.witnesses.len() != self.signers.len() {
            return Err(NeoError::invalid(
                "transaction",
                format!(
                    "{} witnesses for {} signers",
                    self.witnesses.len(),
                    self.signers.len()
                ),
            ));
        }
        self.witnesses.iter().try_for_each(Witness::validate)
    }

    fn write_unsigned(&self, w: &mut BinaryWriter) {
        w.u8(Self::VERSION)
            .u32(self.nonce)
            .i64(self.system_fee)
            .i64(self.network_fee)
            .u32(self.valid_until_block);
        w.var_int(self.signers.len() as u64);
        self.signers.iter().for_each(|s| s.write(w));
        w.var_int(self.attributes.len() as u64);
        self.attributes.iter().for_each(|a| a.write(w));
        w.var_bytes(&self.script);
    }

    /// Decodes a complete signed transaction; trailing bytes, oversize input and every rule
    /// violation are errors.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_TRANSACTION_SIZE {
            return Err(NeoError::TooLarge {
                what: "transaction",
                max: MAX_TRANSACTION_SIZE as u64,
                actual: bytes.len() as u64,
            });
        }
        let mut r = BinaryReader::new(bytes);
        let mut tx = Self::read_unsigned(&mut r)?;
        let n = r.var_int(tx.signers.len() as u64, "witnesses")?;
        tx.witnesses = (0..n)
            .map(|_| Witness::read(&mut r))
            .collect::<Result<_>>()?;
        r.finish()?;
        tx.validate()?;
        Ok(tx)
    }

    /// Decodes the unsigned serialization (no witnesses).
    pub fn from_unsigned_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = BinaryReader::new(bytes);
        let tx = Self::read_unsigned(&mut r)?;
        r.finish()?;
        Ok(tx)
    }

    fn read_unsigned(r: &mut BinaryReader<'_>) -> Result<Self> {
        const WHAT: &str = "transaction";
        let version = r.u8(WHAT)?;
        if version != Self::VERSION {
            return Err(NeoError::invalid(
                WHAT,
                format!("unknown version {version}"),
            ));
        }
        let nonce = r.u32(WHAT)?;
        let system_fee = r.i64(WHAT)?;
        let network_fee = r.i64(WHAT)?;
        let valid_until_block = r.u32(WHAT)?;
        let n = r.var_int(MAX_TRANSACTION_ATTRIBUTES as u64, "signers")?;
        let signers = (0..n)
            .map(|_| Signer::read(r))
            .collect::<Result<Vec<_>>>()?;
        let max_attributes = MAX_TRANSACTION_ATTRIBUTES.saturating_sub(signers.len());
        let n = r.var_int(max_attributes as u64, "attributes")?;
        let attributes = (0..n)
            .map(|_| TransactionAttribute::read(r))
            .collect::<Result<_>>()?;
        let script = r.var_bytes(MAX_SCRIPT, "script")?.to_vec();
        let tx = Self {
            nonce,
            system_fee,
            network_fee,
            valid_until_block,
            signers,
            attributes,
            script,
            witnesses: vec![],
        };
        tx.validate_unsigned()?;
        Ok(tx)
    }
}

/// The data a signer signs for the transaction `hash` on network `network`.
pub fn sign_data(network: u32, hash: &UInt256) -> [u8; 36] {
    let mut out = [0u8; 36];
    out[..4].copy_from_slice(&network.to_le_bytes());
    out[4..].copy_from_slice(hash.as_le_bytes());
    out
}

fn read_public_key(r: &mut BinaryReader<'_>) -> Result<PublicKey> {
    let bytes: [u8; 33] = r.array("public key")?;
    Ok(PublicKey::from_slice(&bytes)?)
}

#[cfg(test)]
mod tests;
