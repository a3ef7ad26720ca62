//! The binary form `StdLib.serialize` writes and `StdLib.deserialize` reads (Neo's
//! `BinarySerializer`): what a contract decodes by itself, such as a request's payload or a
//! result delivered to a callback.
//!
//! Each item is a type byte and its content: `Any` `00`; `Boolean` `20` + `00`/`01`; `Integer`
//! `21` + var-bytes of the little-endian two's complement (empty for zero); `ByteString` `28` and
//! `Buffer` `30` + var-bytes; `Array` `40` and `Struct` `41` + var-int count + items; `Map` `48` +
//! var-int count + key, value pairs (keys primitive). Decoding is strict: it refuses what a node
//! refuses (unknown types, non-primitive map keys, integers over 32 bytes, booleans other than 0
//! and 1, trailing bytes) and bounds depth and size.

use num_bigint::BigInt;

use crate::binary::{BinaryReader, BinaryWriter};
use crate::param::StackItem;
use crate::{NeoError, Result};

/// The most bytes a serialized item may take (the VM's default `MaxItemSize`).
pub const MAX_SIZE: usize = 1024 * 1024;
/// The deepest nesting accepted.
pub const MAX_DEPTH: usize = 16;
/// The most items (all levels) one serialized value may hold (the VM's `MaxStackSize`).
pub const MAX_ITEMS: usize = 2048;
/// The largest integer, in bytes.
const MAX_INTEGER_BYTES: usize = 32;

const ANY: u8 = 0x00;
const BOOLEAN: u8 = 0x20;
const INTEGER: u8 = 0x21;
const BYTE_STRING: u8 = 0x28;
const BUFFER: u8 = 0x30;
const ARRAY: u8 = 0x40;
const STRUCT: u8 = 0x41;
const MAP: u8 = 0x48;

/// The little-endian two's complement of `value` as the VM stores it (empty for zero).
pub fn integer_bytes(value: &BigInt) -> Vec<u8> {
    if value == &BigInt::from(0) {
        Vec::new()
    } else {
        value.to_signed_bytes_le()
    }
}

/// Serializes `item` as `StdLib.serialize` would.
pub fn serialize(item: &StackItem) -> Result<Vec<u8>> {
    let mut w = BinaryWriter::new();
    write(&mut w, item, 0)?;
    let bytes = w.into_bytes();
    if bytes.len() > MAX_SIZE {
        return Err(NeoError::invalid("serialized item", "larger than 1 MiB"));
    }
    Ok(bytes)
}

fn write(w: &mut BinaryWriter, item: &StackItem, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(NeoError::invalid("serialized item", "nested too deeply"));
    }
    match item {
        StackItem::Any => {
            w.u8(ANY);
        }
        StackItem::Boolean(b) => {
            w.u8(BOOLEAN).u8(u8::from(*b));
        }
        StackItem::Integer(n) => {
            let bytes = integer_bytes(n);
            if bytes.len() > MAX_INTEGER_BYTES {
                return Err(NeoError::invalid("integer", "larger than 32 bytes"));
            }
            w.u8(INTEGER).var_bytes(&bytes);
        }
        StackItem::ByteString(b) => {
            w.u8(BYTE_STRING).var_bytes(b);
        }
        StackItem::Buffer(b) => {
            w.u8(BUFFER).var_bytes(b);
        }
        StackItem::Array(items) | StackItem::Struct(items) => {
            w.u8(if matches!(item, StackItem::Array(_)) {
                ARRAY
            } else {
                STRUCT
            })
            .var_int(items.len() as u64);
            for i in items {
                write(w, i, depth + 1)?;
            }
        }
        StackItem::Map(entries) => {
            w.u8(MAP).var_int(entries.len() as u64);
            for (k, v) in entries {
                if !is_primitive(k) {
                    return Err(NeoError::invalid("map key", "keys are primitive"));
                }
                write(w, k, depth + 1)?;
                write(w, v, depth + 1)?;
            }
        }
        StackItem::Pointer(_) | StackItem::InteropInterface { .. } => {
            return Err(NeoError::invalid(
                "serialized item",
                format!("a {} cannot be serialized", item.type_name()),
            ));
        }
    }
    Ok(())
}

fn is_primitive(item: &StackItem) -> bool {
    matches!(
        item,
        StackItem::Boolean(_) | StackItem::Integer(_) | StackItem::ByteString(_)
    )
}

/// Reads what `StdLib.serialize` wrote; the whole input must be one item.
pub fn deserialize(bytes: &[u8]) -> Result<StackItem> {
    if bytes.len() > MAX_SIZE {
        return Err(NeoError::invalid("serialized item", "larger than 1 MiB"));
    }
    let mut r = BinaryReader::new(bytes);
    let mut budget = MAX_ITEMS;
    let item = read(&mut r, 0, &mut budget)?;
    r.finish()?;
    Ok(item)
}

fn read(r: &mut BinaryReader<'_>, depth: usize, budget: &mut usize) -> Result<StackItem> {
    if depth > MAX_DEPTH {
        return Err(NeoError::invalid("serialized item", "nested too deeply"));
    }
    *budget = budget
        .checked_sub(1)
        .ok_or_else(|| NeoError::invalid("serialized item", "too many items"))?;
    let count = |r: &mut BinaryReader<'_>| -> Result<usize> {
        Ok(r.var_int(MAX_ITEMS as u64, "item count")? as usize)
    };
    let kind = r.u8("item type")?;
    Ok(match kind {
        ANY => StackItem::Any,
        BOOLEAN => match r.u8("boolean")? {
            0 => StackItem::Boolean(false),
            1 => StackItem::Boolean(true),
            other => {
                return Err(NeoError::invalid(
                    "boolean",
                    format!("0x{other:02x} is not 0 or 1"),
                ));
            }
        },
        INTEGER => {
            let bytes = r.var_bytes(MAX_INTEGER_BYTES, "integer")?;
            StackItem::Integer(BigInt::from_signed_bytes_le(bytes))
        }
        BYTE_STRING => StackItem::ByteString(r.var_bytes(MAX_SIZE, "byte string")?.to_vec()),
        BUFFER => StackItem::Buffer(r.var_bytes(MAX_SIZE, "buffer")?.to_vec()),
        ARRAY | STRUCT => {
            let n = count(r)?;
            let mut items = Vec::with_capacity(n.min(64));
            for _ in 0..n {
                items.push(read(r, depth + 1, budget)?);
            }
            if kind == ARRAY {
                StackItem::Array(items)
            } else {
                StackItem::Struct(items)
            }
        }
        MAP => {
            let n = count(r)?;
            let mut entries = Vec::with_capacity(n.min(64));
            for _ in 0..n {
                let key = read(r, depth + 1, budget)?;
                if !is_primitive(&key) {
                    return Err(NeoError::invalid("map key", "keys are primitive"));
                }
                entries.push((key, read(r, depth + 1, budget)?));
            }
            StackItem::Map(entries)
        }
        other => {
            return Err(NeoError::invalid(
                "item type",
                format!("0x{other:02x} is not a serializable type"),
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn bytes(b: &[u8]) -> StackItem {
        StackItem::ByteString(b.to_vec())
    }

    fn int(n: i64) -> StackItem {
        StackItem::Integer(BigInt::from(n))
    }

    #[test]
    fn known_encodings() {
        let cases: Vec<(StackItem, &str)> = vec![
            (StackItem::Any, "00"),
            (StackItem::Boolean(true), "2001"),
            (int(0), "2100"),
            (int(5), "210105"),
            (int(-1), "2101ff"),
            (int(128), "21028000"),
            (int(-129), "21027fff"),
            (bytes(b"ab"), "28026162"),
            (StackItem::Buffer(vec![1]), "300101"),
            (
                StackItem::Array(vec![bytes(b"ab"), int(5)]),
                "4002280261622101", /* then 05 */
            ),
            (StackItem::Struct(vec![]), "4100"),
            (
                StackItem::Map(vec![(int(1), StackItem::Boolean(false))]),
                "48012101012000",
            ),
        ];
        for (item, prefix) in cases {
            let encoded = hex::encode(serialize(&item).expect("serializes"));
            assert!(encoded.starts_with(prefix), "{item:?}: {encoded}");
            assert_eq!(
                deserialize(&serialize(&item).expect("bytes")).expect("reads"),
                item
            );
        }
        let pair = StackItem::Array(vec![bytes(b"ab"), int(5)]);
        assert_eq!(
            hex::encode(serialize(&pair).expect("ok")),
            "400228026162210105"
        );
    }

    #[test]
    fn what_a_node_refuses_is_refused() {
        for bad in [
            "",
            "01",
            "2002",
            "2101",
            "40",
            "4001",
            "4801400000",
            "210100ff",
            "28ff",
            // a 33-byte integer
            "2121000000000000000000000000000000000000000000000000000000000000000000",
        ] {
            let raw = hex::decode(bad).expect("hex");
            assert!(deserialize(&raw).is_err(), "{bad} must be refused");
        }
        let deep =
            (0..=MAX_DEPTH + 1).fold(StackItem::Any, |inner, _| StackItem::Array(vec![inner]));
        assert!(serialize(&deep).is_err());
        let map_key = StackItem::Map(vec![(StackItem::Array(vec![]), StackItem::Any)]);
        assert!(serialize(&map_key).is_err());
        assert!(serialize(&StackItem::Pointer(1)).is_err());
    }

    fn item() -> impl Strategy<Value = StackItem> {
        let leaf = prop_oneof![
            Just(StackItem::Any),
            any::<bool>().prop_map(StackItem::Boolean),
            any::<i64>().prop_map(|n| StackItem::Integer(BigInt::from(n))),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(StackItem::ByteString),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(StackItem::Buffer),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(StackItem::Array),
                proptest::collection::vec(inner.clone(), 0..6).prop_map(StackItem::Struct),
                proptest::collection::vec(
                    (
                        any::<i64>().prop_map(|n| StackItem::Integer(BigInt::from(n))),
                        inner
                    ),
                    0..4
                )
                .prop_map(StackItem::Map),
            ]
        })
    }

    proptest! {
        #[test]
        fn serialize_then_deserialize_gives_the_item_back(item in item()) {
            let bytes = serialize(&item).expect("serializes");
            prop_assert_eq!(deserialize(&bytes).expect("reads"), item);
        }

        #[test]
        fn any_bytes_decode_or_fail_cleanly(raw in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(item) = deserialize(&raw) {
                prop_assert_eq!(deserialize(&serialize(&item).expect("re-encodes")).expect("reads"), item);
            }
        }
    }
}
