//! Integration tests: the real binary against real peers (see `peers`).
//! One test binary with modules keeps link time down.

mod peers;
mod support;

mod issuance;
mod journal_ops;
