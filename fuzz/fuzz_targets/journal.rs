#![no_main]
//! Fuzz target: acmebot::fuzz::journal (see fuzz/README.md).

libfuzzer_sys::fuzz_target!(|data: &[u8]| acmebot::fuzz::journal(data));
