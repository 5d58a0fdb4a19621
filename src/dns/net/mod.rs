//! The DNS layer's I/O: one message exchanged with a server ([`transport`]),
//! and lookups through resolvers or straight at authoritative servers
//! ([`resolver`]).

pub mod resolver;
pub mod transport;
