//! The SNMP agent: v1, v2c and v3 (USM) on UDP, configured through `ietf-snmp`,
//! serving a snapshot of the model through the MIB catalog, writing through the
//! datastore, and sending the event bus as traps and informs.
pub mod agent;
pub mod ber;
pub mod catalog;
pub mod config;
pub mod fuzz;
pub mod message;
pub mod mib;
pub mod notify;
pub mod usm;
pub mod vacm;

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket as StdUdp};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use self::agent::{Agent, Edit, Outcome, Runtime, STAT_OIDS, SetFailure, Stat};
use self::ber::{Oid, Value};
use self::message::ErrorStatus;
use self::mib::{Cell, Live, Snapshot};
use crate::datastore::{CommitOptions, Face, Handle, Workspace};
use crate::events::EventKind;
use crate::service::{CommitView, Prepared, Refusal, Service, StateEntries, StateQuery};

/// How long a snapshot of the model answers requests before it is rebuilt.
const SNAPSHOT_TTL: Duration = Duration::from_secs(1);

/// The model's top-level nodes the MIB catalog reads.
const TOPS: &[&str] = &[
    "/ietf-system:",
    "/ietf-snmp:",
    "/ietf-interfaces:",
    "/lifeline-ports:",
    "/lifeline-power:",
    "/lifeline-uplinks:",
    "/lifeline-auto-response:",
    "/lifeline-host:",
];

/// The engine's identity kept across restarts: a generated engine ID and the
/// boot counter (RFC 3414 needs snmpEngineBoots to grow at every start).
fn engine_state(dir: &Path) -> std::io::Result<(Vec<u8>, u32)> {
    let path = dir.join("snmp-engine");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut words = text.split_whitespace();
    let id = words
        .next()
        .and_then(usm::parse_hex)
        .filter(|id| (5..=32).contains(&id.len()))
        .unwrap_or_else(|| {
            // RFC 3411 format 5 (octets) under enterprise 8072.
            let mut id = vec![0x80, 0x00, 0x1f, 0x88, 0x05];
            id.extend(rand::random::<[u8; 8]>());
            id
        });
    let boots = words
        .next()
        .and_then(|b| b.parse::<u32>().ok())
        .unwrap_or(0)
        .saturating_add(1)
        .min(i32::MAX as u32 - 1);
    crate::datastore::persist::write_atomic(
        &path,
        format!("{} {boots}\n", usm::to_hex(&id).replace(':', "")).as_bytes(),
    )?;
    Ok((id, boots))
}

struct Shared {
    agent: Arc<Agent>,
    ds: Handle,
    generated_id: Vec<u8>,
    /// When the snapshot was built, in ms since the agent started (0: never).
    built_at: AtomicU64,
    rebuild: tokio::sync::Mutex<()>,
    sockets: Mutex<HashMap<SocketAddr, Vec<JoinHandle<()>>>>,
    notifier: notify::Notifier,
    sys_descr: String,
}

/// The agent as a service of the `ietf-snmp` subtree, and its UDP face.
pub struct SnmpService {
    shared: Arc<Shared>,
    rt: tokio::runtime::Handle,
}

impl SnmpService {
    pub fn new(
        ds: Handle,
        state_dir: &Path,
        rt: tokio::runtime::Handle,
    ) -> std::io::Result<SnmpService> {
        let (generated_id, boots) = engine_state(state_dir)?;
        let agent = Arc::new(Agent::new(
            Runtime {
                config: Default::default(),
                engine_id: generated_id.clone(),
            },
            boots,
        ));
        let notifier = notify::Notifier::new(agent.clone(), ds.events.clone(), rt.clone());
        let shared = Arc::new(Shared {
            agent,
            ds,
            generated_id,
            built_at: AtomicU64::new(0),
            rebuild: tokio::sync::Mutex::new(()),
            sockets: Mutex::new(HashMap::new()),
            notifier,
            sys_descr: sys_descr(),
        });
        // Any commit may change what the MIB shows: the next request rebuilds.
        let weak = Arc::downgrade(&shared);
        let mut rx = shared.ds.events.subscribe();
        rt.spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(e) if e.kind == EventKind::ConfigChanged => {}
                    Ok(_) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return,
                }
                match weak.upgrade() {
                    Some(s) => s.built_at.store(0, Ordering::Relaxed),
                    None => return,
                }
            }
        });
        Ok(SnmpService { shared, rt })
    }

    pub fn notifier(&self) -> notify::Notifier {
        self.shared.notifier.clone()
    }
}

fn sys_descr() -> String {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "lifeline {} out-of-band appliance, Linux {} {}",
        env!("CARGO_PKG_VERSION"),
        release.trim(),
        std::env::consts::ARCH
    )
}

fn bind(addr: SocketAddr) -> std::io::Result<StdUdp> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        // `::` serves IPv4 too.
        s.set_only_v6(!addr.ip().is_unspecified())?;
    }
    let _ = s.set_recv_buffer_size(1 << 20);
    s.bind(&addr.into())?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

impl Shared {
    fn millis(&self) -> u64 {
        self.agent.start.elapsed().as_millis() as u64 + 1
    }

    /// Makes sure the snapshot is fresh enough to answer from.
    async fn fresh(&self) {
        let ttl = SNAPSHOT_TTL.as_millis() as u64;
        let stale = |s: &Shared| {
            let at = s.built_at.load(Ordering::Relaxed);
            at == 0 || s.millis().saturating_sub(at) > ttl
        };
        if !stale(self) {
            return;
        }
        let _guard = self.rebuild.lock().await;
        if !stale(self) {
            return;
        }
        let started = self.millis();
        let built = self
            .ds
            .call(|a| {
                let t = a.operational_tops(TOPS);
                let mut snap = Snapshot::default();
                mib::fill(&mut snap, &t, catalog::SCALARS, catalog::TABLES);
                snap
            })
            .await;
        if let Ok(mut snap) = built {
            self.add_own(&mut snap);
            *self.agent.snapshot.write().unwrap() = Arc::new(snap);
            self.built_at.store(started, Ordering::Relaxed);
        }
    }

    /// The agent's own objects: system, counters, the engine.
    fn add_own(&self, snap: &mut Snapshot) {
        let v = |v: Value| Cell::Value(v);
        let o = |s: &[u32]| Oid(s.to_vec());
        let sys = catalog::SYSTEM;
        let engine = o(&[1, 3, 6, 1, 6, 3, 10, 2, 1]);
        let rt = self.agent.runtime.read().unwrap().clone();
        let mut own = vec![
            (o(sys).child(&[1, 0]), v(Value::octets(&self.sys_descr))),
            (
                o(sys).child(&[2, 0]),
                v(Value::ObjectId(o(catalog::SYS_OBJECT_ID))),
            ),
            (o(sys).child(&[3, 0]), Cell::Live(Live::SysUpTime)),
            (o(sys).child(&[7, 0]), v(Value::Integer(72))),
            (o(sys).child(&[8, 0]), v(Value::TimeTicks(0))),
            (
                engine.child(&[1, 0]),
                v(Value::OctetString(rt.engine_id.clone())),
            ),
            (
                engine.child(&[2, 0]),
                v(Value::Integer(self.agent.boots as i32)),
            ),
            (engine.child(&[3, 0]), Cell::Live(Live::EngineTime)),
            (
                engine.child(&[4, 0]),
                v(Value::Integer(agent::MAX_MESSAGE as i32)),
            ),
        ];
        for (i, (id, descr)) in SYS_OR.iter().enumerate() {
            let n = i as u32 + 1;
            own.push((o(sys).child(&[9, 1, 2, n]), v(Value::ObjectId(o(id)))));
            own.push((o(sys).child(&[9, 1, 3, n]), v(Value::octets(descr))));
            own.push((o(sys).child(&[9, 1, 4, n]), v(Value::TimeTicks(0))));
        }
        for (stat, oid) in STAT_OIDS {
            own.push((o(oid).child(&[0]), Cell::Live(Live::Stat(*stat as usize))));
        }
        // Each object's type is its OID without the last sub-identifier (the
        // `.0` of a scalar, the row index of sysORTable).
        for (oid, cell) in own {
            snap.add_type(&oid.0[..oid.0.len() - 1]);
            snap.insert(oid, cell);
        }
        // sysName is the ietf-system hostname when set, else the kernel's.
        snap.objects
            .entry(o(catalog::SYS_NAME))
            .or_insert_with(|| v(Value::octets(&crate::host::hostname())));
    }

    async fn serve(self: Arc<Self>, sock: Arc<UdpSocket>) {
        let mut buf = vec![0u8; 65536];
        loop {
            let (n, from) = match sock.recv_from(&mut buf).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!("snmp: receive: {e}");
                    continue;
                }
            };
            self.fresh().await;
            match self.agent.handle(&buf[..n]) {
                Outcome::Drop => {}
                Outcome::Reply(r) => {
                    let _ = sock.send_to(&r, from).await;
                }
                Outcome::AuthFailure => self.notifier.authentication_failure(),
                Outcome::Set(job) => {
                    // A commit takes a while: other requests go on meanwhile.
                    let me = self.clone();
                    let sock = sock.clone();
                    tokio::spawn(async move {
                        let result = me.commit(&job.edits, &job.security_name, from).await;
                        me.built_at.store(0, Ordering::Relaxed);
                        if let Some(r) = me.agent.finish_set(job, result) {
                            let _ = sock.send_to(&r, from).await;
                        }
                    });
                }
            }
        }
    }

    /// Writes a SET's edits as one commit, then runs its actions.
    async fn commit(&self, edits: &[Edit], user: &str, from: SocketAddr) -> Result<(), SetFailure> {
        let session = self
            .ds
            .new_session(user, Face::Snmp, Some(from.ip().to_string()));
        let leaves: Vec<(usize, String, String)> = edits
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e {
                Edit::Leaf { path, value } => Some((i, path.clone(), value.clone())),
                Edit::Action { .. } => None,
            })
            .collect();
        if !leaves.is_empty() {
            let s = session.clone();
            let done = self
                .ds
                .call(move |a| {
                    for (i, path, value) in &leaves {
                        if a.set_path(&s, Workspace::Private, path, Some(value))
                            .is_err()
                        {
                            a.private_end(&s);
                            return Err(SetFailure {
                                index: Some(*i),
                                status: ErrorStatus::WrongValue,
                            });
                        }
                    }
                    let opts = CommitOptions {
                        comment: Some("SNMP SET".into()),
                        ..Default::default()
                    };
                    let r = a.workspace_commit(&s, Workspace::Private, &opts);
                    a.private_end(&s);
                    r.map(|_| ()).map_err(|e| {
                        tracing::info!("snmp: SET refused: {}", e.message);
                        SetFailure {
                            index: None,
                            status: ErrorStatus::CommitFailed,
                        }
                    })
                })
                .await;
            match done {
                Ok(r) => r?,
                Err(_) => {
                    return Err(SetFailure {
                        index: None,
                        status: ErrorStatus::ResourceUnavailable,
                    });
                }
            }
        }
        for (i, e) in edits.iter().enumerate() {
            let Edit::Action { path, name } = e else {
                continue;
            };
            let fail = |status| SetFailure {
                index: Some(i),
                status,
            };
            let s = session.clone();
            let target = format!("{path}/{name}");
            let started = self
                .ds
                .call(move |a| {
                    use yang5::data::{Data, DataFormat, DataPrinterFlags};
                    let mut t = crate::datastore::tree::empty(a.ctx());
                    t.new_path(&target, None, false).ok()?;
                    let xml = t
                        .print_string(DataFormat::XML, DataPrinterFlags::WITH_SIBLINGS)
                        .ok()?;
                    Some(a.start_action(&s, &xml))
                })
                .await;
            match started {
                Ok(Some(Ok((fut, _)))) => {
                    fut.await.map_err(|_| fail(ErrorStatus::CommitFailed))?;
                }
                _ => return Err(fail(ErrorStatus::CommitFailed)),
            }
        }
        Ok(())
    }
}

/// sysORTable: the MIB modules the agent implements.
const SYS_OR: &[(&[u32], &str)] = &[
    (
        &[1, 3, 6, 1, 6, 3, 1],
        "SNMPv2-MIB: the system and snmp groups",
    ),
    (&[1, 3, 6, 1, 2, 1, 31], "IF-MIB: the host's interfaces"),
    (
        &[1, 3, 6, 1, 6, 3, 10, 3, 1, 1],
        "SNMP-FRAMEWORK-MIB: the engine",
    ),
    (
        &[1, 3, 6, 1, 6, 3, 11, 3, 1, 1],
        "SNMP-MPD-MIB: message processing",
    ),
    (
        &[1, 3, 6, 1, 6, 3, 15, 2, 1, 1],
        "SNMP-USER-BASED-SM-MIB: USM statistics",
    ),
    (
        &[1, 3, 6, 1, 2, 1, 25],
        "HOST-RESOURCES-MIB: processors, memory, storage",
    ),
    (&[1, 3, 6, 1, 2, 1, 10, 33], "RS-232-MIB: the console ports"),
    (&[1, 3, 6, 1, 2, 1, 33], "UPS-MIB: the first UPS"),
    (
        catalog::ENTERPRISE,
        "LIFELINE-MIB: consoles, power, uplinks, rules",
    ),
];

/// What a commit of the agent's configuration changes, applied when all agree.
struct Apply {
    shared: Arc<Shared>,
    runtime: Runtime,
    start: Vec<(SocketAddr, StdUdp)>,
    stop: Vec<SocketAddr>,
    rt: tokio::runtime::Handle,
}

impl Prepared for Apply {
    fn apply(self: Box<Self>) {
        let s = self.shared;
        let first = s.sockets.lock().unwrap().is_empty() && !self.start.is_empty();
        *s.agent.runtime.write().unwrap() = Arc::new(self.runtime);
        s.built_at.store(0, Ordering::Relaxed);
        let mut sockets = s.sockets.lock().unwrap();
        for addr in self.stop {
            for t in sockets.remove(&addr).into_iter().flatten() {
                t.abort();
            }
        }
        let _rt = self.rt.enter();
        for (addr, std) in self.start {
            let Ok(sock) = UdpSocket::from_std(std) else {
                continue;
            };
            let sock = Arc::new(sock);
            // Two receivers per socket keep both cores busy under load.
            let tasks = (0..2)
                .map(|_| self.rt.spawn(s.clone().serve(sock.clone())))
                .collect();
            sockets.insert(addr, tasks);
            tracing::info!("snmp: listening on udp {addr}");
        }
        drop(sockets);
        s.notifier.reconfigured(first);
    }
}

impl Service for SnmpService {
    fn name(&self) -> &str {
        "snmp"
    }

    fn prefixes(&self) -> Vec<String> {
        vec![config::ROOT.into()]
    }

    fn prepare(&mut self, view: &CommitView<'_>) -> Result<Box<dyn Prepared>, Refusal> {
        let refuse = |message: String| Refusal {
            message,
            path: Some(config::ROOT.into()),
        };
        let cfg = config::read(view.new).map_err(refuse)?;
        let wanted: Vec<SocketAddr> = if cfg.enabled {
            cfg.listen.clone()
        } else {
            Vec::new()
        };
        let active: Vec<SocketAddr> = self
            .shared
            .sockets
            .lock()
            .unwrap()
            .keys()
            .copied()
            .collect();
        let mut start = Vec::new();
        for addr in &wanted {
            if active.contains(addr) || start.iter().any(|(a, _)| a == addr) {
                continue;
            }
            let sock =
                bind(*addr).map_err(|e| refuse(format!("cannot listen on udp {addr}: {e}")))?;
            start.push((*addr, sock));
        }
        let stop = active.into_iter().filter(|a| !wanted.contains(a)).collect();
        let engine_id = cfg
            .engine_id
            .clone()
            .unwrap_or_else(|| self.shared.generated_id.clone());
        Ok(Box::new(Apply {
            shared: self.shared.clone(),
            runtime: Runtime {
                config: cfg,
                engine_id,
            },
            start,
            stop,
            rt: self.rt.clone(),
        }))
    }

    fn state_roots(&self) -> Vec<String> {
        vec![format!("{}/engine/lifeline-snmp:state", config::ROOT)]
    }

    fn state(&self, _q: &StateQuery) -> StateEntries {
        let a = &self.shared.agent;
        let rt = a.runtime.read().unwrap().clone();
        let base = format!("{}/engine/lifeline-snmp:state", config::ROOT);
        let leaf = |n: &str, v: String| (format!("{base}/{n}"), Some(v));
        vec![
            leaf("engine-id", usm::to_hex(&rt.engine_id)),
            leaf("engine-boots", a.boots.to_string()),
            leaf("engine-time", a.engine_time().to_string()),
            leaf("in-packets", a.stat(Stat::InPkts).to_string()),
            leaf(
                "bad-community-names",
                a.stat(Stat::InBadCommunityNames).to_string(),
            ),
            leaf(
                "unknown-user-names",
                a.stat(Stat::UnknownUserNames).to_string(),
            ),
            leaf("wrong-digests", a.stat(Stat::WrongDigests).to_string()),
            leaf("traps-sent", a.stat(Stat::TrapsSent).to_string()),
            leaf(
                "informs-unacknowledged",
                a.stat(Stat::InformsUnacknowledged).to_string(),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_boots_grow_and_the_id_stays() {
        let dir = std::env::temp_dir().join(format!("ll-snmp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (id1, b1) = engine_state(&dir).unwrap();
        let (id2, b2) = engine_state(&dir).unwrap();
        assert_eq!(id1, id2);
        assert_eq!(b2, b1 + 1);
        assert!(dir.join("snmp-engine").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
