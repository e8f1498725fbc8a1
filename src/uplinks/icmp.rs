//! ICMP and ICMPv6 echo, sans-IO: the request a probe sends and the parse of
//! what a raw socket receives. A reply is ours only if its identifier, magic
//! and checksum match; everything else on the wire (other programs' pings,
//! errors, forgeries) is `None`, never a panic.

/// Marks our probes' payloads.
const MAGIC: &[u8; 4] = b"llpr";
/// Echo header plus magic, round and target.
const LEN: usize = 8 + 4 + 8 + 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

/// A probe's identity inside its echo payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Echo {
    pub ident: u16,
    pub round: u64,
    pub target: u16,
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The echo request for `echo`. ICMPv6's checksum covers a pseudo-header the
/// kernel fills in for raw ICMPv6 sockets, so it is left zero there.
pub fn request(family: Family, echo: Echo) -> Vec<u8> {
    let mut b = Vec::with_capacity(LEN);
    b.push(match family {
        Family::V4 => 8,
        Family::V6 => 128,
    });
    b.push(0);
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&echo.ident.to_be_bytes());
    b.extend_from_slice(&(echo.round as u16).to_be_bytes());
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&echo.round.to_be_bytes());
    b.extend_from_slice(&echo.target.to_be_bytes());
    if family == Family::V4 {
        let c = checksum(&b);
        b[2..4].copy_from_slice(&c.to_be_bytes());
    }
    b
}

/// Parses what a raw socket of `family` received: an IPv4 packet (header
/// included, as raw IPv4 sockets deliver it) or an ICMPv6 message.
pub fn parse_reply(family: Family, packet: &[u8]) -> Option<Echo> {
    let msg = match family {
        Family::V4 => {
            let first = *packet.first()?;
            if first >> 4 != 4 {
                return None;
            }
            let ihl = usize::from(first & 0x0f) * 4;
            if ihl < 20 {
                return None;
            }
            let total = usize::from(u16::from_be_bytes([*packet.get(2)?, *packet.get(3)?]));
            let msg = packet.get(ihl..total.min(packet.len()))?;
            if checksum(msg) != 0 {
                return None;
            }
            msg
        }
        // The kernel checks ICMPv6 checksums before delivery.
        Family::V6 => packet,
    };
    let want = match family {
        Family::V4 => 0,
        Family::V6 => 129,
    };
    if msg.len() < LEN || msg[0] != want || msg[1] != 0 || &msg[8..12] != MAGIC {
        return None;
    }
    let ident = u16::from_be_bytes([msg[4], msg[5]]);
    let round = u64::from_be_bytes(msg[12..20].try_into().ok()?);
    let target = u16::from_be_bytes([msg[20], msg[21]]);
    (u16::from_be_bytes([msg[6], msg[7]]) == round as u16).then_some(Echo {
        ident,
        round,
        target,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a peer does: swap the type, fix the checksum, prepend an IPv4
    /// header.
    fn reply_v4(req: &[u8]) -> Vec<u8> {
        let mut m = req.to_vec();
        m[0] = 0;
        m[2..4].copy_from_slice(&[0, 0]);
        let c = checksum(&m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        let total = (20 + m.len()) as u16;
        let mut p = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&m);
        p
    }

    #[test]
    fn a_reply_to_our_request_parses_back_and_anything_else_does_not() {
        let e = Echo {
            ident: 0x1234,
            round: 0x1_0000_0007,
            target: 3,
        };
        let req = request(Family::V4, e);
        assert_eq!(checksum(&req), 0);
        let rep = reply_v4(&req);
        assert_eq!(parse_reply(Family::V4, &rep), Some(e));
        // Our own request looped back is not a reply.
        let mut own = rep.clone();
        own[20] = 8;
        assert_eq!(parse_reply(Family::V4, &own), None);
        // A flipped bit fails the checksum.
        let mut bad = rep.clone();
        bad[30] ^= 1;
        assert_eq!(parse_reply(Family::V4, &bad), None);
        for n in 0..rep.len() {
            assert_eq!(parse_reply(Family::V4, &rep[..n]), None, "{n}");
        }
        let mut v6 = request(Family::V6, e);
        v6[0] = 129;
        assert_eq!(parse_reply(Family::V6, &v6), Some(e));
        assert_eq!(parse_reply(Family::V6, &v6[..10]), None);
    }
}

#[cfg(test)]
mod corpus {
    use super::*;

    #[test]
    fn seed_corpus_runs_clean() {
        let seeds = crate::seed_corpus("uplinks_icmp");
        assert!(!seeds.is_empty());
        assert!(seeds.iter().any(|s| parse_reply(Family::V4, s).is_some()));
        for s in seeds {
            let _ = parse_reply(Family::V4, &s);
            let _ = parse_reply(Family::V6, &s);
        }
    }
}
