//! The HTTP/1.1 the test servers speak (the project's test CA, its ACME v1
//! server, its CT log): their accept loop and its stop, one request read
//! from a connection (in TLS or not), one response written, and the reason
//! phrases of the statuses they answer with. Test code only, independent of
//! acmebot's client.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// A test server's accept loop, on a thread of its own: each connection
/// (15 s read and write timeouts) goes to `handle` on a thread of its own,
/// with the flag that says the server is stopping. Dropping it sets the
/// flag, wakes the loop and joins it.
pub struct Listening {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listening {
    pub fn start(listener: TcpListener, handle: impl Fn(TcpStream, &AtomicBool) + Send + Sync + 'static) -> Listening {
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let (handle, flag) = (Arc::new(handle), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(tcp) = conn else { continue };
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(15)));
                let _ = tcp.set_write_timeout(Some(Duration::from_secs(15)));
                let (handle, flag) = (handle.clone(), flag.clone());
                std::thread::spawn(move || handle(tcp, &flag));
            }
        });
        Listening { port, stop, thread: Some(thread) }
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A connection in TLS, as the HTTPS test servers serve it.
pub type TlsStream = rustls::StreamOwned<rustls::ServerConnection, TcpStream>;

/// Wraps `tcp` in TLS and reads its request.
pub fn tls_request(tls: Arc<rustls::ServerConfig>, tcp: TcpStream) -> io::Result<(TlsStream, Req)> {
    let conn = rustls::ServerConnection::new(tls).map_err(io::Error::other)?;
    let mut s = rustls::StreamOwned::new(conn, tcp);
    let req = read_request(&mut s)?;
    Ok((s, req))
}

/// Writes a whole response: status line, `headers`, Content-Length,
/// `Connection: close`, and the body unless it answers a HEAD.
pub fn write_response(
    s: &mut impl Write,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    head_only: bool,
) -> io::Result<()> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    if !head_only {
        bytes.extend_from_slice(body);
    }
    s.write_all(&bytes)?;
    s.flush()
}

/// A request as a test server reads it: headers lower-cased, the query cut off.
pub struct Req {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    /// The first header of that (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|h| h.0 == name).map(|h| h.1.as_str())
    }
}

/// Reads one request: the head up to 64 KiB, the body by its Content-Length
/// (at most 1 MiB; an unreadable length is an error).
pub fn read_request(s: &mut impl Read) -> io::Result<Req> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = s.read(&mut tmp)?;
        if n == 0 || buf.len() > 65536 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut rl = lines.next().unwrap_or("").split_whitespace();
    let (method, target) = (rl.next().unwrap_or("").to_string(), rl.next().unwrap_or("/").to_string());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len = match headers.iter().find(|h| h.0 == "content-length") {
        Some(h) => h.1.parse::<usize>().map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?,
        None => 0,
    };
    if len > 1 << 20 {
        return Err(io::ErrorKind::InvalidData.into());
    }
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = s.read(&mut tmp)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        body.extend_from_slice(&tmp[..n]);
    }
    body.truncate(len);
    let path = target.split('?').next().unwrap_or("/").to_string();
    Ok(Req { method, path, headers, body })
}

/// The reason phrase of a status line.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        500 => "Internal Server Error",
        _ => "Other",
    }
}
