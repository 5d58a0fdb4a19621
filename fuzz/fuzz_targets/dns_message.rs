#![no_main]
//! Fuzz target: acmebot::fuzz::dns_message (see fuzz/README.md).

libfuzzer_sys::fuzz_target!(|data: &[u8]| acmebot::fuzz::dns_message(data));
