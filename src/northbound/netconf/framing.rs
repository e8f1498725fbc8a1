//! RFC 6242 message framing, sans-IO: end-of-message (`]]>]]>`, base:1.0) and
//! chunked (base:1.1). The decoder only consumes bytes once a whole frame parsed.

pub const EOM: &[u8] = b"]]>]]>";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    EndOfMessage,
    Chunked,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("message larger than {0} bytes")]
    TooBig(usize),
    #[error("invalid chunked framing")]
    BadChunk,
}

pub struct Decoder {
    mode: Mode,
    buf: Vec<u8>,
    /// Where to resume the search for the end-of-message marker.
    scanned: usize,
    /// Chunks of the message being assembled (chunked mode).
    msg: Vec<u8>,
    max: usize,
}

impl Decoder {
    pub fn new(max: usize) -> Decoder {
        Decoder {
            mode: Mode::EndOfMessage,
            buf: Vec::new(),
            scanned: 0,
            msg: Vec::new(),
            max,
        }
    }

    /// Switches framing after the hellos; bytes already received stay.
    pub fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
        self.scanned = 0;
    }

    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete message, if one has arrived.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, FramingError> {
        match self.mode {
            Mode::EndOfMessage => self.next_eom(),
            Mode::Chunked => self.next_chunked(),
        }
    }

    fn next_eom(&mut self) -> Result<Option<Vec<u8>>, FramingError> {
        let start = self.scanned.saturating_sub(EOM.len() - 1);
        match self.buf[start..].windows(EOM.len()).position(|w| w == EOM) {
            Some(pos) => {
                let end = start + pos;
                let msg = self.buf[..end].to_vec();
                self.buf.drain(..end + EOM.len());
                self.scanned = 0;
                Ok(Some(msg))
            }
            None => {
                self.scanned = self.buf.len();
                if self.buf.len() > self.max {
                    return Err(FramingError::TooBig(self.max));
                }
                Ok(None)
            }
        }
    }

    fn next_chunked(&mut self) -> Result<Option<Vec<u8>>, FramingError> {
        loop {
            // A chunk header is "\n#<size>\n" (size 1..4294967295) or the end "\n##\n".
            if self.buf.len() < 4 {
                return Ok(None);
            }
            if &self.buf[..2] != b"\n#" {
                return Err(FramingError::BadChunk);
            }
            if self.buf[2] == b'#' {
                if self.buf[3] != b'\n' {
                    return Err(FramingError::BadChunk);
                }
                self.buf.drain(..4);
                if self.msg.is_empty() {
                    return Err(FramingError::BadChunk);
                }
                return Ok(Some(std::mem::take(&mut self.msg)));
            }
            let digits_end = match self.buf[2..].iter().position(|&b| b == b'\n') {
                Some(p) => 2 + p,
                None if self.buf.len() > 2 + 10 => return Err(FramingError::BadChunk),
                None => return Ok(None),
            };
            let digits = &self.buf[2..digits_end];
            if digits.is_empty()
                || digits.len() > 10
                || digits[0] == b'0'
                || !digits.iter().all(u8::is_ascii_digit)
            {
                return Err(FramingError::BadChunk);
            }
            let size: u64 = std::str::from_utf8(digits)
                .map_err(|_| FramingError::BadChunk)?
                .parse()
                .map_err(|_| FramingError::BadChunk)?;
            if size > u32::MAX as u64 {
                return Err(FramingError::BadChunk);
            }
            let size = size as usize;
            if self.msg.len() + size > self.max {
                return Err(FramingError::TooBig(self.max));
            }
            let body = digits_end + 1;
            if self.buf.len() < body + size {
                return Ok(None);
            }
            self.msg.extend_from_slice(&self.buf[body..body + size]);
            self.buf.drain(..body + size);
        }
    }
}

/// Frames one outgoing message.
pub fn encode(mode: Mode, msg: &[u8]) -> Vec<u8> {
    match mode {
        Mode::EndOfMessage => {
            let mut out = Vec::with_capacity(msg.len() + EOM.len());
            out.extend_from_slice(msg);
            out.extend_from_slice(EOM);
            out
        }
        Mode::Chunked => {
            let mut out = Vec::with_capacity(msg.len() + 24);
            out.extend_from_slice(format!("\n#{}\n", msg.len()).as_bytes());
            out.extend_from_slice(msg);
            out.extend_from_slice(b"\n##\n");
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eom_split_anywhere() {
        let data = b"<a/>]]>]]><b/>]]>]]>";
        for split in 0..data.len() {
            let mut d = Decoder::new(1000);
            d.feed(&data[..split]);
            let mut got = Vec::new();
            while let Some(m) = d.next_message().unwrap() {
                got.push(m);
            }
            d.feed(&data[split..]);
            while let Some(m) = d.next_message().unwrap() {
                got.push(m);
            }
            assert_eq!(
                got,
                vec![b"<a/>".to_vec(), b"<b/>".to_vec()],
                "split at {split}"
            );
        }
    }

    #[test]
    fn chunked_roundtrip_and_errors() {
        let mut d = Decoder::new(1000);
        d.set_mode(Mode::Chunked);
        d.feed(b"\n#4\n<rpc\n#3\n/>x\n##\n");
        assert_eq!(d.next_message().unwrap(), Some(b"<rpc/>x".to_vec()));
        assert_eq!(d.next_message().unwrap(), None);
        let enc = encode(Mode::Chunked, b"hello");
        d.feed(&enc);
        assert_eq!(d.next_message().unwrap(), Some(b"hello".to_vec()));
        for bad in [
            &b"\n#0\n"[..],
            b"\n#x\n",
            b"xx#4\n",
            b"\n##\n",
            b"\n#99999999999\n",
        ] {
            let mut d = Decoder::new(1000);
            d.set_mode(Mode::Chunked);
            d.feed(bad);
            assert!(d.next_message().is_err(), "{bad:?}");
        }
        let mut d = Decoder::new(10);
        d.set_mode(Mode::Chunked);
        d.feed(b"\n#11\n");
        assert_eq!(d.next_message(), Err(FramingError::TooBig(10)));
    }
}
