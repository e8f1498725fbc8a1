//! The ports service: a commit creates, changes and deletes ports live, binds
//! their listeners (an address that cannot be bound refuses the commit), and
//! re-checks every attached session's access; state and actions for the model.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use regex::Regex;
use tokio::sync::watch;

use super::Manager;
use super::config::{self, PortConfig, Protocol};
use super::port::Port;
use crate::aaa::{self, Access};
use crate::northbound::listeners::bind;
use crate::service::{
    ActionFuture, CommitView, Prepared, Refusal, Service, StateEntries, StateQuery,
};

const ROOT: &str = "/lifeline-ports:ports";

/// A listening socket: what it serves and which port it leads to (a rename
/// keeps the socket).
struct Active {
    protocol: Protocol,
    target: Arc<Mutex<String>>,
    stop: watch::Sender<bool>,
}

pub struct PortsService {
    mgr: Arc<Manager>,
    rt: tokio::runtime::Handle,
    active: Arc<Mutex<HashMap<SocketAddr, Active>>>,
}

impl PortsService {
    pub fn new(mgr: Arc<Manager>, rt: tokio::runtime::Handle) -> PortsService {
        PortsService {
            mgr,
            rt,
            active: Arc::default(),
        }
    }
}

fn refuse(message: String, port: Option<&str>) -> Refusal {
    Refusal {
        message,
        path: Some(match port {
            Some(p) => format!("{ROOT}/port[name='{p}']"),
            None => ROOT.into(),
        }),
    }
}

struct Apply {
    mgr: Arc<Manager>,
    rt: tokio::runtime::Handle,
    active: Arc<Mutex<HashMap<SocketAddr, Active>>>,
    ports: Vec<PortConfig>,
    stop: Vec<SocketAddr>,
    start: Vec<(SocketAddr, Protocol, String, std::net::TcpListener)>,
    rename: Vec<(SocketAddr, String)>,
    access: Vec<(String, u32, Access)>,
}

impl Prepared for Apply {
    fn apply(self: Box<Self>) {
        let _rt = self.rt.enter();
        {
            let mut ports = self.mgr.ports.write().unwrap();
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
        for (port, id, access) in &self.access {
            if let Some(p) = self.mgr.get(port) {
                p.set_access(*id, *access);
            }
        }
        let mut active = self.active.lock().unwrap();
        for addr in &self.stop {
            if let Some(a) = active.remove(addr) {
                let _ = a.stop.send(true);
            }
        }
        for (addr, name) in &self.rename {
            if let Some(a) = active.get(addr) {
                *a.target.lock().unwrap() = name.clone();
            }
        }
        for (addr, protocol, name, std) in self.start {
            let (stop, stopped) = watch::channel(false);
            let target = Arc::new(Mutex::new(name));
            active.insert(
                addr,
                Active {
                    protocol,
                    target: target.clone(),
                    stop,
                },
            );
            let mgr = self.mgr.clone();
            self.rt.spawn(async move {
                match tokio::net::TcpListener::from_std(std) {
                    Ok(l) => super::net::serve(mgr, l, protocol, target, stopped).await,
                    Err(e) => tracing::error!("console listener {addr}: {e}"),
                }
            });
        }
    }
}

impl Service for PortsService {
    fn name(&self) -> &str {
        "ports"
    }

    fn prefixes(&self) -> Vec<String> {
        vec![
            ROOT.into(),
            "/lifeline-system:management/console-access".into(),
            // Users, group membership and grants decide what attached sessions may do.
            "/ietf-netconf-acm:nacm".into(),
            "/ietf-system:system/authentication".into(),
        ]
    }

    fn prepare(&mut self, view: &CommitView<'_>) -> Result<Box<dyn Prepared>, Refusal> {
        let ports = config::ports(view.new);
        for p in &ports {
            for a in &p.alerts {
                Regex::new(&a.pattern).map_err(|e| {
                    refuse(
                        format!("alert pattern {} of {}: {e}", a.name, p.name),
                        Some(&p.name),
                    )
                })?;
            }
        }
        let mut wanted: HashMap<SocketAddr, (Protocol, String)> = HashMap::new();
        for addr in config::listen_addresses(view.new) {
            for p in ports.iter().filter(|p| p.enabled) {
                for (protocol, tcp) in &p.listeners {
                    let sa = SocketAddr::new(addr, *tcp);
                    if let Some((_, other)) = wanted.insert(sa, (*protocol, p.name.clone())) {
                        return Err(refuse(
                            format!("{sa} is asked for by both {other} and {}", p.name),
                            Some(&p.name),
                        ));
                    }
                }
            }
        }
        let active = self.active.lock().unwrap();
        let mut stop = Vec::new();
        let mut rename = Vec::new();
        for (addr, a) in active.iter() {
            match wanted.get(addr) {
                Some((protocol, name)) if *protocol == a.protocol => {
                    if *a.target.lock().unwrap() != *name {
                        rename.push((*addr, name.clone()));
                    }
                }
                _ => stop.push(*addr),
            }
        }
        let mut start = Vec::new();
        for (addr, (protocol, name)) in wanted {
            if active.get(&addr).is_some_and(|a| a.protocol == protocol) {
                continue;
            }
            let std = bind(addr).map_err(|e| {
                refuse(
                    format!(
                        "{name}: cannot listen on {addr} ({}): {e}",
                        protocol.as_str()
                    ),
                    Some(&name),
                )
            })?;
            start.push((addr, protocol, name, std));
        }
        drop(active);
        let mut access = Vec::new();
        for port in self.mgr.all() {
            let Some(cfg) = ports.iter().find(|c| c.name == port.name) else {
                continue;
            };
            for s in port.sessions() {
                if s.user.is_empty() {
                    continue;
                }
                let a = if aaa::user_active(view.new, &s.user) {
                    aaa::console_access(view.new, &s.user, &cfg.groups)
                } else {
                    Access::None
                };
                if a != s.access {
                    access.push((port.name.clone(), s.id, a));
                }
            }
        }
        Ok(Box::new(Apply {
            mgr: self.mgr.clone(),
            rt: self.rt.clone(),
            active: self.active.clone(),
            ports,
            stop,
            start,
            rename,
            access,
        }))
    }

    fn state_roots(&self) -> Vec<String> {
        vec![ROOT.into()]
    }

    fn state(&self, q: &StateQuery) -> StateEntries {
        let mut out = Vec::new();
        let after = q.after.as_ref().and_then(|k| k.first()).cloned();
        let ports = self.mgr.all();
        let todo = ports
            .iter()
            .filter(|p| after.as_ref().is_none_or(|a| p.name > *a))
            .take(q.limit.unwrap_or(usize::MAX));
        for p in todo {
            let base = format!("{ROOT}/port[name='{}']/state", p.name);
            let mut leaf = |rel: &str, v: String| out.push((format!("{base}/{rel}"), Some(v)));
            let (rx, tx) = p.counters();
            leaf("device-present", p.present().to_string());
            leaf("rx-bytes", rx.to_string());
            leaf("tx-bytes", tx.to_string());
            if let Some(s) = p.signals() {
                for (name, on) in [
                    ("dcd", s.dcd),
                    ("dsr", s.dsr),
                    ("cts", s.cts),
                    ("ri", s.ri),
                    ("dtr", s.dtr),
                    ("rts", s.rts),
                ] {
                    leaf(&format!("signals/{name}"), on.to_string());
                }
            }
            for s in p.sessions() {
                let sb = format!("session[id='{}']", s.id);
                if !s.user.is_empty() {
                    leaf(&format!("{sb}/user"), s.user.clone());
                }
                leaf(&format!("{sb}/protocol"), s.protocol.as_str().into());
                if let Some(a) = s.remote {
                    leaf(&format!("{sb}/remote-address"), a.ip().to_string());
                    leaf(&format!("{sb}/remote-port"), a.port().to_string());
                }
                leaf(
                    &format!("{sb}/since"),
                    s.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                );
                leaf(&format!("{sb}/mode"), s.mode().into());
            }
        }
        out
    }

    fn actions(&self) -> Vec<String> {
        vec![
            format!("{ROOT}/port/send-break"),
            format!("{ROOT}/port/disconnect-session"),
        ]
    }

    fn action(&self, path: &str, input: &[(String, String)]) -> Option<ActionFuture> {
        let name = key_of(path)?;
        let port = self.mgr.get(&name);
        let arg = |n: &str| {
            input
                .iter()
                .find(|(k, _)| k == n)
                .and_then(|(_, v)| v.parse::<u64>().ok())
        };
        let missing = move || Refusal {
            message: format!("{name} is not running"),
            path: None,
        };
        if path.ends_with("/send-break") {
            let ms = arg("duration").unwrap_or(250);
            Some(Box::pin(async move {
                let port = port.ok_or_else(missing)?;
                port.send_break(ms).await.map_err(|e| Refusal {
                    message: format!("BREAK on {}: {e}", port.name),
                    path: None,
                })?;
                Ok(Vec::new())
            }))
        } else if path.ends_with("/disconnect-session") {
            let id = arg("id").unwrap_or(0) as u32;
            Some(Box::pin(async move {
                let port = port.ok_or_else(missing)?;
                if port.kick(id, "disconnected by an administrator") {
                    Ok(Vec::new())
                } else {
                    Err(Refusal {
                        message: format!("{} has no session {id}", port.name),
                        path: None,
                    })
                }
            }))
        } else {
            None
        }
    }
}

/// The list key of the port in an action's data path.
fn key_of(path: &str) -> Option<String> {
    let start = path.find("[name=")? + 6;
    let quote = path[start..].chars().next()?;
    let rest = &path[start + 1..];
    Some(rest[..rest.find(quote)?].to_string())
}
