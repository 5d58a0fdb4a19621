//! ACME v2 (RFC 8555), and v1 (draft-ietf-acme-acme-02, `v1`) behind the
//! same client: wire types and the client. The protocol flow lives in
//! `client`; it reaches the network only through [`crate::http::Transport`]
//! and the clock only through [`crate::time::Clock`].

pub mod client;
pub mod types;
mod v1;

pub use client::{AcmeClient, AcmeError, AcmeVersion};
pub use types::*;
