//! The ports service: a commit creates, changes and deletes ports live, binds
//! their listeners (an address that cannot be bound refuses the commit), and
//! re-checks every attached session's access; the ports' live state and their
//! actions for the model.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::{Value, json};

use super::Manager;
use super::config::{self, PortConfig};
use super::port::{Port, Refused};
use crate::listen::{self, Endpoint, Listeners};
use crate::service::action::handler;
use crate::service::{
    Change, Prepared, Refusal, Registry, Service, StatePage, StateProvider, StateQuery,
};

const ROOT: &str = "/lifeline-ports:ports";
const PORT: &str = "/lifeline-ports:ports/port";

pub struct PortsService {
    mgr: Arc<Manager>,
    rt: tokio::runtime::Handle,
    listeners: Arc<Listeners>,
}

impl PortsService {
    /// The service, with its state and actions registered.
    pub fn new(
        mgr: Arc<Manager>,
        rt: tokio::runtime::Handle,
        listeners: Arc<Listeners>,
        registry: &Registry,
    ) -> PortsService {
        registry.provide(Arc::new(PortsState(mgr.clone())));
        register_actions(&mgr, registry);
        super::net::register(&mgr, &listeners);
        PortsService { mgr, rt, listeners }
    }
}

fn port_path(name: &str) -> String {
    format!("{PORT}[name={}]", crate::service::config::quote(name))
}

struct Apply {
    mgr: Arc<Manager>,
    rt: tokio::runtime::Handle,
    ports: Vec<PortConfig>,
    plan: listen::Plan,
    listeners: Arc<Listeners>,
    limits: listen::LoginLimits,
}

impl Prepared for Apply {
    fn apply(self: Box<Self>) {
        let _rt = self.rt.enter();
        {
            let mut ports = self.mgr.ports.write();
            ports.retain(|name, p| {
                let keep = self.ports.iter().any(|c| &c.name == name);
                if !keep {
                    p.stop("the port was deleted");
                }
                keep
            });
            for cfg in &self.ports {
                match ports.get(&cfg.name) {
                    Some(p) => {
                        if !cfg.enabled && p.config().enabled {
                            p.kick_all("the port was disabled");
                        }
                        p.reconfigure(cfg.clone());
                    }
                    None => {
                        let p = Port::start(
                            cfg.clone(),
                            self.mgr.opener.clone(),
                            self.mgr.ds.events.clone(),
                            &self.mgr.transcripts,
                        );
                        ports.insert(cfg.name.clone(), p);
                    }
                }
            }
        }
        self.plan.apply();
        self.listeners
            .set_limits(listen::Face::Console, self.limits);
        // Users and groups are applied before the ports (the AAA service comes
        // first): attached sessions get what the new configuration grants.
        let dir = self.mgr.aaa.current();
        for cfg in &self.ports {
            let Some(port) = self.mgr.get(&cfg.name) else {
                continue;
            };
            for s in port.sessions() {
                if s.user.is_empty() {
                    continue;
                }
                let a = dir.console_access(&s.user, &cfg.groups);
                if a != s.access {
                    port.set_access(s.id, a);
                }
            }
        }
    }
}

impl Service for PortsService {
    type Config = config::Config;

    fn name(&self) -> &'static str {
        "ports"
    }

    fn owns(&self) -> Vec<&'static str> {
        vec![ROOT, "/lifeline-system:management/console-access"]
    }

    fn watches(&self) -> Vec<&'static str> {
        // Users, group membership and grants decide what attached sessions may do.
        vec![
            "/ietf-netconf-acm:nacm",
            "/ietf-system:system/authentication",
        ]
    }

    fn prepare(
        &mut self,
        config: config::Config,
        _: &[Change],
    ) -> Result<Box<dyn Prepared>, Refusal> {
        let (ports, addrs, limits) = config.ports();
        let mut wanted: HashMap<SocketAddr, Endpoint> = HashMap::new();
        for addr in addrs {
            for p in ports.iter().filter(|p| p.enabled) {
                for (protocol, tcp) in &p.listeners {
                    let Some(kind) = protocol.kind() else {
                        continue;
                    };
                    let sa = SocketAddr::new(addr, *tcp);
                    let ep = Endpoint {
                        addr: sa,
                        kind,
                        target: p.name.clone(),
                    };
                    if let Some(other) = wanted.insert(sa, ep) {
                        return Err(Refusal::invalid(format!(
                            "{sa} is asked for by both {} and {}",
                            other.target, p.name
                        ))
                        .at(port_path(&p.name)));
                    }
                }
            }
        }
        let wanted: Vec<Endpoint> = wanted.into_values().collect();
        let plan = self.listeners.plan("ports", &wanted).map_err(|(ep, e)| {
            Refusal::invalid(format!(
                "{}: cannot listen on {} ({}): {e}",
                ep.target,
                ep.addr,
                ep.kind.as_str()
            ))
            .at(port_path(&ep.target))
        })?;
        Ok(Box::new(Apply {
            mgr: self.mgr.clone(),
            rt: self.rt.clone(),
            ports,
            plan,
            listeners: self.listeners.clone(),
            limits,
        }))
    }
}

/// The ports' live state, from the running ports (in name order).
struct PortsState(Arc<Manager>);

fn port_state(p: &Port) -> Value {
    let (rx, tx) = p.counters();
    let mut state = json!({
        "device-present": p.present(),
        // counter64 is a string in RFC 7951 JSON.
        "rx-bytes": rx.to_string(),
        "tx-bytes": tx.to_string(),
    });
    if let Some(s) = p.signals() {
        state["signals"] = json!({
            "dcd": s.dcd, "dsr": s.dsr, "cts": s.cts, "ri": s.ri, "dtr": s.dtr, "rts": s.rts,
        });
    }
    let sessions: Vec<Value> = p
        .sessions()
        .iter()
        .map(|s| {
            let mut v = json!({
                "id": s.id,
                "protocol": s.protocol,
                "since": s.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "mode": s.mode(),
            });
            if !s.user.is_empty() {
                v["user"] = json!(s.user);
            }
            if let Some(a) = s.remote {
                v["remote-address"] = json!(a.ip().to_string());
                v["remote-port"] = json!(a.port());
            }
            v
        })
        .collect();
    if !sessions.is_empty() {
        state["session"] = Value::Array(sessions);
    }
    json!({"name": p.name, "state": state})
}

impl StateProvider for PortsState {
    fn roots(&self) -> Vec<&'static str> {
        vec![PORT]
    }

    fn read(&self, q: &StateQuery) -> StatePage {
        let ports = self.0.all();
        StatePage::from_sorted(
            q,
            ports
                .iter()
                .filter(|p| q.wants(&p.name))
                .map(|p| (vec![p.name.clone()], port_state(p))),
        )
    }
}

fn register_actions(mgr: &Arc<Manager>, registry: &Registry) {
    let m = mgr.clone();
    registry.handle(
        "/lifeline-ports:ports/port/send-break",
        handler(move |req| {
            let m = m.clone();
            async move {
                let name = req.key("port", "name").unwrap_or_default().to_string();
                let port = m.get(&name).ok_or_else(|| not_running(&name))?;
                #[derive(serde::Deserialize)]
                struct Input {
                    duration: u64,
                }
                let input: Input = req.input()?;
                port.send_break(input.duration)
                    .await
                    .map_err(|e| Refusal::failed(format!("BREAK on {name}: {e}")))?;
                Ok(Value::Null)
            }
        }),
    );
    let m = mgr.clone();
    registry.handle(
        "/lifeline-ports:ports/port/send",
        handler(move |req| {
            let m = m.clone();
            async move {
                let name = req.key("port", "name").unwrap_or_default().to_string();
                let port = m.get(&name).ok_or_else(|| not_running(&name))?;
                #[derive(serde::Deserialize)]
                struct Input {
                    data: String,
                }
                let input: Input = req.input()?;
                port.send(&req.user, input.data.as_bytes())
                    .await
                    .map_err(|e| {
                        let why = match e {
                            Refused::NoDevice => "its device is not open".to_string(),
                            e => e.to_string(),
                        };
                        Refusal::failed(format!("send to {name}: {why}")).at(port_path(&name))
                    })?;
                Ok(Value::Null)
            }
        }),
    );
    let m = mgr.clone();
    registry.handle(
        "/lifeline-ports:ports/port/disconnect-session",
        handler(move |req| {
            let m = m.clone();
            async move {
                let name = req.key("port", "name").unwrap_or_default().to_string();
                let port = m.get(&name).ok_or_else(|| not_running(&name))?;
                #[derive(serde::Deserialize)]
                struct Input {
                    id: u32,
                }
                let Input { id } = req.input()?;
                if port.kick(id, "disconnected by an administrator") {
                    Ok(Value::Null)
                } else {
                    Err(Refusal::missing(format!("{name} has no session {id}"))
                        .at(format!("{}/state/session[id='{id}']", port_path(&name))))
                }
            }
        }),
    );
}

fn not_running(name: &str) -> Refusal {
    Refusal::missing(format!("{name} is not running")).at(port_path(name))
}
