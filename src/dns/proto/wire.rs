//! The few pieces of the RFC 1035 §4 wire format that TSIG needs byte-exactly:
//! canonical names (RFC 4034 §6.2, as RFC 8945 §4.3.3 requires), skipping over
//! (possibly compressed, RFC 1035 §4.1.4) names, and locating the last record of
//! the additional section, where a TSIG RR must sit (RFC 8945 §5.1).

/// Header length (RFC 1035 §4.1.1).
pub const HEADER_LEN: usize = 12;

pub fn u16_at(msg: &[u8], pos: usize) -> Result<u16, String> {
    msg.get(pos..pos + 2).map(|b| u16::from_be_bytes([b[0], b[1]])).ok_or_else(|| "message truncated".to_string())
}

pub fn u32_at(msg: &[u8], pos: usize) -> Result<u32, String> {
    msg.get(pos..pos + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| "message truncated".to_string())
}

/// A domain name in canonical wire form: lower case, uncompressed, absolute.
/// `"."` and `""` are the root.
pub fn canonical_name(name: &str) -> Result<Vec<u8>, String> {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    let mut out = Vec::with_capacity(trimmed.len() + 2);
    if !trimmed.is_empty() {
        for label in trimmed.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(format!("invalid domain name {name:?}"));
            }
            out.push(label.len() as u8);
            out.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
        }
    }
    out.push(0);
    if out.len() > 255 {
        return Err(format!("domain name too long: {name:?}"));
    }
    Ok(out)
}

/// Reads a (possibly compressed) name at `pos`: the name, lower case with a
/// trailing dot, and the position just after it in the message.
pub fn read_name(msg: &[u8], mut pos: usize) -> Result<(String, usize), String> {
    let mut name = String::new();
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *msg.get(pos).ok_or("name runs past the message")? as usize;
        match len & 0xc0 {
            0x00 if len == 0 => {
                let end = end.unwrap_or(pos + 1);
                if name.is_empty() {
                    name.push('.');
                }
                return Ok((name, end));
            }
            0x00 => {
                let label = msg.get(pos + 1..pos + 1 + len).ok_or("label runs past the message")?;
                for &b in label {
                    if b == b'.' || b == b'\\' || !(0x21..0x7f).contains(&b) {
                        name.push_str(&format!("\\{b:03}"));
                    } else {
                        name.push(b.to_ascii_lowercase() as char);
                    }
                }
                name.push('.');
                pos += 1 + len;
            }
            0xc0 => {
                let target = (u16_at(msg, pos)? & 0x3fff) as usize;
                end.get_or_insert(pos + 2);
                jumps += 1;
                if jumps > 64 || target >= msg.len() {
                    return Err("bad compression pointer".into());
                }
                pos = target;
            }
            _ => return Err("unknown label type".into()),
        }
    }
}

/// One resource record's position and fixed fields (RFC 1035 §4.1.3).
#[derive(Debug, Clone)]
pub struct RawRecord {
    pub start: usize,
    pub name: String,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub rdata_start: usize,
    pub end: usize,
}

pub fn read_record(msg: &[u8], pos: usize) -> Result<RawRecord, String> {
    let (name, p) = read_name(msg, pos)?;
    let rtype = u16_at(msg, p)?;
    let class = u16_at(msg, p + 2)?;
    let ttl = u32_at(msg, p + 4)?;
    let rdlen = u16_at(msg, p + 8)? as usize;
    let rdata_start = p + 10;
    let end = rdata_start + rdlen;
    if end > msg.len() {
        return Err("record data runs past the message".into());
    }
    Ok(RawRecord { start: pos, name, rtype, class, ttl, rdata_start, end })
}

/// The last record of the message (the last of the additional section when it
/// has one), or None when the additional section is empty.
pub fn last_additional(msg: &[u8]) -> Result<Option<RawRecord>, String> {
    if msg.len() < HEADER_LEN {
        return Err("message shorter than a DNS header".into());
    }
    let qd = u16_at(msg, 4)? as usize;
    let rr = u16_at(msg, 6)? as usize + u16_at(msg, 8)? as usize;
    let ar = u16_at(msg, 10)? as usize;
    if ar == 0 {
        return Ok(None);
    }
    let mut pos = HEADER_LEN;
    for _ in 0..qd {
        pos = read_name(msg, pos)?.1 + 4;
    }
    for _ in 0..rr + ar - 1 {
        pos = read_record(msg, pos)?.end;
    }
    let last = read_record(msg, pos)?;
    if last.end != msg.len() {
        return Err("trailing bytes after the last record".into());
    }
    Ok(Some(last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names() {
        assert_eq!(canonical_name("Acme-Key.Example.").unwrap(), b"\x08acme-key\x07example\x00");
        assert_eq!(canonical_name("acme-key.example").unwrap(), b"\x08acme-key\x07example\x00");
        assert_eq!(canonical_name(".").unwrap(), b"\x00");
        assert!(canonical_name("a..b").is_err());
        assert!(canonical_name(&"x".repeat(64)).is_err());
    }

    #[test]
    fn compressed_names_are_followed() {
        // "example.test." at 12, then "www" + pointer to 12.
        let mut msg = vec![0u8; 12];
        msg.extend_from_slice(b"\x07Example\x04test\x00");
        let second = msg.len();
        msg.extend_from_slice(b"\x03www\xc0\x0c");
        assert_eq!(read_name(&msg, 12).unwrap(), ("example.test.".to_string(), second));
        assert_eq!(read_name(&msg, second).unwrap(), ("www.example.test.".to_string(), msg.len()));
        // A pointer loop is an error, not a hang.
        let looped = [0u8; 12].iter().copied().chain([0xc0, 0x0c]).collect::<Vec<u8>>();
        assert!(read_name(&looped, 12).is_err());
    }
}
