//! RFC 2136 dynamic UPDATE messages (pure): building them with hickory-proto
//! and judging the response. Sending is [`crate::dns::transport`]'s job.

use super::tsig::{self, RequestSignature, TsigFailure, TsigKey};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
use hickory_proto::rr::rdata::{TLSA, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record as HRecord, RecordType};

/// The data of a record acmebot adds or removes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RecordData {
    /// One TXT value (split into 255-byte character-strings when longer).
    Txt(String),
    /// TLSA (RFC 6698 §2.1): usage, selector, matching type, association data.
    Tlsa { usage: u8, selector: u8, matching: u8, data: Vec<u8> },
}

impl RecordData {
    pub fn record_type(&self) -> RecordType {
        match self {
            RecordData::Txt(_) => RecordType::TXT,
            RecordData::Tlsa { .. } => RecordType::TLSA,
        }
    }

    fn to_rdata(&self) -> RData {
        match self {
            RecordData::Txt(value) => {
                let chunks: Vec<&[u8]> =
                    if value.is_empty() { vec![&[][..]] } else { value.as_bytes().chunks(255).collect() };
                RData::TXT(TXT::from_bytes(chunks))
            }
            RecordData::Tlsa { usage, selector, matching, data } => RData::TLSA(TLSA::new(
                CertUsage::from(*usage),
                Selector::from(*selector),
                Matching::from(*matching),
                data.clone(),
            )),
        }
    }
}

/// A record: absolute owner name (a trailing dot is added when missing), TTL, data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Record {
    pub name: String,
    pub ttl: u32,
    pub data: RecordData,
}

impl Record {
    pub fn txt(name: &str, ttl: u32, value: &str) -> Record {
        Record { name: name.to_string(), ttl, data: RecordData::Txt(value.to_string()) }
    }

    pub fn tlsa(name: &str, ttl: u32, usage: u8, selector: u8, matching: u8, data: Vec<u8>) -> Record {
        Record { name: name.to_string(), ttl, data: RecordData::Tlsa { usage, selector, matching, data } }
    }
}

/// One entry of the update section (RFC 2136 §2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// §2.5.1 Add To An RRset: CLASS = zone class, the record's TTL and RDATA.
    Add(Record),
    /// §2.5.4 Delete An RR From An RRset: CLASS NONE, TTL 0, the RDATA to match.
    Delete(Record),
    /// §2.5.2 Delete An RRset: CLASS ANY, TTL 0, RDLENGTH 0.
    DeleteRrset { name: String, rtype: RecordType },
}

pub fn name(s: &str) -> Result<Name, String> {
    let abs = if s.ends_with('.') { s.to_string() } else { format!("{s}.") };
    Name::from_ascii(&abs).map_err(|e| format!("invalid domain name {s:?}: {e}"))
}

/// Builds an UPDATE (RFC 2136 §2): header with OPCODE UPDATE, the zone section
/// (§2.3: one ZNAME, ZTYPE SOA, ZCLASS IN), no prerequisites (§2.4), the
/// update section (§2.5) with `changes` in order, nothing additional.
pub fn build_update(id: u16, zone: &str, changes: &[Change]) -> Result<Vec<u8>, String> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Update);
    let mut zone_query = Query::query(name(zone)?, RecordType::SOA);
    zone_query.set_query_class(DNSClass::IN);
    msg.add_query(zone_query);
    for change in changes {
        let rr = match change {
            Change::Add(r) => HRecord::from_rdata(name(&r.name)?, r.ttl, r.data.to_rdata()),
            Change::Delete(r) => {
                let mut rr = HRecord::from_rdata(name(&r.name)?, 0, r.data.to_rdata());
                rr.dns_class = DNSClass::NONE;
                rr
            }
            Change::DeleteRrset { name: n, rtype } => {
                let mut rr = HRecord::update0(name(n)?, 0, *rtype);
                rr.dns_class = DNSClass::ANY;
                rr
            }
        };
        msg.add_authority(rr);
    }
    msg.to_vec().map_err(|e| format!("cannot encode the update: {e}"))
}

/// What is wrong with an update's response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseProblem {
    /// Not a response to this request (ID, QR, opcode) or unparsable.
    Malformed(String),
    /// The server answered with RCODE ≠ NOERROR; the TSIG error when it sent one.
    Rcode { rcode: u16, tsig_error: Option<u16> },
    /// The request was signed and the response's TSIG is missing or wrong.
    Tsig { rcode: u16, failure: TsigFailure },
}

/// Judges an update response (RFC 2136 §3.8 / §2.2 RCODEs; RFC 8945 §5.3 TSIG).
pub fn check_response(
    id: u16,
    response: &[u8],
    signed: Option<(&TsigKey, &RequestSignature)>,
    now: i64,
) -> Result<(), ResponseProblem> {
    if response.len() < 12 {
        return Err(ResponseProblem::Malformed("shorter than a DNS header".into()));
    }
    if u16::from_be_bytes([response[0], response[1]]) != id || response[2] & 0x80 == 0 || (response[2] >> 3) & 0x0f != 5
    {
        return Err(ResponseProblem::Malformed("not a response to this update (ID, QR or opcode differ)".into()));
    }
    let rcode = (response[3] & 0x0f) as u16;
    if let Some((key, sig)) = signed {
        match tsig::verify_response(response, key, sig, now) {
            Ok(_) => {}
            Err(TsigFailure::ServerError { error, .. }) => {
                return Err(ResponseProblem::Rcode { rcode, tsig_error: Some(error) })
            }
            Err(failure) => return Err(ResponseProblem::Tsig { rcode, failure }),
        }
    } else if let Ok(Some(t)) = tsig::find_tsig(response) {
        if t.error != 0 {
            return Err(ResponseProblem::Rcode { rcode, tsig_error: Some(t.error) });
        }
    }
    if rcode != 0 {
        return Err(ResponseProblem::Rcode { rcode, tsig_error: None });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_message_layout() {
        let changes = vec![
            Change::Delete(Record::txt("_acme-challenge.example.test", 300, "old")),
            Change::Add(Record::txt("_acme-challenge.example.test.", 300, "abc")),
            Change::Add(Record::tlsa("_443._tcp.example.test", 60, 3, 1, 1, vec![0xab; 32])),
            Change::DeleteRrset { name: "x.example.test".into(), rtype: RecordType::TLSA },
        ];
        let wire = build_update(0x4242, "Example.Test", &changes).unwrap();
        // Header: ID, opcode 5, ZOCOUNT 1, PRCOUNT 0, UPCOUNT 4, ADCOUNT 0 (RFC 2136 §2.2).
        assert_eq!(&wire[..12], &[0x42, 0x42, 5 << 3, 0, 0, 1, 0, 0, 0, 4, 0, 0]);
        let m = Message::from_vec(&wire).unwrap();
        assert_eq!(m.queries[0].query_type(), RecordType::SOA);
        assert_eq!(m.queries[0].name().to_ascii(), "Example.Test.");
        let up = &m.authorities;
        assert_eq!((up[0].dns_class, up[0].ttl), (DNSClass::NONE, 0));
        assert_eq!((up[1].dns_class, up[1].ttl), (DNSClass::IN, 300));
        assert!(matches!(&up[1].data, RData::TXT(t) if &*t.txt_data[0] == b"abc"));
        assert!(matches!(&up[2].data, RData::TLSA(t) if t.cert_data == vec![0xab; 32] && u8::from(t.cert_usage) == 3));
        assert_eq!((up[3].dns_class, up[3].record_type()), (DNSClass::ANY, RecordType::TLSA));
        // Long TXT values are split into 255-byte strings.
        let long = "x".repeat(300);
        let wire = build_update(1, "example.test", &[Change::Add(Record::txt("a.example.test", 1, &long))]).unwrap();
        let m = Message::from_vec(&wire).unwrap();
        assert!(matches!(&m.authorities[0].data, RData::TXT(t) if t.txt_data.len() == 2 && t.txt_data[0].len() == 255));
    }

    #[test]
    fn response_judgement() {
        let mut resp = vec![0x42, 0x42, 0x80 | (5 << 3), 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(check_response(0x4242, &resp, None, 0), Ok(()));
        assert!(matches!(check_response(0x4243, &resp, None, 0), Err(ResponseProblem::Malformed(_))));
        resp[3] = 5;
        assert_eq!(check_response(0x4242, &resp, None, 0), Err(ResponseProblem::Rcode { rcode: 5, tsig_error: None }));
        let key = TsigKey::new("k", tsig::Algorithm::HmacSha256, vec![1; 32]);
        let sig = RequestSignature {
            key_name: "k".into(),
            algorithm: tsig::Algorithm::HmacSha256,
            mac: vec![0; 32],
            time_signed: 0,
        };
        assert_eq!(
            check_response(0x4242, &resp, Some((&key, &sig)), 0),
            Err(ResponseProblem::Tsig { rcode: 5, failure: TsigFailure::Missing })
        );
    }
}
