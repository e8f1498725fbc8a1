//! The management listeners are configuration (`lifeline-system:management`): a
//! commit that adds, moves or removes an endpoint rebinds at once, and one whose
//! address cannot be bound is refused before anything changes.
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use yang5::data::Data;

use super::ssh::{Role, SshServer};
use crate::datastore::tree::Tree;
use crate::service::{CommitView, Prepared, Refusal, Service};

type Active = Arc<Mutex<HashMap<(Role, SocketAddr), watch::Sender<bool>>>>;

pub struct Listeners {
    ssh: Arc<SshServer>,
    rt: tokio::runtime::Handle,
    active: Active,
}

impl Listeners {
    pub fn new(ssh: Arc<SshServer>, rt: tokio::runtime::Handle) -> Listeners {
        Listeners {
            ssh,
            rt,
            active: Arc::default(),
        }
    }
}

/// The endpoints a configuration asks for.
pub fn endpoints(config: &Tree) -> Vec<(Role, SocketAddr)> {
    let mut out = endpoints_of(config, Role::Netconf, "/lifeline-system:management/netconf");
    out.extend(endpoints_of(
        config,
        Role::Cli,
        "/lifeline-system:management/cli",
    ));
    out
}

fn endpoints_of(config: &Tree, role: Role, base: &str) -> Vec<(Role, SocketAddr)> {
    let mut out = Vec::new();
    let enabled = crate::datastore::tree::find(config, &format!("{base}/enabled"))
        .and_then(|n| n.value_canonical())
        .is_none_or(|v| v == "true");
    if !enabled {
        return out;
    }
    let Ok(set) = config.find_xpath(&format!("{base}/endpoint")) else {
        return out;
    };
    for ep in set {
        let leaf = |name: &str| {
            ep.children()
                .find(|c| c.schema().name() == name)
                .and_then(|c| c.value_canonical())
        };
        let (Some(addr), Some(port)) = (leaf("address"), leaf("port")) else {
            continue;
        };
        let Ok(ip) = addr.split('%').next().unwrap_or("").parse::<IpAddr>() else {
            continue;
        };
        let Ok(port) = port.parse::<u16>() else {
            continue;
        };
        out.push((role.clone(), SocketAddr::new(ip, port)));
    }
    out
}

/// Binds a listening socket; `::` also accepts IPv4 (dual-stack).
pub fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if addr.is_ipv6() {
        socket.set_only_v6(!addr.ip().is_unspecified())?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(128)?;
    Ok(socket.into())
}

/// A face's session limits: (max-sessions, idle-timeout; 0 is none).
fn limits(config: &Tree, face: &str) -> (usize, Option<std::time::Duration>) {
    let get = |leaf: &str| {
        crate::datastore::tree::find(
            config,
            &format!("/lifeline-system:management/{face}/{leaf}"),
        )
        .and_then(|n| n.value_canonical())
        .and_then(|v| v.parse::<u64>().ok())
    };
    let max = get("max-sessions").unwrap_or(32) as usize;
    let idle = get("idle-timeout").unwrap_or(3600);
    (
        max,
        (idle > 0).then(|| std::time::Duration::from_secs(idle)),
    )
}

struct Rebind {
    netconf_limits: (usize, Option<std::time::Duration>),
    cli_limits: (usize, Option<std::time::Duration>),
    ssh: Arc<SshServer>,
    rt: tokio::runtime::Handle,
    active: Active,
    stop: Vec<(Role, SocketAddr)>,
    start: Vec<(Role, SocketAddr, std::net::TcpListener)>,
}

impl Prepared for Rebind {
    fn apply(self: Box<Self>) {
        self.ssh
            .netconf()
            .limits
            .set(self.netconf_limits.0, self.netconf_limits.1);
        self.ssh
            .cli_limits()
            .set(self.cli_limits.0, self.cli_limits.1);
        let mut active = self.active.lock().unwrap();
        for key in &self.stop {
            if let Some(tx) = active.remove(key) {
                let _ = tx.send(true);
            }
        }
        for (role, addr, std) in self.start {
            let (tx, rx) = watch::channel(false);
            active.insert((role.clone(), addr), tx);
            let ssh = self.ssh.clone();
            self.rt.spawn(async move {
                match tokio::net::TcpListener::from_std(std) {
                    Ok(l) => {
                        tracing::info!("{role:?} listening on {addr}");
                        ssh.serve(l, role, rx).await
                    }
                    Err(e) => tracing::error!("listener {addr}: {e}"),
                }
            });
        }
    }
}

impl Service for Listeners {
    fn name(&self) -> &str {
        "management"
    }

    fn prefixes(&self) -> Vec<String> {
        // Console listeners (console-access) belong to the ports service.
        vec![
            "/lifeline-system:management/netconf".into(),
            "/lifeline-system:management/cli".into(),
        ]
    }

    fn prepare(&mut self, view: &CommitView<'_>) -> Result<Box<dyn Prepared>, Refusal> {
        let wanted = endpoints(view.new);
        let active = self.active.lock().unwrap();
        let stop = active
            .keys()
            .filter(|k| !wanted.contains(k))
            .cloned()
            .collect();
        let mut start = Vec::new();
        for (role, addr) in wanted {
            if active.contains_key(&(role.clone(), addr)) {
                continue;
            }
            let std = bind(addr).map_err(|e| Refusal {
                message: format!("cannot listen on {addr}: {e}"),
                path: Some("/lifeline-system:management".into()),
            })?;
            start.push((role, addr, std));
        }
        Ok(Box::new(Rebind {
            netconf_limits: limits(view.new, "netconf"),
            cli_limits: limits(view.new, "cli"),
            ssh: self.ssh.clone(),
            rt: self.rt.clone(),
            active: self.active.clone(),
            stop,
            start,
        }))
    }
}
