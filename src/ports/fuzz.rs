//! Entry points of the console fuzz targets (`fuzz/`), also run over the seed
//! corpus by the unit tests so every CI run exercises them.
use super::telnet::{self, Decoder, Event, Negotiator, opt};
use super::{escape, rfc2217};

/// A client's Telnet stream in uneven pieces (the first byte picks the split):
/// events, negotiation answers and RFC 2217 requests, with no panic and bounded
/// output.
pub fn telnet(data: &[u8]) {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let step = usize::from(split % 13) + 1;
    let mut dec = Decoder::new();
    dec.set_translate_cr(split & 0x80 != 0);
    let mut neg = Negotiator::new(
        &[opt::BINARY, opt::SGA, opt::ECHO, opt::COM_PORT],
        &[opt::BINARY, opt::SGA, opt::NAWS, opt::COM_PORT],
    );
    let mut esc = escape::Escape::new(b'~');
    let mut events = Vec::new();
    let mut pieces = Vec::new();
    for piece in data.chunks(step) {
        events.clear();
        dec.feed(piece, &mut events);
        let mut reply = Vec::new();
        let mut data_len = 0;
        for e in &events {
            match e {
                Event::Data(d) => {
                    data_len += d.len();
                    esc.feed(d, &mut pieces);
                }
                Event::Will(o) => _ = neg.receive(telnet::WILL, *o, &mut reply),
                Event::Wont(o) => _ = neg.receive(telnet::WONT, *o, &mut reply),
                Event::Do(o) => _ = neg.receive(telnet::DO, *o, &mut reply),
                Event::Dont(o) => _ = neg.receive(telnet::DONT, *o, &mut reply),
                Event::Sub(o, payload) => {
                    assert!(payload.len() <= 1024);
                    if *o == rfc2217::OPTION {
                        let _ = rfc2217::parse(payload);
                    } else if *o == opt::NAWS {
                        let _ = telnet::naws(payload);
                    }
                }
                Event::Command(_) => {}
            }
        }
        // Data never grows in decoding, and each verb gets at most one answer.
        assert!(data_len <= piece.len() + 1);
        assert!(reply.len() <= 3 * events.len());
        pieces.clear();
    }
}

/// A COM-PORT-OPTION payload: parse, answer, and decode the answer back.
pub fn rfc2217(data: &[u8]) {
    if let Ok(req) = rfc2217::parse(data) {
        let (code, value) = data.split_first().unwrap_or((&0, &[]));
        let mut out = Vec::new();
        rfc2217::reply(*code, value, &mut out);
        let mut dec = Decoder::new();
        let mut events = Vec::new();
        dec.feed(&out, &mut events);
        let mut want = vec![code.saturating_add(100)];
        want.extend_from_slice(value);
        if want.len() <= 1024 {
            assert_eq!(events, vec![Event::Sub(rfc2217::OPTION, want)], "{req:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::seed_corpus as corpus;

    #[test]
    fn seed_corpus_telnet() {
        for input in corpus("telnet") {
            super::telnet(&input);
        }
    }

    #[test]
    fn seed_corpus_rfc2217() {
        for input in corpus("rfc2217") {
            super::rfc2217(&input);
        }
    }
}
