//! Neo's binary encoding: little-endian integers, variable-length integers (`var_int`) and
//! length-prefixed byte strings (`var_bytes`).
//!
//! The reader is strict: it refuses non-canonical `var_int` encodings (so that decoding and
//! re-encoding always gives the same bytes, and thus the same hash), lengths above the caller's
//! limit, and reads past the end. It never panics on any input.

use crate::{NeoError, Result};

/// An append-only byte buffer with Neo's encodings.
#[derive(Debug, Default, Clone)]
pub struct BinaryWriter {
    buf: Vec<u8>,
}

impl BinaryWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes one byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    /// Writes a little-endian u16.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    /// Writes a little-endian u32.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    /// Writes a little-endian u64.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    /// Writes a little-endian i64.
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    /// Writes raw bytes with no length prefix.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }

    /// Writes a variable-length integer in its shortest form.
    pub fn var_int(&mut self, v: u64) -> &mut Self {
        if v < 0xfd {
            self.u8(v as u8)
        } else if v <= 0xffff {
            self.u8(0xfd).u16(v as u16)
        } else if v <= 0xffff_ffff {
            self.u8(0xfe).u32(v as u32)
        } else {
            self.u8(0xff).u64(v)
        }
    }

    /// Writes a `var_int` length followed by the bytes.
    pub fn var_bytes(&mut self, v: &[u8]) -> &mut Self {
        self.var_int(v.len() as u64).bytes(v)
    }

    /// The bytes written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// The bytes written so far, borrowed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }
}

/// The encoded size of a `var_int`.
pub fn var_int_size(v: u64) -> usize {
    match v {
        0..0xfd => 1,
        0xfd..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// A cursor over bytes with Neo's decodings.
#[derive(Debug, Clone)]
pub struct BinaryReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BinaryReader<'a> {
    /// A reader at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// Current offset from the start.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Fails unless every byte has been read.
    pub fn finish(&self) -> Result<()> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(NeoError::TrailingBytes(n)),
        }
    }

    /// Reads `n` raw bytes.
    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(NeoError::UnexpectedEnd(what));
        }
        let out = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Reads a fixed-size array.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N, what)?);
        Ok(out)
    }

    /// Reads one byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    /// Reads a little-endian u16.
    pub fn u16(&mut self, what: &'static str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    /// Reads a little-endian u32.
    pub fn u32(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    /// Reads a little-endian u64.
    pub fn u64(&mut self, what: &'static str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// Reads a little-endian i64.
    pub fn i64(&mut self, what: &'static str) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array(what)?))
    }

    /// Reads a boolean byte: 0 or 1, anything else is invalid (as in Neo).
    pub fn bool(&mut self, what: &'static str) -> Result<bool> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(NeoError::invalid(
                what,
                format!("boolean byte 0x{other:02x}"),
            )),
        }
    }

    /// Reads a canonical `var_int` no greater than `max`.
    pub fn var_int(&mut self, max: u64, what: &'static str) -> Result<u64> {
        let first = self.u8(what)?;
        let (value, min) = match first {
            0xfd => (self.u16(what)? as u64, 0xfd),
            0xfe => (self.u32(what)? as u64, 0x1_0000),
            0xff => (self.u64(what)?, 0x1_0000_0000),
            b => (b as u64, 0),
        };
        if value < min {
            return Err(NeoError::invalid(
                what,
                "non-canonical variable-length integer",
            ));
        }
        if value > max {
            return Err(NeoError::TooLarge {
                what,
                max,
                actual: value,
            });
        }
        Ok(value)
    }

    /// Reads a `var_int` length (at most `max`) and that many bytes.
    pub fn var_bytes(&mut self, max: usize, what: &'static str) -> Result<&'a [u8]> {
        let len = self.var_int(max as u64, what)? as usize;
        self.bytes(len, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn var_int_boundaries() {
        for (value, encoded) in [
            (0u64, "00"),
            (0xfc, "fc"),
            (0xfd, "fdfd00"),
            (0xffff, "fdffff"),
            (0x1_0000, "fe00000100"),
            (0xffff_ffff, "feffffffff"),
            (0x1_0000_0000, "ff0000000001000000"),
        ] {
            let mut w = BinaryWriter::new();
            w.var_int(value);
            assert_eq!(hex::encode(w.as_bytes()), encoded);
            assert_eq!(var_int_size(value), encoded.len() / 2);
            let bytes = hex::decode(encoded).expect("hex");
            let mut r = BinaryReader::new(&bytes);
            assert_eq!(r.var_int(u64::MAX, "v").expect("reads"), value);
            r.finish().expect("consumed");
        }
    }

    #[test]
    fn non_canonical_and_oversized_var_ints_are_refused() {
        let bytes = hex::decode("fd0100").expect("hex");
        assert!(matches!(
            BinaryReader::new(&bytes).var_int(u64::MAX, "v"),
            Err(NeoError::Invalid { .. })
        ));
        let bytes = hex::decode("fe00010000").expect("hex");
        assert!(BinaryReader::new(&bytes).var_int(u64::MAX, "v").is_err());
        assert_eq!(
            BinaryReader::new(&[0x11]).var_int(16, "count"),
            Err(NeoError::TooLarge {
                what: "count",
                max: 16,
                actual: 17
            })
        );
        assert_eq!(
            BinaryReader::new(&[0x05, 1, 2]).var_bytes(100, "data"),
            Err(NeoError::UnexpectedEnd("data"))
        );
        assert!(BinaryReader::new(&[2]).bool("flag").is_err());
    }

    proptest! {
        #[test]
        fn var_bytes_round_trip(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut w = BinaryWriter::new();
            w.var_bytes(&data);
            let encoded = w.into_bytes();
            let mut r = BinaryReader::new(&encoded);
            prop_assert_eq!(r.var_bytes(1000, "d").expect("reads"), &data[..]);
            prop_assert!(r.finish().is_ok());
        }

        #[test]
        fn var_int_round_trip(v in any::<u64>()) {
            let mut w = BinaryWriter::new();
            w.var_int(v);
            let encoded = w.into_bytes();
            prop_assert_eq!(BinaryReader::new(&encoded).var_int(u64::MAX, "v").expect("reads"), v);
        }
    }
}
