#![no_main]
//! Fuzz target: acmebot::fuzz::pem_der (see fuzz/README.md).

libfuzzer_sys::fuzz_target!(|data: &[u8]| acmebot::fuzz::pem_der(data));
