use std::io::{Cursor, Read, Write};

use super::*;

/// A server's side written in advance: what it says, and what the client sent.
struct Scripted {
    said: Cursor<Vec<u8>>,
    sent: Vec<u8>,
}

impl Scripted {
    fn new(said: &[u8]) -> Scripted {
        Scripted { said: Cursor::new(said.to_vec()), sent: Vec::new() }
    }
    /// Whether the client stopped reading right after the server's last answer.
    fn all_read(&self) -> bool {
        self.said.position() as usize == self.said.get_ref().len()
    }
}

impl Read for Scripted {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.said.read(buf)
    }
}

impl Write for Scripted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.sent.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn run(dialect: StartTls, said: &[u8]) -> (R<()>, Scripted) {
    let mut s = Scripted::new(said);
    let r = negotiate(&mut s, dialect, "xmpp.example.test");
    (r, s)
}

#[test]
fn smtp_reads_multi_line_replies_and_stops_before_tls() {
    let said = b"220-mail.example.test ESMTP\r\n220 hello\r\n250-mail.example.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n220 2.0.0 Ready to start TLS\r\n";
    let (r, s) = run(StartTls::Smtp, said);
    r.unwrap();
    assert_eq!(s.sent, b"EHLO acmebot.invalid\r\nSTARTTLS\r\n");
    assert!(s.all_read());
}

#[test]
fn smtp_without_starttls_says_what_it_offered() {
    let said = b"220 mx ESMTP\r\n250-mx\r\n250 PIPELINING\r\n";
    let e = run(StartTls::Smtp, said).0.unwrap_err();
    assert_eq!(e.0, "SMTP server does not offer STARTTLS in its EHLO answer: 250-mx | 250 PIPELINING");
    let said = b"220 mx ESMTP\r\n250-mx\r\n250 STARTTLS\r\n454 4.7.0 TLS not available\r\n";
    let e = run(StartTls::Smtp, said).0.unwrap_err();
    assert_eq!(e.0, "SMTP server answered STARTTLS with: 454 4.7.0 TLS not available");
    let e = run(StartTls::Smtp, b"554 go away\r\n").0.unwrap_err();
    assert_eq!(e.0, "SMTP server answered greeting with: 554 go away");
}

#[test]
fn ftp_pop3_imap() {
    let (r, s) = run(StartTls::Ftp, b"220-welcome\r\n220 (vsFTPd 3.0.3)\r\n234 Proceed with negotiation.\r\n");
    r.unwrap();
    assert_eq!(s.sent, b"AUTH TLS\r\n");
    let e = run(StartTls::Ftp, b"220 ftp\r\n530 Please login with USER and PASS.\r\n").0.unwrap_err();
    assert_eq!(e.0, "FTP server answered AUTH TLS with: 530 Please login with USER and PASS.");

    let (r, s) = run(StartTls::Pop3, b"+OK Dovecot ready.\r\n+OK Begin TLS negotiation now.\r\n");
    r.unwrap();
    assert_eq!(s.sent, b"STLS\r\n");
    let e = run(StartTls::Pop3, b"+OK ready\r\n-ERR Unknown command\r\n").0.unwrap_err();
    assert_eq!(e.0, "POP3 server refused STLS: -ERR Unknown command");

    let said = b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready.\r\n* CAPABILITY IMAP4rev1\r\na001 OK Begin TLS negotiation now.\r\n";
    let (r, s) = run(StartTls::Imap, said);
    r.unwrap();
    assert_eq!(s.sent, b"a001 STARTTLS\r\n");
    assert!(s.all_read());
    let e = run(StartTls::Imap, b"* OK ready\r\na001 BAD unknown\r\n").0.unwrap_err();
    assert_eq!(e.0, "IMAP server refused STARTTLS: a001 BAD unknown");
    let e = run(StartTls::Imap, b"* BYE too many\r\n").0.unwrap_err();
    assert_eq!(e.0, "IMAP server greeted with: * BYE too many");
}

#[test]
fn sieve_needs_starttls_in_its_capabilities() {
    let said = b"\"IMPLEMENTATION\" \"Dovecot Pigeonhole\"\r\n\"SIEVE\" \"fileinto\"\r\n\"STARTTLS\"\r\n\"VERSION\" \"1.0\"\r\nOK \"ready.\"\r\nOK \"Begin TLS negotiation now.\"\r\n";
    let (r, s) = run(StartTls::Sieve, said);
    r.unwrap();
    assert_eq!(s.sent, b"STARTTLS\r\n");
    let e = run(StartTls::Sieve, b"\"SIEVE\" \"x\"\r\nOK \"ready.\"\r\n").0.unwrap_err();
    assert!(e.0.starts_with("ManageSieve server does not offer STARTTLS"), "{e}");
    let e = run(StartTls::Sieve, b"\"STARTTLS\"\r\nOK\r\nNO \"no tls\"\r\n").0.unwrap_err();
    assert_eq!(e.0, "ManageSieve server refused STARTTLS: NO \"no tls\"");
}

#[test]
fn xmpp_features_and_proceed() {
    let said = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='x' from='xmpp.example.test' version='1.0'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features><proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
    let (r, s) = run(StartTls::Xmpp, said);
    r.unwrap();
    let sent = String::from_utf8(s.sent.clone()).unwrap();
    assert!(
        sent.contains("to='xmpp.example.test'")
            && sent.ends_with("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    );
    assert!(s.all_read());
    let said = b"<stream:stream><stream:features><mechanisms/></stream:features>";
    assert!(run(StartTls::Xmpp, said).0.unwrap_err().0.contains("does not offer STARTTLS"));
    let said =
        b"<stream:stream><stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>";
    assert!(run(StartTls::Xmpp, said).0.unwrap_err().0.starts_with("XMPP server closed the stream"));
    let said = b"<stream:stream><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features><failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
    assert!(run(StartTls::Xmpp, said).0.unwrap_err().0.starts_with("XMPP server refused STARTTLS"));
}

#[test]
fn ldap_extended_operation() {
    // the request is the original's bytes, byte for byte
    let request = ldap_request();
    assert_eq!(request[..9], [0x30, 0x1d, 0x02, 0x01, 0x01, 0x77, 0x18, 0x80, 0x16]);
    assert_eq!(&request[9..], b"1.3.6.1.4.1.1466.20037");
    // slapd's success: resultCode 0, empty matchedDN and message, responseName
    let mut ok = vec![0x30, 0x24, 0x02, 0x01, 0x01, 0x78, 0x1f, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00, 0x8a, 0x16];
    ok.extend_from_slice(b"1.3.6.1.4.1.1466.20037");
    let (r, s) = run(StartTls::Ldap, &ok);
    r.unwrap();
    assert!(s.all_read());
    // TLS not configured: unavailable (52) with its message
    let mut refused = vec![0x30, 0x22, 0x02, 0x01, 0x01, 0x78, 0x1d, 0x0a, 0x01, 0x34, 0x04, 0x00, 0x04, 0x16];
    refused.extend_from_slice(b"Could not initiate TLS");
    let e = run(StartTls::Ldap, &refused).0.unwrap_err();
    assert_eq!(e.0, "LDAP server refused StartTLS: resultCode 52 (unavailable): Could not initiate TLS");
    let e = run(StartTls::Ldap, &[0x30, 0x03, 0x02, 0x01, 0x01]).0.unwrap_err();
    assert!(e.0.contains("not an ExtendedResponse"), "{e}");
}

#[test]
fn a_closed_connection_is_named() {
    let e = run(StartTls::Pop3, b"").0.unwrap_err();
    assert_eq!(e.0, "POP3 server closed the connection before TLS");
}
