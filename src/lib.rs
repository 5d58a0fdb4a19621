//! acmebot: a certificate manager for the ACME protocol, with an append-only
//! event journal. See README.md for what it does and ARCHITECTURE.md for how
//! the code is laid out.

pub mod acme;
pub mod app;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod dns;
pub mod format;
pub mod hooks;
pub mod hpkp;
pub mod http;
pub mod journal;
pub mod output;
pub mod platform;
pub mod renew;
pub mod rollover;
pub mod time;
pub mod txn;
pub mod types;
