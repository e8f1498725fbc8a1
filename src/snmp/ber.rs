//! The subset of ASN.1 BER that SNMP uses (RFC 3416's types), sans-IO. The reader
//! checks every length before it reads and returns typed errors, never panics; it
//! keeps absolute offsets so USM can find and blank the authentication parameters
//! in the bytes as received. The writer emits definite, minimal lengths.
use std::fmt;

pub const INTEGER: u8 = 0x02;
pub const OCTET_STRING: u8 = 0x04;
pub const NULL: u8 = 0x05;
pub const OBJECT_ID: u8 = 0x06;
pub const SEQUENCE: u8 = 0x30;
pub const IP_ADDRESS: u8 = 0x40;
pub const COUNTER32: u8 = 0x41;
pub const GAUGE32: u8 = 0x42;
pub const TIMETICKS: u8 = 0x43;
pub const OPAQUE: u8 = 0x44;
pub const COUNTER64: u8 = 0x46;
pub const NO_SUCH_OBJECT: u8 = 0x80;
pub const NO_SUCH_INSTANCE: u8 = 0x81;
pub const END_OF_MIB_VIEW: u8 = 0x82;

/// The longest OID we accept (RFC 2578 allows 128 sub-identifiers).
pub const MAX_OID_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("message truncated")]
    Truncated,
    #[error("bad length")]
    BadLength,
    #[error("expected tag {expected:#04x}, found {found:#04x}")]
    Tag { expected: u8, found: u8 },
    #[error("integer out of range")]
    Range,
    #[error("bad object identifier")]
    BadOid,
    #[error("trailing bytes")]
    Trailing,
}

pub type Result<T> = std::result::Result<T, Error>;

/// An object identifier; `Vec`'s ordering is SNMP's lexicographic order.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Oid(pub Vec<u32>);

impl Oid {
    pub fn parse(s: &str) -> Option<Oid> {
        let s = s.trim().trim_start_matches('.');
        if s.is_empty() {
            return Some(Oid(Vec::new()));
        }
        s.split('.')
            .map(|p| p.parse::<u32>().ok())
            .collect::<Option<Vec<_>>>()
            .map(Oid)
    }

    pub fn starts_with(&self, prefix: &[u32]) -> bool {
        self.0.starts_with(prefix)
    }

    pub fn child(&self, sub: &[u32]) -> Oid {
        let mut v = Vec::with_capacity(self.0.len() + sub.len());
        v.extend_from_slice(&self.0);
        v.extend_from_slice(sub);
        Oid(v)
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{s}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oid({self})")
    }
}

/// A varbind's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Integer(i32),
    OctetString(Vec<u8>),
    Null,
    ObjectId(Oid),
    IpAddress([u8; 4]),
    Counter32(u32),
    Gauge32(u32),
    TimeTicks(u32),
    Opaque(Vec<u8>),
    Counter64(u64),
    NoSuchObject,
    NoSuchInstance,
    EndOfMibView,
}

impl Value {
    pub fn tag(&self) -> u8 {
        match self {
            Value::Integer(_) => INTEGER,
            Value::OctetString(_) => OCTET_STRING,
            Value::Null => NULL,
            Value::ObjectId(_) => OBJECT_ID,
            Value::IpAddress(_) => IP_ADDRESS,
            Value::Counter32(_) => COUNTER32,
            Value::Gauge32(_) => GAUGE32,
            Value::TimeTicks(_) => TIMETICKS,
            Value::Opaque(_) => OPAQUE,
            Value::Counter64(_) => COUNTER64,
            Value::NoSuchObject => NO_SUCH_OBJECT,
            Value::NoSuchInstance => NO_SUCH_INSTANCE,
            Value::EndOfMibView => END_OF_MIB_VIEW,
        }
    }

    pub fn octets(s: &str) -> Value {
        Value::OctetString(s.as_bytes().to_vec())
    }
}

/// A reader over one TLV's contents; offsets are absolute in the whole message.
#[derive(Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader {
            buf,
            pos: 0,
            end: buf.len(),
        }
    }

    /// A reader over `buf[start..end]` (clamped) that reports absolute offsets.
    pub fn slice(buf: &'a [u8], start: usize, end: usize) -> Reader<'a> {
        let end = end.min(buf.len());
        Reader {
            buf,
            pos: start.min(end),
            end,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.end
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    /// The next TLV's tag without consuming it.
    pub fn peek_tag(&self) -> Result<u8> {
        if self.pos < self.end {
            Ok(self.buf[self.pos])
        } else {
            Err(Error::Truncated)
        }
    }

    /// Reads one TLV: its tag and a reader over its contents.
    pub fn any(&mut self) -> Result<(u8, Reader<'a>)> {
        let tag = self.peek_tag()?;
        if tag & 0x1f == 0x1f {
            // Multi-byte tags are not SNMP's.
            return Err(Error::Tag {
                expected: 0,
                found: tag,
            });
        }
        let mut p = self.pos + 1;
        let first = *self
            .buf
            .get(p)
            .filter(|_| p < self.end)
            .ok_or(Error::Truncated)?;
        p += 1;
        let len = if first < 0x80 {
            first as usize
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 {
                return Err(Error::BadLength);
            }
            if p + n > self.end {
                return Err(Error::Truncated);
            }
            let mut len = 0usize;
            for b in &self.buf[p..p + n] {
                len = (len << 8) | *b as usize;
            }
            p += n;
            len
        };
        if len > self.end - p {
            return Err(Error::Truncated);
        }
        let inner = Reader {
            buf: self.buf,
            pos: p,
            end: p + len,
        };
        self.pos = p + len;
        Ok((tag, inner))
    }

    pub fn expect(&mut self, tag: u8) -> Result<Reader<'a>> {
        let found = self.peek_tag()?;
        if found != tag {
            return Err(Error::Tag {
                expected: tag,
                found,
            });
        }
        Ok(self.any()?.1)
    }

    /// The bytes this reader has not read (a TLV's contents, for a reader
    /// from `any`/`expect`).
    pub fn bytes(&self) -> &'a [u8] {
        &self.buf[self.pos..self.end]
    }

    pub fn done(&self) -> Result<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(Error::Trailing)
        }
    }

    pub fn integer(&mut self) -> Result<i64> {
        let r = self.expect(INTEGER)?;
        signed(r.bytes())
    }

    pub fn i32(&mut self) -> Result<i32> {
        i32::try_from(self.integer()?).map_err(|_| Error::Range)
    }

    pub fn octets(&mut self) -> Result<&'a [u8]> {
        Ok(self.expect(OCTET_STRING)?.bytes())
    }

    /// An OCTET STRING and the absolute offset of its contents.
    pub fn octets_at(&mut self) -> Result<(&'a [u8], usize)> {
        let r = self.expect(OCTET_STRING)?;
        Ok((r.bytes(), r.pos))
    }

    pub fn oid(&mut self) -> Result<Oid> {
        let r = self.expect(OBJECT_ID)?;
        decode_oid(r.bytes())
    }

    pub fn value(&mut self) -> Result<Value> {
        let (tag, r) = self.any()?;
        let b = r.bytes();
        Ok(match tag {
            INTEGER => Value::Integer(i32::try_from(signed(b)?).map_err(|_| Error::Range)?),
            OCTET_STRING => Value::OctetString(b.to_vec()),
            NULL => Value::Null,
            OBJECT_ID => Value::ObjectId(decode_oid(b)?),
            IP_ADDRESS => Value::IpAddress(b.try_into().map_err(|_| Error::BadLength)?),
            COUNTER32 => Value::Counter32(unsigned(b, 4)? as u32),
            GAUGE32 => Value::Gauge32(unsigned(b, 4)? as u32),
            TIMETICKS => Value::TimeTicks(unsigned(b, 4)? as u32),
            OPAQUE => Value::Opaque(b.to_vec()),
            COUNTER64 => Value::Counter64(unsigned(b, 8)?),
            NO_SUCH_OBJECT => Value::NoSuchObject,
            NO_SUCH_INSTANCE => Value::NoSuchInstance,
            END_OF_MIB_VIEW => Value::EndOfMibView,
            found => {
                return Err(Error::Tag {
                    expected: INTEGER,
                    found,
                });
            }
        })
    }
}

fn signed(b: &[u8]) -> Result<i64> {
    if b.is_empty() || b.len() > 8 {
        return Err(Error::Range);
    }
    let mut v: i64 = if b[0] & 0x80 != 0 { -1 } else { 0 };
    for x in b {
        v = (v << 8) | *x as i64;
    }
    Ok(v)
}

/// An unsigned integer of at most `max` bytes (plus a leading zero).
fn unsigned(b: &[u8], max: usize) -> Result<u64> {
    let b = match b {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => b,
    };
    if b.is_empty() || b.len() > max {
        return Err(Error::Range);
    }
    // A negative encoding of an unsigned type: read as two's complement, which is
    // what lenient agents do; only the width is enforced.
    let mut v = 0u64;
    for x in b {
        v = (v << 8) | *x as u64;
    }
    Ok(v)
}

fn decode_oid(b: &[u8]) -> Result<Oid> {
    if b.is_empty() {
        return Err(Error::BadOid);
    }
    let mut out = Vec::with_capacity(b.len() + 1);
    let mut acc: u64 = 0;
    let mut first = true;
    for (i, x) in b.iter().enumerate() {
        if acc == 0 && *x == 0x80 {
            return Err(Error::BadOid); // non-minimal sub-identifier
        }
        acc = (acc << 7) | (*x & 0x7f) as u64;
        if acc > u32::MAX as u64 + 80 {
            return Err(Error::BadOid);
        }
        if x & 0x80 == 0 {
            if first {
                let (a, b) = match acc {
                    0..=39 => (0, acc),
                    40..=79 => (1, acc - 40),
                    _ => (2, acc - 80),
                };
                out.push(a as u32);
                out.push(u32::try_from(b).map_err(|_| Error::BadOid)?);
                first = false;
            } else {
                out.push(u32::try_from(acc).map_err(|_| Error::BadOid)?);
            }
            acc = 0;
        } else if i == b.len() - 1 {
            return Err(Error::BadOid);
        }
        if out.len() > MAX_OID_LEN {
            return Err(Error::BadOid);
        }
    }
    Ok(Oid(out))
}

/// Encodes TLVs into a buffer; constructed types wrap what their closure writes.
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Writer {
        Writer {
            buf: Vec::with_capacity(512),
        }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    fn header(tag: u8, len: usize) -> ([u8; 6], usize) {
        let mut h = [tag, 0, 0, 0, 0, 0];
        if len < 0x80 {
            h[1] = len as u8;
            return (h, 2);
        }
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let n = 4 - skip;
        h[1] = 0x80 | n as u8;
        h[2..2 + n].copy_from_slice(&bytes[skip..]);
        (h, 2 + n)
    }

    /// A constructed TLV whose contents `f` writes.
    pub fn constructed(&mut self, tag: u8, f: impl FnOnce(&mut Writer)) {
        let start = self.buf.len();
        f(self);
        let len = self.buf.len() - start;
        let (h, n) = Self::header(tag, len);
        self.buf.splice(start..start, h[..n].iter().copied());
    }

    pub fn sequence(&mut self, f: impl FnOnce(&mut Writer)) {
        self.constructed(SEQUENCE, f)
    }

    pub fn primitive(&mut self, tag: u8, contents: &[u8]) {
        let (h, n) = Self::header(tag, contents.len());
        self.buf.extend_from_slice(&h[..n]);
        self.buf.extend_from_slice(contents);
    }

    pub fn integer(&mut self, v: i64) {
        let bytes = v.to_be_bytes();
        let mut i = 0;
        while i < 7
            && ((bytes[i] == 0 && bytes[i + 1] & 0x80 == 0)
                || (bytes[i] == 0xff && bytes[i + 1] & 0x80 != 0))
        {
            i += 1;
        }
        self.primitive(INTEGER, &bytes[i..]);
    }

    fn unsigned(&mut self, tag: u8, v: u64) {
        let bytes = v.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
        if bytes[skip] & 0x80 != 0 {
            let mut c = [0u8; 9];
            c[1..1 + 8 - skip].copy_from_slice(&bytes[skip..]);
            self.primitive(tag, &c[..1 + 8 - skip]);
        } else {
            self.primitive(tag, &bytes[skip..]);
        }
    }

    pub fn octets(&mut self, b: &[u8]) {
        self.primitive(OCTET_STRING, b)
    }

    pub fn null(&mut self) {
        self.primitive(NULL, &[])
    }

    pub fn oid(&mut self, oid: &Oid) {
        let mut c = Vec::with_capacity(oid.0.len() + 4);
        let s = &oid.0;
        let (first, rest) = match s.len() {
            0 => (0u64, &s[..]),
            1 => (s[0] as u64 * 40, &s[1..]),
            _ => (s[0].min(2) as u64 * 40 + s[1] as u64, &s[2..]),
        };
        push_sub(&mut c, first);
        for x in rest {
            push_sub(&mut c, *x as u64);
        }
        self.primitive(OBJECT_ID, &c);
    }

    pub fn value(&mut self, v: &Value) {
        match v {
            Value::Integer(i) => self.integer(*i as i64),
            Value::OctetString(b) => self.octets(b),
            Value::Null => self.null(),
            Value::ObjectId(o) => self.oid(o),
            Value::IpAddress(a) => self.primitive(IP_ADDRESS, a),
            Value::Counter32(x) => self.unsigned(COUNTER32, *x as u64),
            Value::Gauge32(x) => self.unsigned(GAUGE32, *x as u64),
            Value::TimeTicks(x) => self.unsigned(TIMETICKS, *x as u64),
            Value::Opaque(b) => self.primitive(OPAQUE, b),
            Value::Counter64(x) => self.unsigned(COUNTER64, *x),
            Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView => {
                self.primitive(v.tag(), &[])
            }
        }
    }
}

fn push_sub(c: &mut Vec<u8>, v: u64) {
    let mut tmp = [0u8; 10];
    let mut n = 0;
    let mut x = v;
    loop {
        tmp[n] = (x & 0x7f) as u8;
        n += 1;
        x >>= 7;
        if x == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        c.push(tmp[i] | if i > 0 { 0x80 } else { 0 });
    }
}

fn len_of_len(n: usize) -> usize {
    match n {
        0..=0x7f => 1,
        0x80..=0xff => 2,
        0x100..=0xffff => 3,
        _ => 4,
    }
}

fn tlv_len(content: usize) -> usize {
    1 + len_of_len(content) + content
}

fn sub_len(v: u64) -> usize {
    (64 - v.max(1).leading_zeros() as usize).div_ceil(7)
}

fn oid_content_len(o: &Oid) -> usize {
    let s = &o.0;
    match s.len() {
        0 => 1,
        1 => sub_len(s[0] as u64 * 40),
        _ => {
            sub_len(s[0].min(2) as u64 * 40 + s[1] as u64)
                + s[2..].iter().map(|x| sub_len(*x as u64)).sum::<usize>()
        }
    }
}

fn uint_len(v: u64) -> usize {
    // Minimal two's complement of a non-negative number.
    (64 - v.leading_zeros() as usize) / 8 + 1
}

fn int_len(v: i64) -> usize {
    if v >= 0 {
        uint_len(v as u64)
    } else {
        (64 - (!v).leading_zeros() as usize) / 8 + 1
    }
}

/// The encoded size of a varbind, computed without encoding it.
pub fn encoded_len(oid: &Oid, v: &Value) -> usize {
    let value = match v {
        Value::Integer(i) => tlv_len(int_len(*i as i64)),
        Value::OctetString(b) | Value::Opaque(b) => tlv_len(b.len()),
        Value::ObjectId(o) => tlv_len(oid_content_len(o)),
        Value::IpAddress(_) => 6,
        Value::Counter32(x) | Value::Gauge32(x) | Value::TimeTicks(x) => {
            tlv_len(uint_len(*x as u64))
        }
        Value::Counter64(x) => tlv_len(uint_len(*x).min(9)),
        Value::Null | Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView => 2,
    };
    tlv_len(tlv_len(oid_content_len(oid)) + value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(v: Value) {
        let mut w = Writer::new();
        w.value(&v);
        let mut r = Reader::new(&w.buf);
        assert_eq!(r.value().unwrap(), v);
        assert!(r.is_empty());
    }

    #[test]
    fn values_round_trip() {
        for i in [0, 1, -1, 127, 128, -128, -129, 255, 256, i32::MAX, i32::MIN] {
            roundtrip(Value::Integer(i));
        }
        for u in [0, 1, 127, 128, 255, 65535, u32::MAX] {
            roundtrip(Value::Counter32(u));
            roundtrip(Value::Gauge32(u));
            roundtrip(Value::TimeTicks(u));
        }
        for u in [0, 1 << 31, 1 << 32, u64::MAX] {
            roundtrip(Value::Counter64(u));
        }
        roundtrip(Value::octets(&"x".repeat(300)));
        roundtrip(Value::ObjectId(
            Oid::parse("1.3.6.1.4.1.8072.9999.4294967295").unwrap(),
        ));
        roundtrip(Value::ObjectId(Oid::parse("2.999.3").unwrap()));
        roundtrip(Value::IpAddress([127, 0, 0, 1]));
        roundtrip(Value::EndOfMibView);
    }

    #[test]
    fn known_encodings() {
        let mut w = Writer::new();
        w.oid(&Oid::parse("1.3.6.1.2.1.1.1.0").unwrap());
        assert_eq!(w.buf, [6, 8, 0x2b, 6, 1, 2, 1, 1, 1, 0]);
        let mut w = Writer::new();
        w.value(&Value::Counter32(0x80));
        assert_eq!(w.buf, [0x41, 2, 0, 0x80]);
        let mut w = Writer::new();
        w.sequence(|w| w.octets(&[0; 200]));
        assert_eq!(&w.buf[..5], &[0x30, 0x81, 203, 4, 0x81]);
    }

    #[test]
    fn computed_lengths_match_encodings() {
        for (o, v) in [
            ("1.3.6.1.2.1.1.1.0", Value::octets(&"d".repeat(200))),
            (
                "1.3.6.1.4.1.8072.9999.9999.5433.1.1.1.1.12.4",
                Value::Counter64(u64::MAX),
            ),
            ("1.3", Value::Integer(-129)),
            ("2.999.1", Value::Gauge32(128)),
            (
                "1.3.6",
                Value::ObjectId(Oid::parse("1.3.6.1.4.1.8072").unwrap()),
            ),
            ("1.3.6", Value::EndOfMibView),
            ("1.3.6", Value::Integer(i32::MIN)),
            ("1.3.6", Value::Counter32(0)),
        ] {
            let oid = Oid::parse(o).unwrap();
            let mut w = Writer::new();
            w.sequence(|w| {
                w.oid(&oid);
                w.value(&v);
            });
            assert_eq!(encoded_len(&oid, &v), w.buf.len(), "{o} {v:?}");
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        for bad in [
            &[0x30u8, 0x05, 1][..],
            &[0x02, 0x00],
            &[0x06, 0x01, 0x80],
            &[0x04, 0x85, 1, 1, 1, 1, 1],
            &[0x41, 6, 1, 2, 3, 4, 5, 6],
            &[0x1f, 0x01, 0x00],
        ] {
            assert!(Reader::new(bad).value().is_err(), "{bad:?}");
        }
    }
}
