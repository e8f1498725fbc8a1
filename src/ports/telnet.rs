//! Telnet (RFC 854) as a sans-IO codec: a decoder of the client's byte stream
//! into data, commands, option verbs and subnegotiations; encoders; and option
//! negotiation after RFC 1143 that never loops.
pub const IAC: u8 = 255;
pub const DONT: u8 = 254;
pub const DO: u8 = 253;
pub const WONT: u8 = 252;
pub const WILL: u8 = 251;
pub const SB: u8 = 250;
pub const GA: u8 = 249;
pub const EL: u8 = 248;
pub const EC: u8 = 247;
pub const AYT: u8 = 246;
pub const AO: u8 = 245;
pub const IP: u8 = 244;
pub const BRK: u8 = 243;
pub const DM: u8 = 242;
pub const NOP: u8 = 241;
pub const SE: u8 = 240;

pub mod opt {
    pub const BINARY: u8 = 0;
    pub const ECHO: u8 = 1;
    pub const SGA: u8 = 3;
    pub const TTYPE: u8 = 24;
    pub const NAWS: u8 = 31;
    pub const LINEMODE: u8 = 34;
    pub const COM_PORT: u8 = 44;
}

/// Longest subnegotiation kept; longer ones are dropped whole.
const MAX_SUB: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Data(Vec<u8>),
    Command(u8),
    Will(u8),
    Wont(u8),
    Do(u8),
    Dont(u8),
    Sub(u8, Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Data,
    /// A CR was passed on; a following NUL or LF is swallowed.
    Cr,
    Iac,
    Verb(u8),
    SubOpt,
    Sub,
    SubIac,
}

pub struct Decoder {
    state: State,
    translate_cr: bool,
    sub_opt: u8,
    sub: Vec<u8>,
    sub_overflow: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder {
            state: State::Data,
            translate_cr: false,
            sub_opt: 0,
            sub: Vec::new(),
            sub_overflow: false,
        }
    }

    /// When the peer is not in BINARY mode, its Enter (CR NUL or CR LF) becomes
    /// the single CR a serial console expects.
    pub fn set_translate_cr(&mut self, on: bool) {
        self.translate_cr = on;
        if !on && self.state == State::Cr {
            self.state = State::Data;
        }
    }

    pub fn feed(&mut self, input: &[u8], out: &mut Vec<Event>) {
        let mut data = Vec::new();
        let flush = |data: &mut Vec<u8>, out: &mut Vec<Event>| {
            if !data.is_empty() {
                out.push(Event::Data(std::mem::take(data)));
            }
        };
        for &b in input {
            match self.state {
                State::Data | State::Cr => {
                    let after_cr = self.state == State::Cr;
                    self.state = State::Data;
                    if b == IAC {
                        self.state = State::Iac;
                    } else if after_cr && (b == 0 || b == b'\n') {
                        // The second half of a CR NUL / CR LF pair.
                    } else {
                        data.push(b);
                        if b == b'\r' && self.translate_cr {
                            self.state = State::Cr;
                        }
                    }
                }
                State::Iac => {
                    self.state = State::Data;
                    match b {
                        IAC => data.push(IAC),
                        WILL | WONT | DO | DONT => self.state = State::Verb(b),
                        SB => self.state = State::SubOpt,
                        SE => {}
                        cmd => {
                            flush(&mut data, out);
                            out.push(Event::Command(cmd));
                        }
                    }
                }
                State::Verb(v) => {
                    self.state = State::Data;
                    flush(&mut data, out);
                    out.push(match v {
                        WILL => Event::Will(b),
                        WONT => Event::Wont(b),
                        DO => Event::Do(b),
                        _ => Event::Dont(b),
                    });
                }
                State::SubOpt => {
                    self.sub_opt = b;
                    self.sub.clear();
                    self.sub_overflow = false;
                    self.state = State::Sub;
                }
                State::Sub => {
                    if b == IAC {
                        self.state = State::SubIac;
                    } else {
                        self.push_sub(b);
                    }
                }
                State::SubIac => match b {
                    IAC => {
                        self.push_sub(IAC);
                        self.state = State::Sub;
                    }
                    SE => {
                        self.state = State::Data;
                        if !self.sub_overflow {
                            flush(&mut data, out);
                            out.push(Event::Sub(self.sub_opt, std::mem::take(&mut self.sub)));
                        }
                        self.sub.clear();
                    }
                    // A command inside a subnegotiation ends it (a broken peer).
                    _ => {
                        self.state = State::Data;
                        self.sub.clear();
                    }
                },
            }
        }
        flush(&mut data, out);
    }

    fn push_sub(&mut self, b: u8) {
        if self.sub.len() < MAX_SUB {
            self.sub.push(b);
        } else {
            self.sub_overflow = true;
        }
    }
}

/// Appends `data` for the wire: IAC doubled; outside BINARY a bare CR becomes
/// CR NUL (the NVT rule).
pub fn escape_data(data: &[u8], binary: bool, out: &mut Vec<u8>) {
    out.reserve(data.len() + 8);
    for (i, &b) in data.iter().enumerate() {
        out.push(b);
        if b == IAC {
            out.push(IAC);
        } else if b == b'\r' && !binary && data.get(i + 1) != Some(&b'\n') {
            out.push(0);
        }
    }
}

/// IAC SB opt payload IAC SE, with IAC doubled in the payload.
pub fn subneg(opt: u8, payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&[IAC, SB, opt]);
    for &b in payload {
        out.push(b);
        if b == IAC {
            out.push(IAC);
        }
    }
    out.extend_from_slice(&[IAC, SE]);
}

pub fn command(cmd: u8, out: &mut Vec<u8>) {
    out.extend_from_slice(&[IAC, cmd]);
}

/// The window size of a NAWS subnegotiation payload.
pub fn naws(payload: &[u8]) -> Option<(u16, u16)> {
    match payload {
        [w1, w2, h1, h2] => Some((
            u16::from_be_bytes([*w1, *w2]),
            u16::from_be_bytes([*h1, *h2]),
        )),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Q {
    #[default]
    No,
    Yes,
    WantYes,
}

/// RFC 1143 option negotiation (we never ask to turn an option off, so
/// without WANTNO and the queue bits): each side of each
/// option is No, Yes, or waiting for the answer to what we asked.
pub struct Negotiator {
    us: [Q; 256],
    him: [Q; 256],
    local_ok: [bool; 256],
    remote_ok: [bool; 256],
}

impl Negotiator {
    pub fn new(local: &[u8], remote: &[u8]) -> Negotiator {
        let mut n = Negotiator {
            us: [Q::No; 256],
            him: [Q::No; 256],
            local_ok: [false; 256],
            remote_ok: [false; 256],
        };
        for &o in local {
            n.local_ok[o as usize] = true;
        }
        for &o in remote {
            n.remote_ok[o as usize] = true;
        }
        n
    }

    pub fn ask_local(&mut self, opt: u8, out: &mut Vec<u8>) {
        if self.us[opt as usize] == Q::No {
            self.us[opt as usize] = Q::WantYes;
            out.extend_from_slice(&[IAC, WILL, opt]);
        }
    }

    pub fn ask_remote(&mut self, opt: u8, out: &mut Vec<u8>) {
        if self.him[opt as usize] == Q::No {
            self.him[opt as usize] = Q::WantYes;
            out.extend_from_slice(&[IAC, DO, opt]);
        }
    }

    /// Handles a received verb; appends the answer; true when the state changed.
    pub fn receive(&mut self, verb: u8, opt: u8, out: &mut Vec<u8>) -> bool {
        let i = opt as usize;
        // WILL/WONT are about the peer's side; DO/DONT about ours.
        let (q, ok, yes, no) = match verb {
            WILL | WONT => (&mut self.him[i], self.remote_ok[i], DO, DONT),
            _ => (&mut self.us[i], self.local_ok[i], WILL, WONT),
        };
        let before = *q;
        let positive = verb == WILL || verb == DO;
        *q = match (before, positive) {
            (Q::No, true) if ok => {
                out.extend_from_slice(&[IAC, yes, opt]);
                Q::Yes
            }
            (Q::No, true) => {
                out.extend_from_slice(&[IAC, no, opt]);
                Q::No
            }
            (Q::No, false) => Q::No,
            (Q::Yes, true) => Q::Yes,
            (Q::Yes, false) => {
                out.extend_from_slice(&[IAC, no, opt]);
                Q::No
            }
            (Q::WantYes, true) => Q::Yes,
            (Q::WantYes, false) => Q::No,
        };
        *q != before
    }

    pub fn local(&self, opt: u8) -> bool {
        self.us[opt as usize] == Q::Yes
    }

    pub fn remote(&self, opt: u8) -> bool {
        self.him[opt as usize] == Q::Yes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_split(input: &[u8], at: usize, translate: bool) -> Vec<Event> {
        let mut d = Decoder::new();
        d.set_translate_cr(translate);
        let mut out = Vec::new();
        d.feed(&input[..at], &mut out);
        d.feed(&input[at..], &mut out);
        // Coalesce data split at the feed boundary.
        let mut merged: Vec<Event> = Vec::new();
        for e in out {
            match (merged.last_mut(), e) {
                (Some(Event::Data(a)), Event::Data(b)) => a.extend(b),
                (_, e) => merged.push(e),
            }
        }
        merged
    }

    #[test]
    fn every_split_decodes_the_same() {
        let stream: Vec<u8> = [
            &b"ab"[..],
            &[IAC, IAC],
            b"c\r\0d\r\ne",
            &[
                IAC,
                BRK,
                IAC,
                WILL,
                opt::NAWS,
                IAC,
                SB,
                opt::NAWS,
                0,
                80,
                IAC,
                IAC,
                24,
                IAC,
                SE,
            ],
            b"\r",
        ]
        .concat();
        let want = vec![
            Event::Data(b"ab\xffc\rd\re".to_vec()),
            Event::Command(BRK),
            Event::Will(opt::NAWS),
            Event::Sub(opt::NAWS, vec![0, 80, 255, 24]),
            Event::Data(b"\r".to_vec()),
        ];
        for at in 0..=stream.len() {
            assert_eq!(decode_split(&stream, at, true), want, "split at {at}");
        }
        let raw = decode_split(b"x\r\ny", 2, false);
        assert_eq!(raw, vec![Event::Data(b"x\r\ny".to_vec())]);
    }

    #[test]
    fn oversized_subnegotiation_is_dropped() {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        let mut s = vec![IAC, SB, opt::COM_PORT];
        s.extend(std::iter::repeat_n(7u8, 5000));
        s.extend([IAC, SE]);
        s.extend(b"ok");
        d.feed(&s, &mut out);
        assert_eq!(out, vec![Event::Data(b"ok".to_vec())]);
    }

    #[test]
    fn escaping() {
        let mut out = Vec::new();
        escape_data(b"\xff\r\n\r", false, &mut out);
        assert_eq!(out, b"\xff\xff\r\n\r\0");
        out.clear();
        escape_data(b"\r", true, &mut out);
        assert_eq!(out, b"\r");
        out.clear();
        subneg(44, &[101, 255], &mut out);
        assert_eq!(out, [IAC, SB, 44, 101, 255, 255, IAC, SE]);
        assert_eq!(naws(&[0, 80, 0, 24]), Some((80, 24)));
    }

    #[test]
    fn negotiation_settles_without_loops() {
        let mut server = Negotiator::new(&[opt::ECHO, opt::SGA], &[opt::NAWS]);
        let mut client = Negotiator::new(&[opt::NAWS], &[opt::ECHO]);
        let mut wire = Vec::new();
        server.ask_local(opt::ECHO, &mut wire);
        server.ask_local(opt::SGA, &mut wire);
        server.ask_remote(opt::NAWS, &mut wire);
        let mut to_client = wire;
        let mut rounds = 0;
        while !to_client.is_empty() {
            rounds += 1;
            assert!(rounds < 5, "negotiation loops");
            let mut to_server = Vec::new();
            for v in to_client.chunks(3) {
                client.receive(v[1], v[2], &mut to_server);
            }
            to_client = Vec::new();
            for v in to_server.chunks(3) {
                server.receive(v[1], v[2], &mut to_client);
            }
        }
        assert!(server.local(opt::ECHO) && server.remote(opt::NAWS));
        assert!(!server.local(opt::SGA), "the client refused SGA");
        assert!(client.remote(opt::ECHO));
    }
}
