#![no_main]
//! Fuzz target: acmebot::fuzz::stapled (see fuzz/README.md).

libfuzzer_sys::fuzz_target!(|data: &[u8]| acmebot::fuzz::stapled(data));
