//! Contract parameters and VM stack items in the JSON form Neo RPC uses.
//!
//! [`ContractParameter`] is what a caller passes to a contract (`invokefunction` parameters,
//! script arguments). [`StackItem`] is what the VM returns (`invoke*` results, notification
//! states). Both convert to and from JSON exactly as Neo's RPC server writes them; integers are
//! decimal strings (JSON numbers are accepted on input), byte strings are base64.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use neosl_crypto::PublicKey;
use num_bigint::BigInt;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};

use crate::script::{ScriptBuilder, opcode};
use crate::{NeoError, Result, UInt160, UInt256};

/// How deep JSON parameters and stack items may nest (a guard against stack exhaustion).
pub const MAX_NESTING: usize = 64;

/// A typed argument of a contract call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContractParameter {
    /// Any value; as an argument it is `null`.
    Any,
    /// A boolean.
    Boolean(bool),
    /// An integer (at most 256 bits when pushed).
    Integer(BigInt),
    /// Raw bytes.
    ByteArray(Vec<u8>),
    /// A UTF-8 string.
    String(String),
    /// A script hash.
    Hash160(UInt160),
    /// A 256-bit hash.
    Hash256(UInt256),
    /// A public key.
    PublicKey(PublicKey),
    /// A 64-byte signature.
    Signature([u8; 64]),
    /// An array of parameters.
    Array(Vec<ContractParameter>),
    /// A map; keys must be primitive types.
    Map(Vec<(ContractParameter, ContractParameter)>),
}

impl ContractParameter {
    /// The RPC type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Any => "Any",
            Self::Boolean(_) => "Boolean",
            Self::Integer(_) => "Integer",
            Self::ByteArray(_) => "ByteArray",
            Self::String(_) => "String",
            Self::Hash160(_) => "Hash160",
            Self::Hash256(_) => "Hash256",
            Self::PublicKey(_) => "PublicKey",
            Self::Signature(_) => "Signature",
            Self::Array(_) => "Array",
            Self::Map(_) => "Map",
        }
    }

    /// The JSON form: `{"type": ..., "value": ...}`.
    pub fn to_json(&self) -> Value {
        let value = match self {
            Self::Any => return json!({ "type": "Any" }),
            Self::Boolean(b) => Value::Bool(*b),
            Self::Integer(i) => Value::String(i.to_string()),
            Self::ByteArray(bytes) => Value::String(BASE64.encode(bytes)),
            Self::Signature(bytes) => Value::String(BASE64.encode(bytes)),
            Self::String(s) => Value::String(s.clone()),
            Self::Hash160(h) => Value::String(h.to_string()),
            Self::Hash256(h) => Value::String(h.to_string()),
            Self::PublicKey(k) => Value::String(k.to_string()),
            Self::Array(items) => Value::Array(items.iter().map(Self::to_json).collect()),
            Self::Map(entries) => map_to_json(entries, Self::to_json),
        };
        json!({ "type": self.type_name(), "value": value })
    }

    /// Parses the JSON form. Unknown types, wrong value shapes and bad encodings are errors.
    pub fn from_json(value: &Value) -> Result<Self> {
        Self::from_json_at(value, 0)
    }

    fn from_json_at(value: &Value, depth: usize) -> Result<Self> {
        const WHAT: &str = "contract parameter";
        if depth > MAX_NESTING {
            return Err(NeoError::TooLarge {
                what: "parameter nesting",
                max: MAX_NESTING as u64,
                actual: depth as u64,
            });
        }
        let obj = value
            .as_object()
            .ok_or_else(|| NeoError::invalid(WHAT, "expected an object"))?;
        let kind = obj
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| NeoError::invalid(WHAT, "missing \"type\""))?;
        let v = obj.get("value").unwrap_or(&Value::Null);
        let text = || {
            v.as_str()
                .ok_or_else(|| NeoError::invalid(WHAT, format!("{kind} value must be a string")))
        };
        Ok(match kind {
            "Any" => Self::Any,
            "Boolean" => Self::Boolean(match v {
                Value::Bool(b) => *b,
                Value::String(s) if s.eq_ignore_ascii_case("true") => true,
                Value::String(s) if s.eq_ignore_ascii_case("false") => false,
                _ => {
                    return Err(NeoError::invalid(
                        WHAT,
                        "Boolean value must be true or false",
                    ));
                }
            }),
            "Integer" => Self::Integer(parse_integer(v)?),
            "ByteArray" => Self::ByteArray(decode_base64(text()?)?),
            "Signature" => {
                let bytes = decode_base64(text()?)?;
                Self::Signature(bytes.try_into().map_err(|b: Vec<u8>| {
                    NeoError::invalid(WHAT, format!("Signature must be 64 bytes, got {}", b.len()))
                })?)
            }
            "String" => Self::String(text()?.to_owned()),
            "Hash160" => Self::Hash160(UInt160::parse_display(text()?)?),
            "Hash256" => Self::Hash256(UInt256::parse_display(text()?)?),
            "PublicKey" => {
                let bytes = hex::decode(text()?).map_err(|e| NeoError::InvalidHex {
                    what: "public key",
                    reason: e.to_string(),
                })?;
                Self::PublicKey(PublicKey::from_slice(&bytes)?)
            }
            "Array" => Self::Array(
                v.as_array()
                    .ok_or_else(|| NeoError::invalid(WHAT, "Array value must be an array"))?
                    .iter()
                    .map(|item| Self::from_json_at(item, depth + 1))
                    .collect::<Result<_>>()?,
            ),
            "Map" => {
                let entries = map_from_json(v, WHAT, |item| Self::from_json_at(item, depth + 1))?;
                if entries
                    .iter()
                    .any(|(k, _)| matches!(k, Self::Array(_) | Self::Map(_) | Self::Any))
                {
                    return Err(NeoError::invalid(WHAT, "Map keys must be primitive"));
                }
                Self::Map(entries)
            }
            other => return Err(NeoError::invalid(WHAT, format!("unknown type {other:?}"))),
        })
    }

    /// Emits the push of this parameter, as Neo's `ScriptBuilder.EmitPush(ContractParameter)`.
    pub fn emit(&self, sb: &mut ScriptBuilder) -> Result<()> {
        match self {
            Self::Any => {
                sb.push_null();
            }
            Self::Boolean(b) => {
                sb.push_bool(*b);
            }
            Self::Integer(i) => {
                sb.push_int(i)?;
            }
            Self::ByteArray(bytes) => {
                sb.push_bytes(bytes)?;
            }
            Self::Signature(bytes) => {
                sb.push_bytes(bytes)?;
            }
            Self::String(s) => {
                sb.push_string(s)?;
            }
            Self::Hash160(h) => {
                sb.push_hash160(h);
            }
            Self::Hash256(h) => {
                sb.push_bytes(h.as_le_bytes())?;
            }
            Self::PublicKey(k) => {
                sb.push_public_key(k);
            }
            Self::Array(items) => {
                for item in items.iter().rev() {
                    item.emit(sb)?;
                }
                sb.push_i64(items.len() as i64).opcode(opcode::PACK);
            }
            Self::Map(entries) => {
                for (key, value) in entries.iter().rev() {
                    value.emit(sb)?;
                    key.emit(sb)?;
                }
                sb.push_i64(entries.len() as i64).opcode(opcode::PACKMAP);
            }
        }
        Ok(())
    }
}

impl Serialize for ContractParameter {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for ContractParameter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Self::from_json(&value).map_err(serde::de::Error::custom)
    }
}

/// A value on the NeoVM stack, as RPC reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackItem {
    /// `null`.
    Any,
    /// A code pointer.
    Pointer(i64),
    /// A boolean.
    Boolean(bool),
    /// An integer.
    Integer(BigInt),
    /// An immutable byte string.
    ByteString(Vec<u8>),
    /// A mutable byte buffer.
    Buffer(Vec<u8>),
    /// An array.
    Array(Vec<StackItem>),
    /// A struct (an array with value semantics).
    Struct(Vec<StackItem>),
    /// A map.
    Map(Vec<(StackItem, StackItem)>),
    /// An opaque interop object; with sessions, an iterator id.
    InteropInterface {
        /// The interface name (for example `IIterator`), when given.
        interface: Option<String>,
        /// The session iterator id, when given.
        id: Option<String>,
    },
}

impl StackItem {
    /// The RPC type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Any => "Any",
            Self::Pointer(_) => "Pointer",
            Self::Boolean(_) => "Boolean",
            Self::Integer(_) => "Integer",
            Self::ByteString(_) => "ByteString",
            Self::Buffer(_) => "Buffer",
            Self::Array(_) => "Array",
            Self::Struct(_) => "Struct",
            Self::Map(_) => "Map",
            Self::InteropInterface { .. } => "InteropInterface",
        }
    }

    /// The JSON form RPC uses.
    pub fn to_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("type".into(), Value::String(self.type_name().into()));
        let value = match self {
            Self::Any => None,
            Self::Pointer(p) => Some(Value::from(*p)),
            Self::Boolean(b) => Some(Value::Bool(*b)),
            Self::Integer(i) => Some(Value::String(i.to_string())),
            Self::ByteString(b) | Self::Buffer(b) => Some(Value::String(BASE64.encode(b))),
            Self::Array(items) | Self::Struct(items) => {
                Some(Value::Array(items.iter().map(Self::to_json).collect()))
            }
            Self::Map(entries) => Some(map_to_json(entries, Self::to_json)),
            Self::InteropInterface { interface, id } => {
                if let Some(interface) = interface {
                    obj.insert("interface".into(), Value::String(interface.clone()));
                }
                if let Some(id) = id {
                    obj.insert("id".into(), Value::String(id.clone()));
                }
                None
            }
        };
        if let Some(value) = value {
            obj.insert("value".into(), value);
        }
        Value::Object(obj)
    }

    /// Parses the JSON form RPC uses.
    pub fn from_json(value: &Value) -> Result<Self> {
        Self::from_json_at(value, 0)
    }

    fn from_json_at(value: &Value, depth: usize) -> Result<Self> {
        const WHAT: &str = "stack item";
        if depth > MAX_NESTING {
            return Err(NeoError::TooLarge {
                what: "stack item nesting",
                max: MAX_NESTING as u64,
                actual: depth as u64,
            });
        }
        let obj = value
            .as_object()
            .ok_or_else(|| NeoError::invalid(WHAT, "expected an object"))?;
        let kind = obj
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| NeoError::invalid(WHAT, "missing \"type\""))?;
        let v = obj.get("value").unwrap_or(&Value::Null);
        let text = || {
            v.as_str()
                .ok_or_else(|| NeoError::invalid(WHAT, format!("{kind} value must be a string")))
        };
        let items = || -> Result<Vec<StackItem>> {
            v.as_array()
                .ok_or_else(|| NeoError::invalid(WHAT, format!("{kind} value must be an array")))?
                .iter()
                .map(|item| Self::from_json_at(item, depth + 1))
                .collect()
        };
        Ok(match kind {
            "Any" => Self::Any,
            "Pointer" => Self::Pointer(
                v.as_i64()
                    .ok_or_else(|| NeoError::invalid(WHAT, "Pointer value must be a number"))?,
            ),
            "Boolean" => Self::Boolean(
                v.as_bool()
                    .ok_or_else(|| NeoError::invalid(WHAT, "Boolean value must be a boolean"))?,
            ),
            "Integer" => Self::Integer(parse_integer(v)?),
            "ByteString" => Self::ByteString(decode_base64(text()?)?),
            "Buffer" => Self::Buffer(decode_base64(text()?)?),
            "Array" => Self::Array(items()?),
            "Struct" => Self::Struct(items()?),
            "Map" => Self::Map(map_from_json(v, WHAT, |item| {
                Self::from_json_at(item, depth + 1)
            })?),
            "InteropInterface" => Self::InteropInterface {
                interface: obj
                    .get("interface")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                id: obj.get("id").and_then(Value::as_str).map(str::to_owned),
            },
            other => return Err(NeoError::invalid(WHAT, format!("unknown type {other:?}"))),
        })
    }

    /// The item as an integer, converting as the VM does (booleans and byte strings up to 32
    /// bytes, little-endian two's complement).
    pub fn as_integer(&self) -> Option<BigInt> {
        match self {
            Self::Integer(i) => Some(i.clone()),
            Self::Boolean(b) => Some(BigInt::from(*b as u8)),
            Self::ByteString(b) | Self::Buffer(b) if b.len() <= 32 => {
                Some(BigInt::from_signed_bytes_le(b))
            }
            _ => None,
        }
    }

    /// The item as bytes (byte strings, buffers, and integers in their VM encoding).
    pub fn as_bytes(&self) -> Option<Vec<u8>> {
        match self {
            Self::ByteString(b) | Self::Buffer(b) => Some(b.clone()),
            Self::Integer(i) if i.sign() == num_bigint::Sign::NoSign => Some(Vec::new()),
            Self::Integer(i) => Some(i.to_signed_bytes_le()),
            _ => None,
        }
    }

    /// The item as a UTF-8 string.
    pub fn as_string(&self) -> Option<String> {
        self.as_bytes().and_then(|b| String::from_utf8(b).ok())
    }

    /// The item as a boolean, as the VM converts it.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Boolean(b) => Some(*b),
            Self::Integer(i) => Some(i.sign() != num_bigint::Sign::NoSign),
            Self::ByteString(b) | Self::Buffer(b) => Some(b.iter().any(|x| *x != 0)),
            Self::Any => Some(false),
            _ => None,
        }
    }

    /// The items of an array or struct.
    pub fn as_array(&self) -> Option<&[StackItem]> {
        match self {
            Self::Array(items) | Self::Struct(items) => Some(items),
            _ => None,
        }
    }
}

impl Serialize for StackItem {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for StackItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Self::from_json(&value).map_err(serde::de::Error::custom)
    }
}

/// A map as RPC writes it: `[{"key": …, "value": …}, …]`.
fn map_to_json<T>(entries: &[(T, T)], to_json: impl Fn(&T) -> Value) -> Value {
    Value::Array(
        entries
            .iter()
            .map(|(k, v)| json!({ "key": to_json(k), "value": to_json(v) }))
            .collect(),
    )
}

fn map_from_json<T>(
    v: &Value,
    what: &'static str,
    parse: impl Fn(&Value) -> Result<T>,
) -> Result<Vec<(T, T)>> {
    v.as_array()
        .ok_or_else(|| NeoError::invalid(what, "Map value must be an array"))?
        .iter()
        .map(|entry| {
            let key = entry
                .get("key")
                .ok_or_else(|| NeoError::invalid(what, "Map entry without key"))?;
            let value = entry
                .get("value")
                .ok_or_else(|| NeoError::invalid(what, "Map entry without value"))?;
            Ok((parse(key)?, parse(value)?))
        })
        .collect()
}

fn parse_integer(v: &Value) -> Result<BigInt> {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        _ => {
            return Err(NeoError::invalid(
                "integer",
                "must be a decimal string or an integer",
            ));
        }
    };
    if text.is_empty() || text.len() > 80 {
        return Err(NeoError::invalid("integer", "must have 1 to 80 digits"));
    }
    text.parse::<BigInt>()
        .map_err(|_| NeoError::invalid("integer", format!("{text:?} is not a decimal integer")))
}

fn decode_base64(text: &str) -> Result<Vec<u8>> {
    BASE64
        .decode(text)
        .map_err(|e| NeoError::invalid("base64", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parameters_match_rpc_json() {
        let key = neosl_crypto::SecretKey::from_bytes(&[3; 32])
            .expect("valid")
            .public_key();
        let p = ContractParameter::Array(vec![
            ContractParameter::Integer(BigInt::from(-5)),
            ContractParameter::Boolean(true),
            ContractParameter::ByteArray(vec![1, 2, 3]),
            ContractParameter::String("neo".into()),
            ContractParameter::Hash160(crate::native::GAS),
            ContractParameter::PublicKey(key),
            ContractParameter::Map(vec![(
                ContractParameter::String("k".into()),
                ContractParameter::Any,
            )]),
        ]);
        let json = p.to_json();
        assert_eq!(json["type"], "Array");
        assert_eq!(json["value"][0], json!({"type": "Integer", "value": "-5"}));
        assert_eq!(
            json["value"][2],
            json!({"type": "ByteArray", "value": "AQID"})
        );
        assert_eq!(
            json["value"][4]["value"],
            "0xd2a4cff31913016155e38e474a2c06d08be276cf"
        );
        assert_eq!(json["value"][5]["value"], key.to_string());
        assert_eq!(
            json["value"][6]["value"][0]["value"],
            json!({"type": "Any"})
        );
        assert_eq!(ContractParameter::from_json(&json).expect("parses"), p);
        // Integers may arrive as JSON numbers.
        assert_eq!(
            ContractParameter::from_json(&json!({"type": "Integer", "value": 7})).expect("parses"),
            ContractParameter::Integer(7.into())
        );
    }

    #[test]
    fn bad_parameters_are_refused() {
        for bad in [
            json!({"type": "Integer", "value": "12x"}),
            json!({"type": "Integer", "value": 1.5}),
            json!({"type": "ByteArray", "value": "***"}),
            json!({"type": "Hash160", "value": "0x12"}),
            json!({"type": "PublicKey", "value": "02ff"}),
            json!({"type": "Signature", "value": "AQID"}),
            json!({"type": "Boolean", "value": 3}),
            json!({"type": "Nope"}),
            json!({"value": 1}),
            json!({"type": "Map", "value": [{"key": {"type": "Array", "value": []}, "value": {"type": "Any"}}]}),
            json!([]),
        ] {
            assert!(ContractParameter::from_json(&bad).is_err(), "{bad}");
        }
        let mut deep = json!({"type": "Any"});
        for _ in 0..100 {
            deep = json!({"type": "Array", "value": [deep]});
        }
        assert!(matches!(
            ContractParameter::from_json(&deep),
            Err(NeoError::TooLarge { .. })
        ));
    }

    #[test]
    fn stack_items_match_rpc_json() {
        let json = json!({"type": "Array", "value": [
            {"type": "Integer", "value": "100000000"},
            {"type": "ByteString", "value": "dHJhbnNmZXI="},
            {"type": "Boolean", "value": true},
            {"type": "Any"},
            {"type": "Map", "value": [{"key": {"type": "ByteString", "value": "YQ=="}, "value": {"type": "Integer", "value": "1"}}]},
            {"type": "InteropInterface", "interface": "IIterator", "id": "abc"},
            {"type": "Struct", "value": []},
            {"type": "Buffer", "value": ""},
            {"type": "Pointer", "value": 12}
        ]});
        let item = StackItem::from_json(&json).expect("parses");
        assert_eq!(item.to_json(), json);
        let items = item.as_array().expect("array");
        assert_eq!(items[0].as_integer(), Some(BigInt::from(100_000_000)));
        assert_eq!(items[1].as_string().as_deref(), Some("transfer"));
        assert_eq!(items[2].as_bool(), Some(true));
        assert!(StackItem::from_json(&json!({"type": "Integer", "value": "x"})).is_err());
    }

    fn arb_param() -> impl Strategy<Value = ContractParameter> {
        let leaf = prop_oneof![
            Just(ContractParameter::Any),
            any::<bool>().prop_map(ContractParameter::Boolean),
            any::<i128>().prop_map(|i| ContractParameter::Integer(i.into())),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(ContractParameter::ByteArray),
            ".*".prop_map(ContractParameter::String),
            any::<[u8; 20]>().prop_map(|b| ContractParameter::Hash160(UInt160::from_le_bytes(b))),
            any::<[u8; 32]>().prop_map(|b| ContractParameter::Hash256(UInt256::from_le_bytes(b))),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            proptest::collection::vec(inner, 0..4).prop_map(ContractParameter::Array)
        })
    }

    proptest! {
        #[test]
        fn parameter_json_round_trip(p in arb_param()) {
            let text = serde_json::to_string(&p).expect("serialize");
            let back: ContractParameter = serde_json::from_str(&text).expect("deserialize");
            prop_assert_eq!(back, p);
        }
    }
}
