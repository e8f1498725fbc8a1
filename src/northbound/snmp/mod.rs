//! The SNMP agent: v1, v2c and v3 (USM) on UDP, configured through `ietf-snmp`,
//! serving the model through the MIB catalog (built lazily from the running
//! configuration and the state providers, never on the datastore's thread),
//! writing through the datastore, and sending the event bus as traps and informs.
pub mod agent;
pub mod catalog;
pub mod config;
pub mod fuzz;
pub mod mib;
pub mod notify;
pub mod vacm;

pub use crate::snmp::{ber, message, seal, security, usm};

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Value as Json, json};
use tokio::net::UdpSocket;
use tokio::sync::watch;

use self::agent::{Agent, Edit, Outcome, Runtime, STAT_OIDS, SetFailure, Stat};
use self::ber::{Oid, Value};
use self::message::ErrorStatus;
use self::mib::{Cell, Contexts, Live, Mib, Own, Source};
use crate::datastore::{ActionCall, Face, Handle};
use crate::listen::{Endpoint, Kind, Listeners, ServeFuture, UdpHandler};
use crate::service::state::Select;
use crate::service::{
    Change, ConfigDoc, DataPath, Prepared, Refusal, Registry, Service, StatePage, StateProvider,
    StateQuery,
};

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

fn sys_descr() -> String {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "lifeline {} out-of-band appliance, Linux {} {}",
        env!("CARGO_PKG_VERSION"),
        release.trim(),
        std::env::consts::ARCH
    )
}

/// The model as the MIB reads it: the published running configuration and the
/// state providers.
struct Model(Handle);

impl mib::Source for Model {
    fn config(&self) -> (ConfigDoc, u64) {
        self.0.running()
    }

    fn generation(&self) -> u64 {
        self.0.generation()
    }

    fn version(&self, top: &str) -> u64 {
        self.0.version(top)
    }

    fn roots(&self) -> Vec<String> {
        self.0
            .registry()
            .roots()
            .into_iter()
            .map(|(r, _)| r)
            .collect()
    }

    fn state(&self, root: &str) -> Vec<Json> {
        self.0.registry().read_all(root, Select::All)
    }
}

/// The agent's own objects: system, counters, the engine, sysORTable.
fn own_objects(sys_descr: String, boots: u32) -> Vec<(Vec<u32>, Own)> {
    let sys = catalog::SYSTEM;
    let at = |s: &[u32], tail: &[u32]| [s, tail].concat();
    let engine: &[u32] = &[1, 3, 6, 1, 6, 3, 10, 2, 1];
    let one = |ty: Vec<u32>, cell: Cell| -> (Vec<u32>, Own) {
        let oid = Oid(ty.clone()).child(&[0]);
        (ty, Box::new(move || vec![(oid.clone(), cell.clone())]))
    };
    let v = Cell::Value;
    let mut own = vec![
        one(at(sys, &[1]), v(Value::octets(&sys_descr))),
        one(
            at(sys, &[2]),
            v(Value::ObjectId(Oid(catalog::SYS_OBJECT_ID.to_vec()))),
        ),
        one(at(sys, &[3]), Cell::Live(Live::SysUpTime)),
        one(at(sys, &[7]), v(Value::Integer(72))),
        one(at(sys, &[8]), v(Value::TimeTicks(0))),
        one(at(engine, &[1]), Cell::Live(Live::EngineId)),
        one(at(engine, &[2]), v(Value::Integer(boots as i32))),
        one(at(engine, &[3]), Cell::Live(Live::EngineTime)),
        one(
            at(engine, &[4]),
            v(Value::Integer(agent::MAX_MESSAGE as i32)),
        ),
    ];
    own.push((
        at(sys, &[9]),
        Box::new(move || {
            let mut rows = Vec::new();
            for (i, (id, descr)) in SYS_OR.iter().enumerate() {
                let n = i as u32 + 1;
                let col = |c: u32| Oid(at(sys, &[9, 1, c, n]));
                rows.push((col(2), v(Value::ObjectId(Oid(id.to_vec())))));
                rows.push((col(3), v(Value::octets(descr))));
                rows.push((col(4), v(Value::TimeTicks(0))));
            }
            rows
        }),
    ));
    for (stat, oid) in STAT_OIDS {
        own.push(one(oid.to_vec(), Cell::Live(Live::Stat(*stat as usize))));
    }
    own
}

/// The agent as a service of the `ietf-snmp` subtree, and its UDP face.
pub struct SnmpService {
    agent: Arc<Agent>,
    generated_id: Vec<u8>,
    notifier: notify::Notifier,
    listeners: Arc<Listeners>,
    /// Whether the agent has sockets (coldStart at the first, warmStart after).
    serving: Arc<std::sync::atomic::AtomicBool>,
}

impl SnmpService {
    pub fn new(
        ds: Handle,
        state_dir: &Path,
        rt: tokio::runtime::Handle,
        listeners: Arc<Listeners>,
        registry: &Registry,
    ) -> std::io::Result<SnmpService> {
        let (generated_id, boots) = engine_state(state_dir)?;
        let source: Arc<dyn Source> = Arc::new(Model(ds.clone()));
        let mib = Mib::new(
            source.clone(),
            catalog::SCALARS,
            catalog::TABLES,
            own_objects(sys_descr(), boots),
        );
        if let Err(e) = mib.check() {
            return Err(std::io::Error::other(e));
        }
        let contexts = Contexts::new(
            catalog::CONTEXTS,
            Box::new(move |name| {
                let within = |oid: &[u32]| oid.starts_with(catalog::CONTEXT_MIB);
                Mib::new(
                    source.clone(),
                    catalog::SCALARS.iter().filter(|s| within(s.oid)),
                    catalog::TABLES.iter().filter(|t| within(t.entry)),
                    Vec::new(),
                )
                .in_context(name)
            }),
        );
        let agent = Arc::new(
            Agent::new(
                Runtime {
                    config: Default::default(),
                    engine_id: generated_id.clone(),
                },
                boots,
                Arc::new(mib),
            )
            .with_contexts(contexts),
        );
        let notifier = notify::Notifier::new(agent.clone(), ds.events.clone(), rt);
        listeners.handle_udp(
            Kind::Snmp,
            Arc::new(Serve {
                agent: agent.clone(),
                ds: ds.clone(),
                notifier: notifier.clone(),
            }),
        );
        registry.provide(Arc::new(EngineState(agent.clone())));
        Ok(SnmpService {
            agent,
            generated_id,
            notifier,
            listeners,
            serving: Arc::default(),
        })
    }

    pub fn notifier(&self) -> notify::Notifier {
        self.notifier.clone()
    }
}

/// The receivers of the agent's UDP sockets.
struct Serve {
    agent: Arc<Agent>,
    ds: Handle,
    notifier: notify::Notifier,
}

impl UdpHandler for Serve {
    fn serve(&self, sock: Arc<UdpSocket>, stop: watch::Receiver<bool>) -> ServeFuture {
        // Two receivers per socket keep both cores busy under load.
        for _ in 0..2 {
            let me = Receiver {
                agent: self.agent.clone(),
                ds: self.ds.clone(),
                notifier: self.notifier.clone(),
            };
            tokio::spawn(me.run(sock.clone(), stop.clone()));
        }
        Box::pin(async {})
    }
}

#[derive(Clone)]
struct Receiver {
    agent: Arc<Agent>,
    ds: Handle,
    notifier: notify::Notifier,
}

impl Receiver {
    async fn run(self, sock: Arc<UdpSocket>, mut stop: watch::Receiver<bool>) {
        let mut buf = vec![0u8; 65536];
        loop {
            let (n, from) = tokio::select! {
                _ = stop.changed() => return,
                r = sock.recv_from(&mut buf) => match r {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::debug!("snmp: receive: {e}");
                        continue;
                    }
                },
            };
            // A stale part of the MIB is built here, from in-memory tables and
            // /proc: short, and at most once a second.
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
                        if let Some(r) = me.agent.finish_set(job, result) {
                            let _ = sock.send_to(&r, from).await;
                        }
                    });
                }
            }
        }
    }

    /// Writes a SET's edits as one commit, then runs its actions (as the user
    /// named like the security name: NACM decides).
    async fn commit(&self, edits: &[Edit], user: &str, from: SocketAddr) -> Result<(), SetFailure> {
        let session = self
            .ds
            .new_session(user, Face::Snmp, Some(from.ip().to_string()));
        let mut leaves = Vec::new();
        let mut index = Vec::new();
        for (i, e) in edits.iter().enumerate() {
            if let Edit::Leaf { path, value } = e {
                leaves.push((path.clone(), value.clone()));
                index.push(i);
            }
        }
        if !leaves.is_empty() {
            self.ds
                .commit_edits(&session, leaves, "SNMP SET")
                .await
                .map_err(|(at, e)| {
                    tracing::info!("snmp: SET refused: {}", e.message);
                    match at {
                        Some(i) => SetFailure {
                            index: index.get(i).copied(),
                            status: ErrorStatus::WrongValue,
                        },
                        None => SetFailure {
                            index: None,
                            status: ErrorStatus::CommitFailed,
                        },
                    }
                })?;
        }
        for (i, e) in edits.iter().enumerate() {
            let Edit::Action { path, name } = e else {
                continue;
            };
            let fail = |status| SetFailure {
                index: Some(i),
                status,
            };
            let Some(path) = DataPath::parse(path) else {
                return Err(fail(ErrorStatus::CommitFailed));
            };
            let call = ActionCall::Json(path.child(name), json!({}));
            if let Err(e) = self.ds.action(&session, call).await {
                tracing::info!("snmp: {name} refused: {}", e.message);
                return Err(fail(if e.tag == crate::datastore::ErrorTag::AccessDenied {
                    ErrorStatus::NoAccess
                } else {
                    ErrorStatus::CommitFailed
                }));
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
    agent: Arc<Agent>,
    runtime: Runtime,
    plan: crate::listen::Plan,
    notifier: notify::Notifier,
    first: bool,
    serving: (Arc<std::sync::atomic::AtomicBool>, bool),
}

impl Prepared for Apply {
    fn apply(self: Box<Self>) {
        *self.agent.runtime.write() = Arc::new(self.runtime);
        self.agent.invalidate();
        self.plan.apply();
        let (flag, on) = self.serving;
        flag.store(on, std::sync::atomic::Ordering::Relaxed);
        self.notifier.reconfigured(self.first);
    }
}

impl Service for SnmpService {
    type Config = config::Model7407;

    fn name(&self) -> &'static str {
        "snmp"
    }

    fn owns(&self) -> Vec<&'static str> {
        vec![config::ROOT]
    }

    fn prepare(
        &mut self,
        model: config::Model7407,
        _: &[Change],
    ) -> Result<Box<dyn Prepared>, Refusal> {
        let cfg = model.check()?;
        let wanted: Vec<Endpoint> = cfg
            .listen
            .iter()
            .filter(|_| cfg.enabled)
            .map(|a| Endpoint {
                addr: *a,
                kind: Kind::Snmp,
                target: String::new(),
            })
            .collect();
        let plan = self.listeners.plan("snmp", &wanted).map_err(|(ep, e)| {
            Refusal::invalid(format!("cannot listen on udp {}: {e}", ep.addr))
                .at(format!("{}/engine/listen", config::ROOT))
        })?;
        let first = !self.serving.load(std::sync::atomic::Ordering::Relaxed) && plan.starts_any();
        let engine_id = cfg
            .engine_id
            .clone()
            .unwrap_or_else(|| self.generated_id.clone());
        Ok(Box::new(Apply {
            agent: self.agent.clone(),
            runtime: Runtime {
                config: cfg,
                engine_id,
            },
            plan,
            notifier: self.notifier.clone(),
            first,
            serving: (self.serving.clone(), !wanted.is_empty()),
        }))
    }
}

/// The engine's state (`lifeline-snmp:state`).
struct EngineState(Arc<Agent>);

const ENGINE_STATE: &str = "/ietf-snmp:snmp/engine/lifeline-snmp:state";

impl StateProvider for EngineState {
    fn roots(&self) -> Vec<&'static str> {
        vec![ENGINE_STATE]
    }

    fn read(&self, _q: &StateQuery) -> StatePage {
        let a = &self.0;
        let rt = a.runtime.read().clone();
        StatePage {
            entries: vec![json!({
                "engine-id": usm::to_hex(&rt.engine_id),
                "engine-boots": a.boots,
                "engine-time": a.engine_time(),
                "in-packets": a.stat(Stat::InPkts),
                "bad-community-names": a.stat(Stat::InBadCommunityNames),
                "unknown-user-names": a.stat(Stat::UnknownUserNames),
                "wrong-digests": a.stat(Stat::WrongDigests),
                "traps-sent": a.stat(Stat::TrapsSent),
                "informs-unacknowledged": a.stat(Stat::InformsUnacknowledged),
            })],
            next: None,
        }
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
