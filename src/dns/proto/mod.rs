//! The DNS wire protocol as pure functions: names and records, UPDATE
//! messages (RFC 2136), TSIG (RFC 8945, with HMAC-MD5 of its own), queries
//! and answers, and the key files of `dnssec-keygen`, `tsig-keygen` and knot.

pub mod keyfile;
pub mod md5;
pub mod query;
pub mod tsig;
pub mod update;
pub mod wire;
