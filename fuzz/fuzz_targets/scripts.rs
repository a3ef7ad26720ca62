//! Verification-script recognition: never panics; a recognised script rebuilds to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use neosl_neo::script::{
    multisig_verification_script, parse_multisig, parse_single_sig, verification_script,
};

fuzz_target!(|data: &[u8]| {
    if let Some(key) = parse_single_sig(data) {
        assert_eq!(verification_script(&key), data);
    }
    if let Some((m, keys)) = parse_multisig(data) {
        // Our builder sorts keys; a script with unsorted keys is still recognised.
        let rebuilt = multisig_verification_script(m, &keys);
        assert!(rebuilt.is_ok() || keys.windows(2).any(|w| w[0] == w[1]));
    }
});
