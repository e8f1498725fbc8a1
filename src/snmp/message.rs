//! SNMP messages: v1/v2c community messages and v3 messages (RFC 3412), with
//! their PDUs (RFC 3416, and the v1 Trap-PDU of RFC 1157).
use super::ber::{self, Oid, Reader, Value, Writer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PduType {
    Get = 0xa0,
    GetNext = 0xa1,
    Response = 0xa2,
    Set = 0xa3,
    TrapV1 = 0xa4,
    GetBulk = 0xa5,
    Inform = 0xa6,
    TrapV2 = 0xa7,
    Report = 0xa8,
}

impl PduType {
    fn from_tag(t: u8) -> Option<PduType> {
        Some(match t {
            0xa0 => PduType::Get,
            0xa1 => PduType::GetNext,
            0xa2 => PduType::Response,
            0xa3 => PduType::Set,
            0xa4 => PduType::TrapV1,
            0xa5 => PduType::GetBulk,
            0xa6 => PduType::Inform,
            0xa7 => PduType::TrapV2,
            0xa8 => PduType::Report,
            _ => return None,
        })
    }

    /// The confirmed class (RFC 3411 2.8): a response is expected.
    pub fn confirmed(self) -> bool {
        matches!(
            self,
            PduType::Get | PduType::GetNext | PduType::GetBulk | PduType::Set | PduType::Inform
        )
    }
}

/// RFC 3416 error-status values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorStatus {
    NoError = 0,
    TooBig = 1,
    NoSuchName = 2,
    BadValue = 3,
    ReadOnly = 4,
    GenErr = 5,
    NoAccess = 6,
    WrongType = 7,
    WrongLength = 8,
    WrongEncoding = 9,
    WrongValue = 10,
    NoCreation = 11,
    InconsistentValue = 12,
    ResourceUnavailable = 13,
    CommitFailed = 14,
    UndoFailed = 15,
    AuthorizationError = 16,
    NotWritable = 17,
    InconsistentName = 18,
}

impl ErrorStatus {
    /// The v1 equivalent of a v2 error (RFC 3584 4.3).
    pub fn to_v1(self) -> ErrorStatus {
        use ErrorStatus::*;
        match self {
            NoError | TooBig | NoSuchName | BadValue | ReadOnly | GenErr => self,
            WrongValue | WrongEncoding | WrongType | WrongLength | InconsistentValue => BadValue,
            NoAccess | NotWritable | NoCreation | InconsistentName | AuthorizationError => {
                NoSuchName
            }
            ResourceUnavailable | CommitFailed | UndoFailed => GenErr,
        }
    }
}

/// A PDU. For GetBulk, `error_status`/`error_index` carry non-repeaters and
/// max-repetitions, as on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu {
    pub kind: PduType,
    pub request_id: i32,
    pub error_status: i32,
    pub error_index: i32,
    pub varbinds: Vec<(Oid, Value)>,
}

/// The v1 Trap-PDU's own header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrapV1 {
    pub enterprise: Oid,
    pub agent_addr: [u8; 4],
    pub generic: i32,
    pub specific: i32,
    pub timestamp: u32,
    pub varbinds: Vec<(Oid, Value)>,
}

/// Bounds on what one request may ask for.
pub const MAX_VARBINDS: usize = 1024;

impl Pdu {
    pub fn decode(r: &mut Reader<'_>) -> ber::Result<Pdu> {
        let tag = r.peek_tag()?;
        let kind = PduType::from_tag(tag).ok_or(ber::Error::Tag {
            expected: 0xa0,
            found: tag,
        })?;
        if kind == PduType::TrapV1 {
            return Err(ber::Error::Tag {
                expected: 0xa0,
                found: tag,
            });
        }
        let mut p = r.expect(tag)?;
        let request_id = p.i32()?;
        let error_status = p.i32()?;
        let error_index = p.i32()?;
        let mut list = p.expect(ber::SEQUENCE)?;
        p.done()?;
        let mut varbinds = Vec::new();
        while !list.is_empty() {
            if varbinds.len() == MAX_VARBINDS {
                return Err(ber::Error::BadLength);
            }
            let mut vb = list.expect(ber::SEQUENCE)?;
            let oid = vb.oid()?;
            let value = vb.value()?;
            vb.done()?;
            varbinds.push((oid, value));
        }
        Ok(Pdu {
            kind,
            request_id,
            error_status,
            error_index,
            varbinds,
        })
    }

    pub fn encode(&self, w: &mut Writer) {
        w.constructed(self.kind as u8, |w| {
            w.integer(self.request_id as i64);
            w.integer(self.error_status as i64);
            w.integer(self.error_index as i64);
            encode_varbinds(w, &self.varbinds);
        });
    }

    pub fn response(request_id: i32, varbinds: Vec<(Oid, Value)>) -> Pdu {
        Pdu {
            kind: PduType::Response,
            request_id,
            error_status: 0,
            error_index: 0,
            varbinds,
        }
    }
}

fn encode_varbinds(w: &mut Writer, vbs: &[(Oid, Value)]) {
    w.sequence(|w| {
        for (oid, v) in vbs {
            w.sequence(|w| {
                w.oid(oid);
                w.value(v);
            });
        }
    });
}

impl TrapV1 {
    pub fn encode(&self, w: &mut Writer) {
        w.constructed(PduType::TrapV1 as u8, |w| {
            w.oid(&self.enterprise);
            w.primitive(ber::IP_ADDRESS, &self.agent_addr);
            w.integer(self.generic as i64);
            w.integer(self.specific as i64);
            w.value(&Value::TimeTicks(self.timestamp));
            encode_varbinds(w, &self.varbinds);
        });
    }
}

/// Message versions as on the wire.
pub const V1: i64 = 0;
pub const V2C: i64 = 1;
pub const V3: i64 = 3;

/// A v1 or v2c message.
#[derive(Debug, Clone)]
pub struct Community<'a> {
    pub version: i64,
    pub community: &'a [u8],
    pub pdu: Pdu,
}

/// msgFlags bits.
pub const FLAG_AUTH: u8 = 1;
pub const FLAG_PRIV: u8 = 2;
pub const FLAG_REPORTABLE: u8 = 4;

/// A v3 message as received: the header, the USM parameters and the msgData,
/// still encrypted when privacy is on.
#[derive(Debug, Clone)]
pub struct V3Message<'a> {
    pub msg_id: i32,
    pub max_size: i32,
    pub flags: u8,
    pub security_model: i32,
    pub usm: UsmParams<'a>,
    /// The plaintext ScopedPDU's TLV, or the encryptedPDU's octets.
    pub data: &'a [u8],
}

#[derive(Debug, Clone, Default)]
pub struct UsmParams<'a> {
    pub engine_id: &'a [u8],
    pub boots: i32,
    pub time: i32,
    pub user: &'a [u8],
    pub auth: &'a [u8],
    /// Where `auth` starts in the whole message (to blank it for the HMAC).
    pub auth_offset: usize,
    pub privacy: &'a [u8],
}

/// A decoded ScopedPDU.
#[derive(Debug, Clone)]
pub struct Scoped<'a> {
    pub context_engine: &'a [u8],
    pub context_name: &'a [u8],
    pub pdu: Pdu,
}

pub enum Message<'a> {
    Community(Community<'a>),
    V3(V3Message<'a>),
}

/// The version of a message, read before anything else.
pub fn decode(buf: &[u8]) -> ber::Result<Message<'_>> {
    let mut top = Reader::new(buf);
    let mut m = top.expect(ber::SEQUENCE)?;
    let version = m.integer()?;
    match version {
        V1 | V2C => {
            let community = m.octets()?;
            let pdu = Pdu::decode(&mut m)?;
            Ok(Message::Community(Community {
                version,
                community,
                pdu,
            }))
        }
        V3 => {
            let mut g = m.expect(ber::SEQUENCE)?;
            let msg_id = g.i32()?;
            let max_size = g.i32()?;
            let flags = g.octets()?;
            let security_model = g.i32()?;
            g.done()?;
            if msg_id < 0 || !(484..=i32::MAX).contains(&max_size) || flags.len() != 1 {
                return Err(ber::Error::Range);
            }
            let (sp, sp_off) = m.octets_at()?;
            let usm = if security_model == 3 {
                decode_usm(sp, sp_off, buf)?
            } else {
                UsmParams::default()
            };
            let data = match m.peek_tag()? {
                ber::OCTET_STRING => m.octets()?,
                _ => {
                    let start = m.position();
                    m.expect(ber::SEQUENCE)?;
                    &buf[start..m.position()]
                }
            };
            Ok(Message::V3(V3Message {
                msg_id,
                max_size,
                flags: flags[0],
                security_model,
                usm,
                data,
            }))
        }
        _ => Err(ber::Error::Range),
    }
}

fn decode_usm<'a>(sp: &'a [u8], offset: usize, whole: &'a [u8]) -> ber::Result<UsmParams<'a>> {
    // Read in place in the whole buffer, so offsets are absolute.
    let mut r = Reader::slice(whole, offset, offset + sp.len());
    let mut s = r.expect(ber::SEQUENCE)?;
    let engine_id = s.octets()?;
    let boots = s.i32()?;
    let time = s.i32()?;
    let user = s.octets()?;
    let (auth, auth_offset) = s.octets_at()?;
    let privacy = s.octets()?;
    s.done()?;
    if engine_id.len() > 32 || user.len() > 32 || boots < 0 || time < 0 {
        return Err(ber::Error::Range);
    }
    Ok(UsmParams {
        engine_id,
        boots,
        time,
        user,
        auth,
        auth_offset,
        privacy,
    })
}

pub fn decode_scoped(b: &[u8]) -> ber::Result<Scoped<'_>> {
    let mut r = Reader::new(b);
    let mut s = r.expect(ber::SEQUENCE)?;
    let context_engine = s.octets()?;
    let context_name = s.octets()?;
    let pdu = Pdu::decode(&mut s)?;
    Ok(Scoped {
        context_engine,
        context_name,
        pdu,
    })
}

pub fn encode_community(version: i64, community: &[u8], pdu: &Pdu) -> Vec<u8> {
    let mut w = Writer::new();
    w.sequence(|w| {
        w.integer(version);
        w.octets(community);
        pdu.encode(w);
    });
    w.into_bytes()
}

pub fn encode_trap_v1(community: &[u8], trap: &TrapV1) -> Vec<u8> {
    let mut w = Writer::new();
    w.sequence(|w| {
        w.integer(V1);
        w.octets(community);
        trap.encode(w);
    });
    w.into_bytes()
}

pub fn encode_scoped(context_engine: &[u8], context_name: &[u8], pdu: &Pdu) -> Vec<u8> {
    let mut w = Writer::new();
    w.sequence(|w| {
        w.octets(context_engine);
        w.octets(context_name);
        pdu.encode(w);
    });
    w.into_bytes()
}

/// The parts of an outgoing v3 message.
pub struct V3Out<'a> {
    pub msg_id: i32,
    pub max_size: i32,
    pub flags: u8,
    pub engine_id: &'a [u8],
    pub boots: u32,
    pub time: u32,
    pub user: &'a [u8],
    /// Zeros of the MAC's length (filled in after encoding), or empty.
    pub auth_len: usize,
    pub privacy: &'a [u8],
    /// The ScopedPDU TLV, or the encrypted octets when `flags` has privacy.
    pub data: &'a [u8],
}

/// Encodes a v3 message; returns it and the offset of its blank MAC.
pub fn encode_v3(m: &V3Out<'_>) -> (Vec<u8>, usize) {
    let mut sp = Writer::new();
    sp.sequence(|w| {
        w.octets(m.engine_id);
        w.integer(m.boots as i64);
        w.integer(m.time as i64);
        w.octets(m.user);
        w.octets(&[0u8; 64][..m.auth_len]);
        w.octets(m.privacy);
    });
    let mut w = Writer::new();
    w.sequence(|w| {
        w.integer(V3);
        w.sequence(|w| {
            w.integer(m.msg_id as i64);
            w.integer(m.max_size as i64);
            w.octets(&[m.flags]);
            w.integer(3);
        });
        w.octets(&sp.buf);
        if m.flags & FLAG_PRIV != 0 {
            w.octets(m.data);
        } else {
            w.buf.extend_from_slice(m.data);
        }
    });
    let out = w.into_bytes();
    let offset = match decode(&out) {
        Ok(Message::V3(v)) => v.usm.auth_offset,
        _ => 0,
    };
    (out, offset)
}

/// A noAuthNoPriv request with no engine ID, which any engine answers with a
/// Report carrying its engine ID, boots and time.
pub fn discovery_probe(id: i32) -> Vec<u8> {
    let get = Pdu {
        kind: PduType::Get,
        request_id: id,
        error_status: 0,
        error_index: 0,
        varbinds: Vec::new(),
    };
    let scoped = encode_scoped(b"", b"", &get);
    encode_v3(&V3Out {
        msg_id: id,
        max_size: 65507,
        flags: FLAG_REPORTABLE,
        engine_id: b"",
        boots: 0,
        time: 0,
        user: b"",
        auth_len: 0,
        privacy: b"",
        data: &scoped,
    })
    .0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn community_message_round_trips() {
        let pdu = Pdu {
            kind: PduType::GetBulk,
            request_id: -5,
            error_status: 0,
            error_index: 10,
            varbinds: vec![(Oid::parse("1.3.6.1").unwrap(), Value::Null)],
        };
        let b = encode_community(V2C, b"public", &pdu);
        let Ok(Message::Community(c)) = decode(&b) else {
            panic!("not a community message")
        };
        assert_eq!(c.community, b"public");
        assert_eq!(c.pdu, pdu);
    }

    #[test]
    fn v3_message_round_trips_with_the_mac_offset() {
        let scoped = encode_scoped(b"engine", b"", &Pdu::response(7, vec![]));
        let (b, off) = encode_v3(&V3Out {
            msg_id: 9,
            max_size: 65507,
            flags: FLAG_AUTH,
            engine_id: b"engine",
            boots: 3,
            time: 44,
            user: b"admin",
            auth_len: 12,
            privacy: b"",
            data: &scoped,
        });
        let Ok(Message::V3(v)) = decode(&b) else {
            panic!("not v3")
        };
        assert_eq!(v.usm.auth, &[0u8; 12]);
        assert_eq!(v.usm.auth_offset, off);
        assert_eq!(&b[off..off + 12], &[0u8; 12]);
        assert_eq!(v.usm.user, b"admin");
        let s = decode_scoped(v.data).unwrap();
        assert_eq!(s.pdu.request_id, 7);
    }
}
