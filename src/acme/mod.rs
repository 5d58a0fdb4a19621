//! ACME v2 (RFC 8555): wire types and the client. The protocol flow lives in
//! `client`; it reaches the network only through [`crate::http::Transport`]
//! and the clock only through [`crate::time::Clock`].

pub mod client;
pub mod types;

pub use client::{AcmeClient, AcmeError};
pub use types::*;
