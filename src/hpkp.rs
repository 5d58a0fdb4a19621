//! HTTP Public Key Pinning header files (RFC 7469), as the original writes
//! them: one file per configured server (`hpkp_headers`), each the server's
//! pattern with `{header}` filled in. The header value has its quotes
//! backslash-escaped, since every pattern puts it inside a quoted string.
//! Pure: the digests come in, the text goes out.

use base64::Engine;

/// One pin: base64 of the SHA-256 digest of a key's SubjectPublicKeyInfo.
pub fn pin(spki_sha256: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(spki_sha256)
}

/// The header value:
/// `pin-sha256=\"A\"; pin-sha256=\"B\"; max-age=N; includeSubdomains; report-uri=\"U\";`
/// (`max-age` in seconds; the last two parts only when asked for).
pub fn header(pins: &[String], days: u32, include_subdomains: bool, report_uri: Option<&str>) -> String {
    let pins: Vec<String> = pins.iter().map(|p| format!(r#"pin-sha256=\"{p}\""#)).collect();
    let sub_domains = if include_subdomains { " includeSubdomains;" } else { "" };
    let report = report_uri.map(|u| format!(r#" report-uri=\"{u}\";"#)).unwrap_or_default();
    format!("{}; max-age={};{sub_domains}{report}", pins.join("; "), u64::from(days) * 86_400)
}

/// Lower-case or upper-case hex to bytes; `None` for anything else.
pub fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_the_originals_layout() {
        let pins = vec![pin(&[0u8; 32]), pin(&[0xffu8; 32])];
        assert_eq!(pins[0], "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        assert_eq!(
            header(&pins, 60, true, None),
            r#"pin-sha256=\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"; pin-sha256=\"//////////////////////////////////////////8=\"; max-age=5184000; includeSubdomains;"#
        );
        assert_eq!(
            header(&pins[..1], 1, false, Some("https://example.com/hpkp")),
            r#"pin-sha256=\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"; max-age=86400; report-uri=\"https://example.com/hpkp\";"#
        );
    }

    #[test]
    fn default_patterns_give_the_apache_and_nginx_lines() {
        let h = header(&[pin(&[1u8; 32]), pin(&[2u8; 32])], 60, true, None);
        let apache =
            crate::format::render("Header always set Public-Key-Pins \"{header}\"\n", &[("header", &h)]).unwrap();
        assert_eq!(apache, format!("Header always set Public-Key-Pins \"{h}\"\n"));
        assert!(apache.starts_with(r#"Header always set Public-Key-Pins "pin-sha256=\"AQEB"#), "{apache}");
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(from_hex("00ff10Ab"), Some(vec![0, 255, 16, 171]));
        assert_eq!(from_hex("0"), None);
        assert_eq!(from_hex("zz"), None);
        assert_eq!(crate::types::hex(&from_hex(&"ab".repeat(32)).unwrap()), "ab".repeat(32));
    }
}
