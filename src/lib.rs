//! acmebot: a certificate manager for the ACME protocol, with an append-only
//! event journal. See README.md for what it does and ARCHITECTURE.md for how
//! the code is laid out.
//!
//! The library's surface is the program ([`app::main`]), its command line
//! ([`cli`]), and what the integration tests use to check the results
//! independently of the run: [`crypto`] (keys and certificates), [`dns`]
//! (driving bind9 and knot), [`http`] (pebble's management API), [`time`].

pub mod app;
pub mod cli;
pub mod crypto;
pub mod ct;
pub mod dns;
pub mod http;
pub mod ocsp;
pub mod time;

mod acme;
mod config;
mod format;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
mod hooks;
mod hpkp;
mod journal;
mod output;
mod platform;
mod psl;
mod renew;
mod rollover;
mod safe_fs;
#[cfg(test)]
mod test_support;
mod text;
mod txn;
mod types;
mod verify;
