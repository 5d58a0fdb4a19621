//! Integration tests: the real binary against real peers (see `peers`).
//! One test binary with modules keeps link time down.

mod peers;
mod support;

mod acme1;
mod acme_v1;
mod acme_v2;
mod appliance;
mod ari;
mod attacks;
mod caa;
#[cfg(feature = "fault-injection")]
mod crash;
mod ct_log;
mod dns;
mod dns01;
mod encrypted_e2e;
mod encrypted_keys;
mod fault_proxy;
mod hpkp;
mod http1;
mod ip_identifiers;
mod issuance;
mod journal_ops;
mod kill;
#[cfg(feature = "test-clock")]
mod later;
#[cfg(feature = "test-clock")]
mod lifetimes;
mod migration;
mod ocsp;
mod ocsp_responder;
mod ocsp_stapling;
mod original;
mod params;
mod params_e2e;
mod rollover;
mod sct;
mod sct_stapling;
mod testca;
mod tls_servers;
mod tls_servers_check;
mod tls_servers_more;
mod verify;
mod verify_servers;
