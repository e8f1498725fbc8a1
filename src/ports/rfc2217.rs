//! RFC 2217 (the Telnet COM-PORT-OPTION), server side, as a sans-IO codec:
//! parsing a client's requests and encoding the answers and notifications.
use super::telnet;

pub const OPTION: u8 = 44;

/// A client's request, by command code (the server answers with code + 100).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Signature(Vec<u8>),
    /// 0 asks for the current value (so do the other zeros below).
    SetBaud(u32),
    SetDataSize(u8),
    /// 1 none, 2 odd, 3 even, 4 mark, 5 space.
    SetParity(u8),
    /// 1 one, 2 two, 3 one and a half.
    SetStopSize(u8),
    SetControl(u8),
    NotifyLineState(u8),
    NotifyModemState(u8),
    FlowControlSuspend,
    FlowControlResume,
    SetLineStateMask(u8),
    SetModemStateMask(u8),
    /// 1 receive buffer, 2 transmit buffer, 3 both.
    PurgeData(u8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    Empty,
    UnknownCommand(u8),
    BadLength { command: u8, len: usize },
}

/// Parses a COM-PORT-OPTION subnegotiation payload (IAC already unescaped).
pub fn parse(payload: &[u8]) -> Result<Request, ParseError> {
    let (&command, value) = payload.split_first().ok_or(ParseError::Empty)?;
    let bad = || ParseError::BadLength {
        command,
        len: value.len(),
    };
    let byte = || match value {
        [b] => Ok(*b),
        _ => Err(bad()),
    };
    let none = || {
        if value.is_empty() { Ok(()) } else { Err(bad()) }
    };
    Ok(match command {
        0 => Request::Signature(value.to_vec()),
        1 => match value {
            [a, b, c, d] => Request::SetBaud(u32::from_be_bytes([*a, *b, *c, *d])),
            _ => return Err(bad()),
        },
        2 => Request::SetDataSize(byte()?),
        3 => Request::SetParity(byte()?),
        4 => Request::SetStopSize(byte()?),
        5 => Request::SetControl(byte()?),
        6 => Request::NotifyLineState(byte()?),
        7 => Request::NotifyModemState(byte()?),
        8 => {
            none()?;
            Request::FlowControlSuspend
        }
        9 => {
            none()?;
            Request::FlowControlResume
        }
        10 => Request::SetLineStateMask(byte()?),
        11 => Request::SetModemStateMask(byte()?),
        12 => Request::PurgeData(byte()?),
        other => return Err(ParseError::UnknownCommand(other)),
    })
}

/// The server's answer to request `command`: IAC SB 44 (command + 100) value IAC SE.
pub fn reply(command: u8, value: &[u8], out: &mut Vec<u8>) {
    let mut payload = Vec::with_capacity(value.len() + 1);
    payload.push(command.saturating_add(100));
    payload.extend_from_slice(value);
    telnet::subneg(OPTION, &payload, out);
}

pub fn notify_linestate(state: u8, out: &mut Vec<u8>) {
    telnet::subneg(OPTION, &[106, state], out);
}

pub fn notify_modemstate(state: u8, out: &mut Vec<u8>) {
    telnet::subneg(OPTION, &[107, state], out);
}

/// Modem state bits.
pub mod modem {
    pub const CD: u8 = 0x80;
    pub const RI: u8 = 0x40;
    pub const DSR: u8 = 0x20;
    pub const CTS: u8 = 0x10;
    pub const DELTA_CD: u8 = 0x08;
    pub const TRAILING_EDGE_RI: u8 = 0x04;
    pub const DELTA_DSR: u8 = 0x02;
    pub const DELTA_CTS: u8 = 0x01;
}

/// SET-CONTROL values.
pub mod control {
    pub const FLOW_QUERY: u8 = 0;
    pub const FLOW_NONE: u8 = 1;
    pub const FLOW_XONXOFF: u8 = 2;
    pub const FLOW_HARDWARE: u8 = 3;
    pub const BREAK_QUERY: u8 = 4;
    pub const BREAK_ON: u8 = 5;
    pub const BREAK_OFF: u8 = 6;
    pub const DTR_QUERY: u8 = 7;
    pub const DTR_ON: u8 = 8;
    pub const DTR_OFF: u8 = 9;
    pub const RTS_QUERY: u8 = 10;
    pub const RTS_ON: u8 = 11;
    pub const RTS_OFF: u8 = 12;
    pub const INFLOW_QUERY: u8 = 13;
    pub const INFLOW_NONE: u8 = 14;
    pub const INFLOW_XONXOFF: u8 = 15;
    pub const INFLOW_HARDWARE: u8 = 16;
    pub const DCD_FLOW: u8 = 17;
    pub const DTR_FLOW: u8 = 18;
    pub const DSR_FLOW: u8 = 19;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse() {
        assert_eq!(parse(&[1, 0, 0, 0x4b, 0]), Ok(Request::SetBaud(19200)));
        assert_eq!(parse(&[0]), Ok(Request::Signature(vec![])));
        assert_eq!(parse(&[5, 5]), Ok(Request::SetControl(5)));
        assert_eq!(parse(&[12, 3]), Ok(Request::PurgeData(3)));
        assert_eq!(parse(&[8]), Ok(Request::FlowControlSuspend));
        assert_eq!(parse(&[]), Err(ParseError::Empty));
        assert_eq!(parse(&[13]), Err(ParseError::UnknownCommand(13)));
        assert_eq!(
            parse(&[1, 0]),
            Err(ParseError::BadLength { command: 1, len: 1 })
        );
        assert!(parse(&[2]).is_err() && parse(&[8, 1]).is_err());
    }

    #[test]
    fn replies_are_escaped_and_decode_back() {
        let mut out = Vec::new();
        reply(1, &255u32.to_be_bytes(), &mut out);
        assert_eq!(
            out,
            [255, 250, 44, 101, 0, 0, 0, 255, 255, 255, 240].to_vec()
        );
        let mut d = telnet::Decoder::new();
        let mut ev = Vec::new();
        d.feed(&out, &mut ev);
        assert_eq!(ev, vec![telnet::Event::Sub(44, vec![101, 0, 0, 0, 255])]);
    }
}
