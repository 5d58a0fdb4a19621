#![no_main]
//! Fuzz target: acmebot::fuzz::acme_response (see fuzz/README.md).

libfuzzer_sys::fuzz_target!(|data: &[u8]| acmebot::fuzz::acme_response(data));
