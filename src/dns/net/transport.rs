//! Sending one DNS message and receiving its response (the thin I/O layer):
//! UDP (RFC 1035 §4.2.1) with a retransmission, falling back to TCP (§4.2.2,
//! two-byte length prefix) when the response is truncated (TC) or the request
//! is larger than 512 bytes (RFC 1035 §2.3.4).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use crate::dns::DnsError;

/// Sending one DNS message to a server and receiving its response: the one
/// boundary between the DNS code and the network (tests plug canned answers
/// in here).
pub trait Exchange: Send + Sync {
    fn exchange(&self, server: SocketAddr, msg: &[u8], timeout: Duration) -> Result<Vec<u8>, DnsError>;
}

/// The real network: UDP with a retransmission, TCP when needed.
pub struct Network;

/// The process's network.
pub static NETWORK: Network = Network;

impl Exchange for Network {
    fn exchange(&self, server: SocketAddr, msg: &[u8], timeout: Duration) -> Result<Vec<u8>, DnsError> {
        exchange(server, msg, timeout)
    }
}

/// Largest message sent over UDP without EDNS (RFC 1035 §2.3.4).
pub const UDP_LIMIT: usize = 512;

fn net(server: SocketAddr, e: impl std::fmt::Display) -> DnsError {
    DnsError::Network { server, detail: e.to_string() }
}

fn is_response_to(resp: &[u8], id: u16) -> bool {
    resp.len() >= 12 && u16::from_be_bytes([resp[0], resp[1]]) == id && resp[2] & 0x80 != 0
}

/// Sends `msg` (whose ID is its first two bytes) and returns the response bytes.
/// `timeout` bounds the whole exchange, UDP tries and TCP fallback included.
pub fn exchange(server: SocketAddr, msg: &[u8], timeout: Duration) -> Result<Vec<u8>, DnsError> {
    let deadline = Instant::now() + timeout;
    if msg.len() > UDP_LIMIT {
        return exchange_tcp(server, msg, deadline);
    }
    let resp = exchange_udp(server, msg, deadline)?;
    if resp[2] & 0x02 != 0 {
        // TC: ask again over TCP.
        return exchange_tcp(server, msg, deadline);
    }
    Ok(resp)
}

pub fn exchange_udp(server: SocketAddr, msg: &[u8], deadline: Instant) -> Result<Vec<u8>, DnsError> {
    let id = u16::from_be_bytes([msg[0], msg[1]]);
    let bind: SocketAddr =
        if server.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
    let sock = UdpSocket::bind(bind).map_err(|e| net(server, e))?;
    sock.connect(server).map_err(|e| net(server, e))?;
    let start = Instant::now();
    let total = deadline.saturating_duration_since(start);
    // Two sends: the second after a third of the time has gone without an answer.
    let mut resend_at = Some(start + total / 3);
    sock.send(msg).map_err(|e| net(server, e))?;
    let mut buf = vec![0u8; 65535];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(DnsError::Timeout { server });
        }
        let wait_until = resend_at.map_or(deadline, |r| r.min(deadline));
        sock.set_read_timeout(Some(wait_until.saturating_duration_since(now).max(Duration::from_millis(1))))
            .map_err(|e| net(server, e))?;
        match sock.recv(&mut buf) {
            Ok(n) if is_response_to(&buf[..n], id) => return Ok(buf[..n].to_vec()),
            Ok(_) => continue, // a stray datagram: keep waiting
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                if let Some(r) = resend_at {
                    if Instant::now() >= r {
                        resend_at = None;
                        sock.send(msg).map_err(|e| net(server, e))?;
                    }
                }
            }
            Err(e) => return Err(net(server, e)),
        }
    }
}

pub fn exchange_tcp(server: SocketAddr, msg: &[u8], deadline: Instant) -> Result<Vec<u8>, DnsError> {
    let id = u16::from_be_bytes([msg[0], msg[1]]);
    let left = || {
        let d = deadline.saturating_duration_since(Instant::now());
        if d.is_zero() {
            Err(DnsError::Timeout { server })
        } else {
            Ok(d)
        }
    };
    let timed_out = |e: std::io::Error| {
        if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) {
            DnsError::Timeout { server }
        } else {
            net(server, e)
        }
    };
    let mut stream = TcpStream::connect_timeout(&server, left()?).map_err(timed_out)?;
    stream.set_nodelay(true).ok();
    let len = u16::try_from(msg.len()).map_err(|_| net(server, "message longer than 65535 bytes"))?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(msg);
    stream.set_write_timeout(Some(left()?)).map_err(|e| net(server, e))?;
    stream.write_all(&framed).map_err(timed_out)?;
    loop {
        let mut len = [0u8; 2];
        stream.set_read_timeout(Some(left()?)).map_err(|e| net(server, e))?;
        stream.read_exact(&mut len).map_err(timed_out)?;
        let mut resp = vec![0u8; u16::from_be_bytes(len) as usize];
        stream.set_read_timeout(Some(left()?)).map_err(|e| net(server, e))?;
        stream.read_exact(&mut resp).map_err(timed_out)?;
        if is_response_to(&resp, id) {
            return Ok(resp);
        }
    }
}
