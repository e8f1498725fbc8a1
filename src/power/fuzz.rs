//! Entry points of the power fuzz targets (`fuzz/`), also run over their seed
//! corpora by the unit tests: whatever a device sends, through the real
//! clients (NUT, Powerman) over an in-memory connection, and any datagram
//! through the SNMP manager. A device may only cause an error, never a panic
//! or a hang.
use std::collections::HashSet;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::config::{AuthProtocol, PrivProtocol, Profile as ProfileKind, SnmpPdu, Version};
use super::snmp_pdu::{Manager, Opened, Profile};
use super::{device, nut, powerman};

/// A device that answers with `data`, in pieces, whatever it is sent.
struct Replay {
    data: Vec<u8>,
    at: usize,
}

impl AsyncRead for Replay {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        // Odd-sized pieces, so lines and prompts straddle reads.
        let n = (self.data.len() - self.at).min(buf.remaining()).min(61);
        let at = self.at;
        buf.put_slice(&self.data[at..at + n]);
        self.at += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Replay {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        b: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(Ok(b.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn replay(data: &[u8]) -> Box<Replay> {
    Box::new(Replay {
        data: data.to_vec(),
        at: 0,
    })
}

/// One runtime for every input. The connection never makes a client wait, so
/// only a tracking poll could sleep: the fuzz targets give it no time.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
    })
    .block_on(f)
}

const WAIT: Duration = Duration::from_secs(5);

/// What upsd might say to a poll and an outlet command.
pub fn nut(data: &[u8]) {
    block_on(async {
        let mut c = nut::Client::new(replay(data), WAIT);
        let _ = c.login("admin", "secret").await;
        let vars = c.vars("ups").await.unwrap_or_default();
        let commands: HashSet<String> = c
            .commands("ups")
            .await
            .unwrap_or_default()
            .into_iter()
            .collect();
        let _ = device::nut_reading(&vars, &commands);
        let _ = c
            .instcmd("ups", "outlet.1.load.cycle", Duration::ZERO)
            .await;
    })
}

/// What powermand might say to a start, a status and a cycle.
pub fn powerman(data: &[u8]) {
    block_on(async {
        let Ok(mut c) = powerman::Client::start(replay(data), WAIT).await else {
            return;
        };
        let _ = c.status().await;
        let _ = c.switch("cycle", "t1").await;
    })
}

fn pdu(version: Version) -> SnmpPdu {
    apc(version, "pdu", "pduauthpass", "pduprivpass")
}

/// An APC PDU on loopback: the fuzz targets' and the unit tests' device.
pub(crate) fn apc(version: Version, user: &str, auth: &str, privacy: &str) -> SnmpPdu {
    SnmpPdu {
        host: "127.0.0.1".into(),
        port: 161,
        version,
        community: "private".into(),
        user: Some(user.into()),
        context: String::new(),
        auth_protocol: AuthProtocol::Sha,
        auth_key: Some(auth.into()),
        priv_protocol: PrivProtocol::Aes,
        priv_key: Some(privacy.into()),
        timeout: 1000,
        retries: 1,
        profile: ProfileKind::ApcRpdu,
        control_oid: None,
        state_oid: None,
        name_oid: None,
        on_value: None,
        off_value: None,
        cycle_value: None,
    }
}

/// Any datagram as the answer to request 1 of a v2c manager and, after a
/// discovery report (the first datagram, its length in the first two
/// bytes), of a v3 authPriv manager.
pub fn snmp_manager(data: &[u8]) {
    let profile = Profile::of(&pdu(Version::V2c)).expect("the APC profile");
    let read = |o: Option<Opened>| {
        if let Some(Opened::Response(p)) = o {
            for (_, v) in &p.varbinds {
                let _ = profile.state_of(v);
            }
        }
    };
    let mut m = Manager::new(&pdu(Version::V2c)).expect("a v2c manager");
    read(m.open(data, 1).unwrap_or(None));

    let mut m = Manager::new(&pdu(Version::V3)).expect("a v3 manager");
    let (first, rest) = match data {
        [a, b, rest @ ..] => {
            rest.split_at((usize::from(*a) << 8 | usize::from(*b)).min(rest.len()))
        }
        _ => (data, &[][..]),
    };
    read(m.open(first, 1).unwrap_or(None));
    read(m.open(rest, 1).unwrap_or(None));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed_corpus as corpus;

    #[test]
    fn seed_corpora_run_clean() {
        for input in corpus("power_nut") {
            nut(&input);
        }
        for input in corpus("power_powerman") {
            powerman(&input);
        }
        for input in corpus("power_snmp_manager") {
            snmp_manager(&input);
        }
    }

    fn seed(target: &str, name: &str) -> Vec<u8> {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fuzz/corpus")
                .join(target)
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn powerman_and_snmp_seeds_reach_the_answers() {
        let s = seed("power_powerman", "session");
        block_on(async {
            let mut c = powerman::Client::start(replay(&s), WAIT).await.unwrap();
            let states = c.status().await.unwrap();
            assert_eq!(states["t2"], crate::power::OutletState::Off);
            c.switch("cycle", "t1").await.unwrap();
        });
        let mut m = Manager::new(&pdu(Version::V2c)).unwrap();
        let s = seed("power_snmp_manager", "v2c_response");
        assert!(matches!(m.open(&s, 1), Ok(Some(Opened::Response(p))) if p.varbinds.len() == 3));
        let mut m = Manager::new(&pdu(Version::V3)).unwrap();
        let s = seed("power_snmp_manager", "v3_discovery");
        let first = usize::from(s[0]) << 8 | usize::from(s[1]);
        assert!(matches!(
            m.open(&s[2..2 + first], 1),
            Ok(Some(Opened::Resync))
        ));
    }

    #[test]
    fn nut_seed_reaches_the_reading() {
        // The seed is a whole good session: if the client stopped early, the
        // fuzzer would be exploring little.
        let seed = seed("power_nut", "session");
        block_on(async {
            let mut c = nut::Client::new(replay(&seed), WAIT);
            c.login("admin", "secret").await.unwrap();
            let vars = c.vars("ups").await.unwrap();
            assert!(vars.iter().any(|(k, v)| k == "ups.status" && v == "OL"));
            c.commands("ups").await.unwrap();
            let pending_once = Duration::from_millis(150);
            c.instcmd("ups", "outlet.1.load.cycle", pending_once)
                .await
                .unwrap();
        });
    }
}
