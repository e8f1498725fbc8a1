//! The probes of one link, sent out of its interface (SO_BINDTODEVICE)
//! whether or not it carries the traffic: ICMP or ICMPv6 echo over raw
//! sockets, or a TCP connect. Replies go to the manager as `Reply` values;
//! the decisions are `health::Link`'s.
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use super::icmp::{self, Echo, Family};

/// A probe that came back: to round `round`, from target `target`, of the
/// link whose prober has tag `tag`.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    pub tag: u64,
    pub round: u64,
    pub target: usize,
    pub at: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Icmp,
    Tcp(u16),
}

struct Raw {
    sock: Arc<UdpSocket>,
    reader: JoinHandle<()>,
}

impl Drop for Raw {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

pub struct Prober {
    tag: u64,
    ifname: String,
    method: Method,
    timeout: Duration,
    ident: u16,
    targets: Arc<parking_lot::RwLock<Vec<IpAddr>>>,
    v4: Option<Raw>,
    v6: Option<Raw>,
    tx: UnboundedSender<Reply>,
}

impl Prober {
    pub fn new(
        tag: u64,
        ifname: &str,
        method: Method,
        timeout: Duration,
        tx: UnboundedSender<Reply>,
    ) -> Prober {
        Prober {
            tag,
            ifname: ifname.to_string(),
            method,
            timeout,
            ident: rand::random(),
            targets: Arc::default(),
            v4: None,
            v6: None,
            tx,
        }
    }

    pub fn tag(&self) -> u64 {
        self.tag
    }

    /// The addresses probed (the configured targets, or the gateway in use).
    pub fn set_targets(&mut self, targets: Vec<IpAddr>) {
        *self.targets.write() = targets;
    }

    pub fn targets(&self) -> Vec<IpAddr> {
        self.targets.read().clone()
    }

    /// Sends round `round` to every target. Targets that cannot be sent to
    /// (no socket, no route) simply do not answer; the error is returned for
    /// the log.
    pub fn send_round(&mut self, round: u64) -> Result<(), String> {
        let targets = self.targets();
        let mut failed = None;
        for (i, t) in targets.iter().enumerate() {
            let r = match self.method {
                Method::Icmp => self.send_echo(round, i, *t),
                Method::Tcp(port) => {
                    self.connect(round, i, SocketAddr::new(*t, port));
                    Ok(())
                }
            };
            if let Err(e) = r {
                failed = Some(format!("probe to {t}: {e}"));
            }
        }
        failed.map_or(Ok(()), Err)
    }

    fn send_echo(&mut self, round: u64, target: usize, to: IpAddr) -> std::io::Result<()> {
        let family = if to.is_ipv4() { Family::V4 } else { Family::V6 };
        let slot = match family {
            Family::V4 => &mut self.v4,
            Family::V6 => &mut self.v6,
        };
        if slot.is_none() {
            *slot = Some(open_raw(
                family,
                &self.ifname,
                self.tag,
                self.ident,
                self.targets.clone(),
                self.tx.clone(),
            )?);
        }
        let raw = slot.as_ref().expect("opened above");
        let echo = Echo {
            ident: self.ident,
            round,
            target: target as u16,
        };
        let packet = icmp::request(family, echo);
        let dst = SocketAddr::new(to, 0);
        let r = match raw.sock.try_send_to(&packet, dst) {
            // A socket tokio has not yet seen writable (just opened) says
            // WouldBlock without trying: send on it directly.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                socket2::SockRef::from(&*raw.sock).send_to(&packet, &dst.into())
            }
            r => r,
        };
        if let Err(e) = &r
            && e.kind() != std::io::ErrorKind::WouldBlock
        {
            // The interface went away or changed: open afresh next round.
            if matches!(e.raw_os_error(), Some(libc::ENODEV) | Some(libc::ENXIO)) {
                *slot = None;
            }
        }
        r.map(|_| ())
    }

    fn connect(&self, round: u64, target: usize, to: SocketAddr) {
        let (tx, tag, ifname, timeout) =
            (self.tx.clone(), self.tag, self.ifname.clone(), self.timeout);
        tokio::spawn(async move {
            let s = match to {
                SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
                SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
            };
            let Ok(s) = s else { return };
            if s.bind_device(Some(ifname.as_bytes())).is_err() {
                return;
            }
            // A refusal is an answer: the host is there.
            let reached = match tokio::time::timeout(timeout, s.connect(to)).await {
                Ok(Ok(_)) => true,
                Ok(Err(e)) => e.kind() == std::io::ErrorKind::ConnectionRefused,
                Err(_) => false,
            };
            if reached {
                let _ = tx.send(Reply {
                    tag,
                    round,
                    target,
                    at: Instant::now(),
                });
            }
        });
    }
}

/// A raw ICMP socket bound to `ifname`, with a reader that passes our
/// replies on. The socket is driven as a `UdpSocket`: sendto and recvfrom
/// are the same calls on a raw socket.
fn open_raw(
    family: Family,
    ifname: &str,
    tag: u64,
    ident: u16,
    targets: Arc<parking_lot::RwLock<Vec<IpAddr>>>,
    tx: UnboundedSender<Reply>,
) -> std::io::Result<Raw> {
    let (domain, proto) = match family {
        Family::V4 => (Domain::IPV4, Protocol::ICMPV4),
        Family::V6 => (Domain::IPV6, Protocol::ICMPV6),
    };
    let s = Socket::new(domain, Type::RAW, Some(proto))?;
    s.bind_device(Some(ifname.as_bytes()))?;
    s.set_nonblocking(true)?;
    let sock = Arc::new(UdpSocket::from_std(std::net::UdpSocket::from(
        std::os::fd::OwnedFd::from(s),
    ))?);
    let rx = sock.clone();
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        loop {
            let Ok((n, from)) = rx.recv_from(&mut buf).await else {
                // The interface is gone; the prober opens a new socket.
                return;
            };
            let Some(e) = icmp::parse_reply(family, &buf[..n]) else {
                continue;
            };
            let target = usize::from(e.target);
            let ours =
                e.ident == ident && targets.read().get(target).is_some_and(|t| *t == from.ip());
            if ours
                && tx
                    .send(Reply {
                        tag,
                        round: e.round,
                        target,
                        at: Instant::now(),
                    })
                    .is_err()
            {
                return;
            }
        }
    });
    Ok(Raw { sock, reader })
}
