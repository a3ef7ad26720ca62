//! Every exchange adapter's parser, on any bytes with any status: never panics, and a price it
//! accepts is positive.
#![no_main]

use libfuzzer_sys::fuzz_target;
use neosl_datafeeds::sources::{Exchange, parse_fixed, rfc3339_ms};

fuzz_target!(|data: &[u8]| {
    let status = data.first().map_or(200, |b| if b % 4 == 0 { 400 } else { 200 });
    for exchange in Exchange::ALL {
        if let Ok(quote) = exchange.parse(status, data, "BTCUSDT") {
            assert!(quote.price > 0);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(v) = parse_fixed(text, 8) {
            assert!(v > 0);
        }
        let _ = rfc3339_ms(text);
    }
});
