//! The plain-text exchanges that turn a connection into a TLS one: SMTP
//! (RFC 3207), POP3 (RFC 2595 `STLS`), IMAP (RFC 3501), ManageSieve
//! (RFC 5804), FTP (RFC 4217 `AUTH TLS`), XMPP (RFC 6120 §5) and LDAP's
//! StartTLS extended operation (RFC 4511 §4.14). Each reads the server's
//! answers whole (multi-line replies, capability lists) and says exactly what
//! the server answered when it refuses.
//!
//! Reads go one byte at a time: nothing past the server's last pre-TLS answer
//! may be consumed, the TLS handshake reads the same socket next.

use std::io::{Read, Write};

use crate::config::StartTls;

/// The longest answer read before TLS (a capability list, XMPP features).
const MAX_ANSWER: usize = 64 * 1024;

/// What went wrong before TLS: the dialect and what the server said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartTlsError(pub String);

impl std::fmt::Display for StartTlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type R<T> = Result<T, StartTlsError>;

/// The dialect's name as a user reads it in a report.
pub fn name(dialect: StartTls) -> &'static str {
    match dialect {
        StartTls::Smtp => "SMTP",
        StartTls::Pop3 => "POP3",
        StartTls::Imap => "IMAP",
        StartTls::Sieve => "ManageSieve",
        StartTls::Ftp => "FTP",
        StartTls::Xmpp => "XMPP",
        StartTls::Ldap => "LDAP",
    }
}

/// Speaks `dialect` on `stream` up to the point where the server expects a
/// TLS ClientHello. `host` is the name the XMPP stream is addressed to.
pub fn negotiate<S: Read + Write>(stream: &mut S, dialect: StartTls, host: &str) -> R<()> {
    let mut c = Conv { stream, dialect };
    match dialect {
        StartTls::Smtp => {
            c.reply_code("greeting", 220)?;
            c.send(b"EHLO acmebot.invalid\r\n")?;
            let ehlo = c.reply_code("EHLO", 250)?;
            if !ehlo.iter().any(|l| l.get(4..).is_some_and(|k| k.trim().eq_ignore_ascii_case("STARTTLS"))) {
                return Err(c.refused("does not offer STARTTLS in its EHLO answer", &ehlo.join(" | ")));
            }
            c.send(b"STARTTLS\r\n")?;
            c.reply_code("STARTTLS", 220)?;
        }
        StartTls::Ftp => {
            c.reply_code("greeting", 220)?;
            c.send(b"AUTH TLS\r\n")?;
            c.reply_code("AUTH TLS", 234)?;
        }
        StartTls::Pop3 => {
            let greeting = c.line()?;
            if !greeting.starts_with("+OK") {
                return Err(c.refused("greeted with", &greeting));
            }
            c.send(b"STLS\r\n")?;
            let answer = c.line()?;
            if !answer.starts_with("+OK") {
                return Err(c.refused("refused STLS", &answer));
            }
        }
        StartTls::Imap => {
            let greeting = c.line()?;
            if !(greeting.starts_with("* OK") || greeting.starts_with("* PREAUTH")) {
                return Err(c.refused("greeted with", &greeting));
            }
            c.send(b"a001 STARTTLS\r\n")?;
            loop {
                let line = c.line()?;
                if let Some(status) = line.strip_prefix("a001 ") {
                    if !status.starts_with("OK") {
                        return Err(c.refused("refused STARTTLS", &line));
                    }
                    break;
                }
            }
        }
        StartTls::Sieve => {
            // capabilities, then OK
            let mut offered = false;
            loop {
                let line = c.line()?;
                if line.to_ascii_uppercase().starts_with("\"STARTTLS\"") {
                    offered = true;
                }
                if sieve_status(&line).is_some() {
                    if sieve_status(&line) != Some(true) {
                        return Err(c.refused("greeted with", &line));
                    }
                    break;
                }
            }
            if !offered {
                return Err(c.refused("does not offer STARTTLS", "its capabilities have no \"STARTTLS\""));
            }
            c.send(b"STARTTLS\r\n")?;
            loop {
                let line = c.line()?;
                match sieve_status(&line) {
                    Some(true) => break,
                    Some(false) => return Err(c.refused("refused STARTTLS", &line)),
                    None => {}
                }
            }
        }
        StartTls::Xmpp => xmpp(&mut c, host)?,
        StartTls::Ldap => ldap(&mut c)?,
    }
    Ok(())
}

/// Whether a ManageSieve line is a final status: OK (true), NO or BYE (false).
fn sieve_status(line: &str) -> Option<bool> {
    let word = line.split([' ', '(']).next().unwrap_or("").to_ascii_uppercase();
    match word.as_str() {
        "OK" => Some(true),
        "NO" | "BYE" => Some(false),
        _ => None,
    }
}

const XMPP_TLS_NS: &str = "urn:ietf:params:xml:ns:xmpp-tls";

fn xmpp<S: Read + Write>(c: &mut Conv<'_, S>, host: &str) -> R<()> {
    let header = format!(
        "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' \
         xmlns='jabber:client' to='{}' version='1.0'>",
        xml_escape(host)
    );
    c.send(header.as_bytes())?;
    let features = c.until(&["</stream:features>", "</stream:stream>", "<stream:error"])?;
    if features.contains("<stream:error") || features.contains("</stream:stream>") {
        return Err(c.refused("closed the stream", &features));
    }
    if !features.contains(XMPP_TLS_NS) {
        return Err(c.refused("does not offer STARTTLS in its stream features", &features));
    }
    c.send(format!("<starttls xmlns='{XMPP_TLS_NS}'/>").as_bytes())?;
    let answer = c.until(&["<proceed", "<failure", "</stream:stream>"])?;
    if !answer.contains("<proceed") {
        return Err(c.refused("refused STARTTLS", &answer));
    }
    // the rest of the <proceed .../> element
    c.until(&[">"])?;
    Ok(())
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('\'', "&apos;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The LDAP StartTLS OID (RFC 4511 §4.14.1).
const LDAP_STARTTLS_OID: &[u8] = b"1.3.6.1.4.1.1466.20037";

/// An LDAPMessage { messageID 1, ExtendedRequest { requestName StartTLS } }.
fn ldap_request() -> Vec<u8> {
    let mut ext = vec![0x80, LDAP_STARTTLS_OID.len() as u8];
    ext.extend_from_slice(LDAP_STARTTLS_OID);
    let mut op = vec![0x77, ext.len() as u8];
    op.extend(ext);
    let mut body = vec![0x02, 0x01, 0x01];
    body.extend(op);
    let mut msg = vec![0x30, body.len() as u8];
    msg.extend(body);
    msg
}

fn ldap<S: Read + Write>(c: &mut Conv<'_, S>) -> R<()> {
    c.send(&ldap_request())?;
    let message = c.ber_element()?;
    let (code, text) = ldap_result(&message)
        .ok_or_else(|| c.refused("answered StartTLS with something that is not an ExtendedResponse", &hex(&message)))?;
    if code != 0 {
        let detail = format!(
            "resultCode {code} ({}){}",
            ldap_code_name(code),
            text.map(|t| format!(": {t}")).unwrap_or_default()
        );
        return Err(c.refused("refused StartTLS", &detail));
    }
    Ok(())
}

/// The resultCode and diagnosticMessage of an LDAPMessage carrying an
/// ExtendedResponse ([APPLICATION 24]).
fn ldap_result(message: &[u8]) -> Option<(u32, Option<String>)> {
    let (tag, body, _) = ber(message)?;
    if tag != 0x30 {
        return None;
    }
    let (id_tag, _, rest) = ber(body)?;
    if id_tag != 0x02 {
        return None;
    }
    let (op_tag, op, _) = ber(rest)?;
    if op_tag != 0x78 {
        return None;
    }
    let (code_tag, code, rest) = ber(op)?;
    if code_tag != 0x0a || code.is_empty() || code.len() > 4 {
        return None;
    }
    let code = code.iter().fold(0u32, |a, &b| (a << 8) | u32::from(b));
    let (_, _matched, rest) = ber(rest)?;
    let text = ber(rest).map(|(_, t, _)| String::from_utf8_lossy(t).into_owned()).filter(|t| !t.is_empty());
    Some((code, text))
}

/// One BER element: (tag, contents, what follows). Definite lengths only.
fn ber(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        (rest[..n].iter().fold(0usize, |a, &b| (a << 8) | usize::from(b)), &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

fn ldap_code_name(code: u32) -> &'static str {
    match code {
        1 => "operationsError",
        2 => "protocolError",
        52 => "unavailable",
        53 => "unwillingToPerform",
        80 => "other",
        _ => "see RFC 4511 §4.1.9",
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().take(64).map(|b| format!("{b:02x}")).collect()
}

/// One conversation: the stream and the dialect named in errors.
struct Conv<'s, S> {
    stream: &'s mut S,
    dialect: StartTls,
}

impl<S: Read + Write> Conv<'_, S> {
    fn io(&self, e: std::io::Error) -> StartTlsError {
        StartTlsError(format!("{} STARTTLS: {e}", name(self.dialect)))
    }

    fn refused(&self, what: &str, said: &str) -> StartTlsError {
        let said = crate::text::printable(said, crate::text::DETAIL);
        StartTlsError(format!("{} server {what}: {said}", name(self.dialect)))
    }

    fn send(&mut self, bytes: &[u8]) -> R<()> {
        self.stream.write_all(bytes).and_then(|_| self.stream.flush()).map_err(|e| self.io(e))
    }

    fn byte(&mut self) -> R<u8> {
        let mut b = [0u8; 1];
        loop {
            match self.stream.read(&mut b) {
                Ok(0) => {
                    let what = format!("{} server closed the connection before TLS", name(self.dialect));
                    return Err(StartTlsError(what));
                }
                Ok(_) => return Ok(b[0]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io(e)),
            }
        }
    }

    /// One line, without its CR LF.
    fn line(&mut self) -> R<String> {
        let mut line = Vec::new();
        loop {
            match self.byte()? {
                b'\n' => break,
                b => line.push(b),
            }
            if line.len() > MAX_ANSWER {
                return Err(self.refused("sent a line that does not end", ""));
            }
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok(String::from_utf8_lossy(&line).into_owned())
    }

    /// A (multi-line) numbered reply as SMTP and FTP send them; its lines if
    /// its code is `want`.
    fn reply_code(&mut self, what: &str, want: u16) -> R<Vec<String>> {
        let mut lines = Vec::new();
        loop {
            let line = self.line()?;
            let code = line.get(..3).and_then(|c| c.parse::<u16>().ok());
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if code.is_some() && last {
                if code != Some(want) {
                    let said = lines.last().cloned().unwrap_or_default();
                    return Err(self.refused(&format!("answered {what} with"), &said));
                }
                return Ok(lines);
            }
            if lines.len() > 1000 {
                return Err(self.refused(&format!("sent no end to its {what} reply"), ""));
            }
        }
    }

    /// Text up to and including the first of `ends`.
    fn until(&mut self, ends: &[&str]) -> R<String> {
        let mut text = Vec::new();
        loop {
            text.push(self.byte()?);
            if ends.iter().any(|e| text.ends_with(e.as_bytes())) {
                return Ok(String::from_utf8_lossy(&text).into_owned());
            }
            if text.len() > MAX_ANSWER {
                let said = String::from_utf8_lossy(&text[..200]).into_owned();
                return Err(self.refused("sent too much before TLS", &said));
            }
        }
    }

    /// One whole BER element (an LDAPMessage).
    fn ber_element(&mut self) -> R<Vec<u8>> {
        let mut out = vec![self.byte()?, self.byte()?];
        let len = if out[1] < 0x80 {
            usize::from(out[1])
        } else {
            let n = usize::from(out[1] & 0x7f);
            if n == 0 || n > 3 {
                return Err(self.refused("answered with an unreadable message", &hex(&out)));
            }
            let mut len = 0usize;
            for _ in 0..n {
                let b = self.byte()?;
                out.push(b);
                len = (len << 8) | usize::from(b);
            }
            len
        };
        if len > MAX_ANSWER {
            return Err(self.refused("answered with a message too long", &len.to_string()));
        }
        for _ in 0..len {
            let b = self.byte()?;
            out.push(b);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
