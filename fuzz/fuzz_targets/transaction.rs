//! Transaction decoding: never panics; whatever decodes re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use neosl_neo::tx::Transaction;

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = Transaction::from_bytes(data) {
        let again = tx.to_bytes().expect("a decoded transaction re-encodes");
        assert_eq!(again, data, "decoding is canonical");
        tx.hash().expect("a decoded transaction hashes");
    }
    if let Ok(tx) = Transaction::from_unsigned_bytes(data) {
        assert_eq!(tx.unsigned_bytes().expect("re-encodes"), data);
    }
});
