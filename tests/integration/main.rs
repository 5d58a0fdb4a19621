//! Integration tests: the real binary against real peers (see `peers`).
//! One test binary with modules keeps link time down.

mod peers;
mod support;

mod acme_v2;
mod ari;
mod attacks;
#[cfg(feature = "fault-injection")]
mod crash;
mod dns;
mod dns01;
mod hpkp;
mod issuance;
mod journal_ops;
#[cfg(feature = "test-clock")]
mod later;
mod rollover;
mod testca;
