//! The notification originator (RFC 3413): every event of the bus, coldStart,
//! warmStart, authenticationFailure and linkUp/linkDown, sent to each target the
//! `ietf-snmp` notify config tags, as v1 traps, v2c traps or informs, or v3
//! traps with USM, after the target's VACM notify view allows them.
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::oneshot;

use super::agent::{Agent, Runtime, Seal, Stat};
use super::ber::{Oid, Value};
use super::catalog;
use super::config::{Level, MODEL_USM, MODEL_V1, MODEL_V2C, Params, Target};
use super::message::{self, Pdu, PduType, TrapV1};
use super::usm;
use crate::events::{Event, EventBus};

const SNMP_TRAPS: &[u32] = &[1, 3, 6, 1, 6, 3, 1, 1, 5];
const SYS_UPTIME_0: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 3, 0];
const SNMP_TRAP_OID_0: &[u32] = &[1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0];

/// A notification before it is shaped for a target.
#[derive(Clone)]
pub struct Notification {
    pub trap_oid: Oid,
    pub varbinds: Vec<(Oid, Value)>,
    /// v1: generic-trap (0..5, 6 for enterprise-specific) and specific-trap.
    pub generic: i32,
    pub specific: i32,
    pub enterprise: Oid,
}

impl Notification {
    /// One of the generic traps of RFC 3418 (coldStart = 0 ... linkUp = 3 ...).
    pub fn generic(n: u32, varbinds: Vec<(Oid, Value)>) -> Notification {
        Notification {
            trap_oid: Oid(SNMP_TRAPS.to_vec()).child(&[n + 1]),
            varbinds,
            generic: n as i32,
            specific: 0,
            enterprise: Oid(catalog::SYS_OBJECT_ID.to_vec()),
        }
    }

    /// LIFELINE-MIB's notification for an event of the bus: one per kind
    /// (`lifelineNotifications.N`), or `llNotifyOther` with the notification's
    /// name for kinds of modules loaded at run time. The details are the
    /// event's fields, whatever the kind.
    pub fn event(e: &Event) -> Notification {
        let n = e.kind.mib_number().unwrap_or(catalog::OTHER_NOTIFICATION);
        let obj = |i: u32| Oid(catalog::EVENT_OBJECTS.to_vec()).child(&[i, 0]);
        let mut varbinds = vec![
            (obj(1), Value::Integer(e.severity as i32 + 1)),
            (obj(2), Value::octets(&clip(&e.source))),
            (obj(3), Value::octets(&clip(&e.message))),
            (obj(4), Value::octets(&clip(&e.details()))),
            (obj(5), Value::Gauge32(e.seq as u32)),
        ];
        if e.kind.mib_number().is_none() {
            varbinds.push((obj(6), Value::octets(&clip(e.notification))));
        }
        Notification {
            trap_oid: Oid(catalog::NOTIFICATIONS.to_vec()).child(&[n]),
            varbinds,
            generic: 6,
            specific: n as i32,
            enterprise: Oid(catalog::NOTIFICATIONS[..catalog::NOTIFICATIONS.len() - 1].to_vec()),
        }
    }
}

/// SnmpAdminString is at most 255 octets.
fn clip(s: &str) -> String {
    let mut end = s.len().min(255);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

struct Inner {
    agent: Arc<Agent>,
    sock: tokio::sync::OnceCell<Arc<UdpSocket>>,
    pending: Mutex<HashMap<i32, oneshot::Sender<Vec<u8>>>>,
    next_id: AtomicI32,
    rt: tokio::runtime::Handle,
}

#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

impl Notifier {
    pub fn new(agent: Arc<Agent>, events: EventBus, rt: tokio::runtime::Handle) -> Notifier {
        let inner = Arc::new(Inner {
            agent,
            sock: tokio::sync::OnceCell::new(),
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicI32::new(rand::random::<i32>() & 0x3fff_ffff),
            rt: rt.clone(),
        });
        let me = Notifier { inner };
        let n = me.clone();
        let mut rx = events.subscribe();
        rt.spawn(async move {
            loop {
                match rx.recv().await {
                    // A rule's notification goes to its notify tag only.
                    Ok(e) if e.kind == crate::events::EventKind::RuleNotification => {
                        let tag = e.text("tag").unwrap_or_default();
                        n.send_tagged(Notification::event(&e), Some(&tag));
                    }
                    Ok(e) => n.send(Notification::event(&e)),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                }
            }
        });
        me
    }

    /// The agent's configuration was applied: coldStart at the first start,
    /// warmStart after a change.
    pub fn reconfigured(&self, first: bool) {
        self.send(Notification::generic(if first { 0 } else { 1 }, Vec::new()));
    }

    pub fn authentication_failure(&self) {
        let rt = self.inner.agent.runtime.read().clone();
        if rt.config.authen_traps {
            self.send(Notification::generic(4, Vec::new()));
        }
    }

    /// linkDown (up = false) or linkUp of the interface with this ifIndex.
    pub fn link(&self, if_index: u32, up: bool, admin_up: bool) {
        let col = |c: u32| {
            Oid(catalog::IF_INDEX[..catalog::IF_INDEX.len() - 1].to_vec()).child(&[c, if_index])
        };
        self.send(Notification::generic(
            if up { 3 } else { 2 },
            vec![
                (col(1), Value::Integer(if_index as i32)),
                (col(7), Value::Integer(if admin_up { 1 } else { 2 })),
                (col(8), Value::Integer(if up { 1 } else { 2 })),
            ],
        ));
    }

    /// Sends `n` to every target that the notify config selects.
    pub fn send(&self, n: Notification) {
        self.send_tagged(n, None);
    }

    /// Sends `n` to the targets of the notify entries with tag `only` (all
    /// notify entries without one), as traps or informs as they say.
    pub fn send_tagged(&self, n: Notification, only: Option<&str>) {
        let rt = self.inner.agent.runtime.read().clone();
        if !rt.config.enabled || rt.config.targets.is_empty() {
            return;
        }
        for t in &rt.config.targets {
            let kinds: Vec<bool> = rt
                .config
                .notifies
                .iter()
                .filter(|nf| t.tags.contains(&nf.tag) && only.is_none_or(|o| o == nf.tag))
                .map(|nf| nf.inform)
                .collect();
            if kinds.is_empty() {
                continue;
            }
            let inform = kinds.contains(&true);
            let me = self.clone();
            let (rt2, t2, n2) = (rt.clone(), t.clone(), n.clone());
            self.inner.rt.spawn(async move {
                me.to_target(&rt2, &t2, &n2, inform).await;
            });
        }
    }

    async fn socket(&self) -> Option<Arc<UdpSocket>> {
        let inner = self.inner.clone();
        self.inner
            .sock
            .get_or_try_init(|| async move {
                let s = match UdpSocket::bind("[::]:0").await {
                    Ok(s) => s,
                    Err(_) => UdpSocket::bind("0.0.0.0:0").await?,
                };
                let s = Arc::new(s);
                let r = s.clone();
                let weak = Arc::downgrade(&inner);
                inner.rt.spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    while let Ok((n, _)) = r.recv_from(&mut buf).await {
                        let Some(inner) = weak.upgrade() else { return };
                        if let Some(id) = response_id(&buf[..n])
                            && let Some(tx) = inner.pending.lock().unwrap().remove(&id)
                        {
                            let _ = tx.send(buf[..n].to_vec());
                        }
                    }
                });
                Ok::<_, std::io::Error>(s)
            })
            .await
            .ok()
            .cloned()
    }

    async fn to_target(&self, rt: &Runtime, t: &Target, n: &Notification, inform: bool) {
        let cfg = &rt.config;
        let Some(params) = cfg.params.get(&t.params) else {
            return;
        };
        let (model, name, level) = match params {
            Params::V1(s) => (MODEL_V1, s.as_str(), Level::NoAuthNoPriv),
            Params::V2c(s) => (MODEL_V2C, s.as_str(), Level::NoAuthNoPriv),
            Params::Usm { user, level } => (MODEL_USM, user.as_str(), *level),
        };
        let allowed = cfg
            .vacm
            .resolve(model, name, level, "")
            .ok()
            .and_then(|v| v.notify)
            .is_some_and(|v| {
                v.contains(&n.trap_oid.0) && n.varbinds.iter().all(|(o, _)| v.contains(&o.0))
            });
        if !allowed {
            tracing::debug!("snmp: {} not in the notify view of {}", n.trap_oid, t.name);
            return;
        }
        let Some(sock) = self.socket().await else {
            return;
        };
        let agent = &self.inner.agent;
        let community = || {
            cfg.communities
                .iter()
                .find(|c| c.security_name == name)
                .map(|c| c.name.clone())
                .unwrap_or_else(|| name.as_bytes().to_vec())
        };
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed) & 0x7fff_ffff;
        let mut vbs = vec![
            (
                Oid(SYS_UPTIME_0.to_vec()),
                Value::TimeTicks(agent.uptime_centis()),
            ),
            (
                Oid(SNMP_TRAP_OID_0.to_vec()),
                Value::ObjectId(n.trap_oid.clone()),
            ),
        ];
        vbs.extend(n.varbinds.iter().cloned());
        let pdu = Pdu {
            kind: if inform {
                PduType::Inform
            } else {
                PduType::TrapV2
            },
            request_id: id,
            error_status: 0,
            error_index: 0,
            varbinds: vbs,
        };
        let bytes = match params {
            Params::V1(_) => {
                let agent_addr = match t.addr.ip() {
                    IpAddr::V4(a) if a.is_loopback() => a.octets(),
                    IpAddr::V6(a) if a.is_loopback() => [127, 0, 0, 1],
                    _ => [0, 0, 0, 0],
                };
                let trap = TrapV1 {
                    enterprise: n.enterprise.clone(),
                    agent_addr,
                    generic: n.generic,
                    specific: n.specific,
                    timestamp: agent.uptime_centis(),
                    varbinds: n.varbinds.clone(),
                };
                let _ = sock
                    .send_to(&message::encode_trap_v1(&community(), &trap), t.addr)
                    .await;
                agent.count(Stat::TrapsSent);
                return;
            }
            Params::V2c(_) => message::encode_community(message::V2C, &community(), &pdu),
            Params::Usm { user, level } => {
                if inform {
                    self.v3_inform(&sock, rt, t, user, *level, pdu).await;
                    return;
                }
                let Some(u) = cfg.users.get(user.as_bytes()) else {
                    return;
                };
                let ours = Authority {
                    engine: &rt.engine_id,
                    boots: agent.boots,
                    time: agent.engine_time(),
                };
                let Some(b) = v3_message(u, *level, &pdu, &rt.engine_id, &ours) else {
                    return;
                };
                let _ = sock.send_to(&b, t.addr).await;
                agent.count(Stat::TrapsSent);
                return;
            }
        };
        agent.count(Stat::TrapsSent);
        if !inform {
            let _ = sock.send_to(&bytes, t.addr).await;
            return;
        }
        if self
            .exchange(&sock, t, id, || bytes.clone())
            .await
            .is_none()
        {
            agent.count(Stat::InformsUnacknowledged);
            tracing::info!("snmp: inform {} to {} not acknowledged", n.trap_oid, t.name);
        }
    }

    /// Sends what `make` builds until an answer with this id comes, as the
    /// target's timeout and retries say.
    async fn exchange(
        &self,
        sock: &UdpSocket,
        t: &Target,
        id: i32,
        mut make: impl FnMut() -> Vec<u8>,
    ) -> Option<Vec<u8>> {
        let wait = Duration::from_millis(t.timeout_cs.max(1) as u64 * 10);
        for _ in 0..=t.retries {
            let (tx, rx) = oneshot::channel();
            self.inner.pending.lock().unwrap().insert(id, tx);
            let _ = sock.send_to(&make(), t.addr).await;
            if let Ok(Ok(answer)) = tokio::time::timeout(wait, rx).await {
                return Some(answer);
            }
        }
        self.inner.pending.lock().unwrap().remove(&id);
        None
    }

    /// A v3 inform: the receiver is the authoritative engine, so it is
    /// discovered first (RFC 3414 4) and the user's keys are those configured
    /// for that engine under `usm/remote`.
    async fn v3_inform(
        &self,
        sock: &UdpSocket,
        rt: &Runtime,
        t: &Target,
        user: &str,
        level: Level,
        pdu: Pdu,
    ) {
        let agent = &self.inner.agent;
        agent.count(Stat::TrapsSent);
        let probe_id = self.inner.next_id.fetch_add(1, Ordering::Relaxed) & 0x7fff_ffff;
        let probe = message::discovery_probe(probe_id);
        let Some(report) = self.exchange(sock, t, probe_id, || probe.clone()).await else {
            agent.count(Stat::InformsUnacknowledged);
            tracing::info!("snmp: {} did not answer engine discovery", t.name);
            return;
        };
        let Ok(message::Message::V3(m)) = message::decode(&report) else {
            return;
        };
        let (engine, boots, time) = (
            m.usm.engine_id.to_vec(),
            m.usm.boots as u32,
            m.usm.time as u32,
        );
        let Some(u) = rt
            .config
            .remote_users
            .get(&engine)
            .and_then(|users| users.get(user.as_bytes()))
        else {
            agent.count(Stat::InformsUnacknowledged);
            tracing::info!(
                "snmp: no user {user} for engine {} of {} (usm/remote)",
                usm::to_hex(&engine),
                t.name
            );
            return;
        };
        let found = std::time::Instant::now();
        let id = pdu.request_id;
        let ok = self
            .exchange(sock, t, id, || {
                let remote = Authority {
                    engine: &engine,
                    boots,
                    time: time.saturating_add(found.elapsed().as_secs() as u32),
                };
                v3_message(u, level, &pdu, &rt.engine_id, &remote).unwrap_or_default()
            })
            .await;
        if ok.is_none() {
            agent.count(Stat::InformsUnacknowledged);
            tracing::info!("snmp: v3 inform to {} not acknowledged", t.name);
        }
    }
}

/// The authoritative engine of a v3 message: us for traps, the receiver for informs.
struct Authority<'a> {
    engine: &'a [u8],
    boots: u32,
    time: u32,
}

/// A v3 notification message with USM.
fn v3_message(
    user: &super::config::User,
    level: Level,
    pdu: &Pdu,
    context_engine: &[u8],
    auth_engine: &Authority<'_>,
) -> Option<Vec<u8>> {
    if level > user.level() {
        return None;
    }
    let scoped = message::encode_scoped(context_engine, b"", pdu);
    let seal = Seal {
        user,
        level,
        msg_id: pdu.request_id,
        flags: if pdu.kind == PduType::Inform {
            message::FLAG_REPORTABLE
        } else {
            0
        },
        engine: auth_engine.engine,
        boots: auth_engine.boots,
        time: auth_engine.time,
        salt: rand::random(),
    };
    Some(super::agent::seal(&seal, &scoped))
}

/// What an answer answers: a v2c Response's request-id, a v3 message's msgID
/// (the notifier uses the same number for both).
fn response_id(b: &[u8]) -> Option<i32> {
    match message::decode(b).ok()? {
        message::Message::Community(c) if c.pdu.kind == PduType::Response => Some(c.pdu.request_id),
        message::Message::V3(m) => Some(m.msg_id),
        _ => None,
    }
}

/// Watches the host's links and sends linkUp/linkDown when one changes.
pub fn watch_links(n: Notifier, ds: crate::datastore::Handle) {
    let rt = n.inner.rt.clone();
    rt.spawn(async move {
        let mut last: HashMap<String, (u32, bool)> = HashMap::new();
        let mut first = true;
        loop {
            // Nothing to read while nobody would be told; the first look after
            // a target appears sets the baseline.
            let listening = {
                let rt = n.inner.agent.runtime.read().clone();
                rt.config.enabled && !rt.config.targets.is_empty()
            };
            if !listening {
                last.clear();
                first = true;
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
            let ds2 = ds.clone();
            let entries = tokio::task::spawn_blocking(move || {
                ds2.registry().read_all(
                    "/ietf-interfaces:interfaces-state/interface",
                    crate::service::state::Select::All,
                )
            })
            .await
            .unwrap_or_default();
            let mut seen: HashMap<String, (Option<u32>, Option<bool>, bool)> = HashMap::new();
            for e in entries {
                let Some(name) = e.get("name").and_then(|v| v.as_str()) else {
                    continue;
                };
                seen.insert(
                    name.to_string(),
                    (
                        e.get("if-index").and_then(|v| v.as_u64()).map(|v| v as u32),
                        e.get("oper-status")
                            .and_then(|v| v.as_str())
                            .map(|v| v == "up"),
                        e.get("admin-status").and_then(|v| v.as_str()) == Some("up"),
                    ),
                );
            }
            for (name, (index, up, admin)) in seen {
                let (Some(index), Some(up)) = (index, up) else {
                    continue;
                };
                let before = last.insert(name, (index, up));
                if !first && before.is_some_and(|(_, was)| was != up) {
                    n.link(index, up, admin);
                }
            }
            first = false;
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_char_boundaries() {
        assert_eq!(clip(&"é".repeat(200)).len(), 254);
        assert_eq!(clip("short"), "short");
    }

    #[test]
    fn event_notifications_are_numbered_by_kind() {
        #[derive(serde::Serialize)]
        struct P {
            pattern: &'static str,
        }
        impl crate::events::Payload for P {
            const KIND: crate::events::EventKind = crate::events::EventKind::PortAlertMatch;
            const NOTIFICATION: &'static str = "lifeline-ports:port-alert-match";
        }
        let bus = EventBus::new(4);
        let e = bus.emit(
            crate::events::Severity::Warning,
            "ports/port01",
            "pattern",
            &P { pattern: "x" },
        );
        let n = Notification::event(&e);
        assert_eq!(
            n.trap_oid.to_string(),
            "1.3.6.1.4.1.8072.9999.9999.5433.0.13"
        );
        assert_eq!(n.varbinds[0].1, Value::Integer(5));
        assert_eq!(n.varbinds[3].1, Value::octets("pattern=x"));
    }
}
