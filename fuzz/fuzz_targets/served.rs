#![no_main]
//! Fuzz target: acmebot::fuzz::served (see fuzz/README.md).

libfuzzer_sys::fuzz_target!(|data: &[u8]| acmebot::fuzz::served(data));
