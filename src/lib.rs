//! acmebot: a certificate manager for the ACME protocol, with an append-only
//! event journal. See README.md for what it does and how to run it.

pub mod acme;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod dns;
pub mod events;
pub mod format;
pub mod hooks;
pub mod hpkp;
pub mod http;
pub mod journal;
pub mod output;
pub mod renew;
pub mod rollover;
pub mod run;
pub mod state;
pub mod time;
pub mod txn;
pub mod types;
