//! The management faces' settings (`lifeline-system:management`): where NETCONF
//! and the CLI listen, their session limits, and the login limits of every face.
//! A commit that adds, moves or removes an endpoint rebinds at once, and one
//! whose address cannot be bound is refused before anything changes.
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::ssh::SshServer;
use crate::listen::{self, Endpoint, Kind, Listeners, LoginLimits};
use crate::service::config::ip;
use crate::service::{Change, Prepared, Refusal, Service};

#[derive(Deserialize)]
struct EndpointConfig {
    #[serde(deserialize_with = "ip")]
    address: IpAddr,
    port: u16,
}

#[derive(Deserialize)]
struct FaceConfig {
    enabled: bool,
    #[serde(rename = "max-sessions")]
    max_sessions: usize,
    #[serde(rename = "idle-timeout")]
    idle_timeout: u64,
    #[serde(rename = "max-unauthenticated")]
    max_unauthenticated: usize,
    #[serde(rename = "max-unauthenticated-per-source")]
    per_source: usize,
    #[serde(default)]
    endpoint: Vec<EndpointConfig>,
}

impl FaceConfig {
    fn idle(&self) -> Option<Duration> {
        (self.idle_timeout > 0).then(|| Duration::from_secs(self.idle_timeout))
    }

    fn logins(&self) -> LoginLimits {
        LoginLimits {
            max: self.max_unauthenticated,
            per_source: self.per_source,
        }
    }

    fn endpoints(&self, kind: Kind) -> impl Iterator<Item = Endpoint> + '_ {
        self.endpoint
            .iter()
            .filter(|_| self.enabled)
            .map(move |e| Endpoint {
                addr: SocketAddr::new(e.address, e.port),
                kind,
                target: String::new(),
            })
    }
}

#[derive(Deserialize)]
struct Management {
    #[serde(rename = "login-grace-time")]
    grace: u64,
    netconf: FaceConfig,
    cli: FaceConfig,
}

#[derive(Deserialize)]
pub struct Config {
    #[serde(rename = "lifeline-system:management")]
    management: Management,
}

pub struct ManagementService {
    ssh: Arc<SshServer>,
    listeners: Arc<Listeners>,
}

impl ManagementService {
    pub fn new(ssh: Arc<SshServer>, listeners: Arc<Listeners>) -> ManagementService {
        ManagementService { ssh, listeners }
    }
}

struct Rebind {
    ssh: Arc<SshServer>,
    listeners: Arc<Listeners>,
    config: Management,
    plan: listen::Plan,
}

impl Prepared for Rebind {
    fn apply(self: Box<Self>) {
        let m = &self.config;
        self.ssh
            .netconf()
            .limits
            .set(m.netconf.max_sessions, m.netconf.idle());
        self.ssh.cli_limits().set(m.cli.max_sessions, m.cli.idle());
        self.listeners
            .set_limits(listen::Face::Netconf, m.netconf.logins());
        self.listeners.set_limits(listen::Face::Cli, m.cli.logins());
        self.listeners.set_grace(Duration::from_secs(m.grace));
        self.plan.apply();
    }
}

impl Service for ManagementService {
    type Config = Config;

    fn name(&self) -> &'static str {
        "management"
    }

    fn owns(&self) -> Vec<&'static str> {
        // Console listeners (console-access) belong to the ports service.
        vec![
            "/lifeline-system:management/netconf",
            "/lifeline-system:management/cli",
            "/lifeline-system:management/login-grace-time",
        ]
    }

    fn prepare(&mut self, config: Config, _: &[Change]) -> Result<Box<dyn Prepared>, Refusal> {
        let m = config.management;
        let wanted: Vec<Endpoint> = m
            .netconf
            .endpoints(Kind::Netconf)
            .chain(m.cli.endpoints(Kind::Cli))
            .collect();
        let plan = self
            .listeners
            .plan("management", &wanted)
            .map_err(|(ep, e)| {
                Refusal::invalid(format!("cannot listen on {}: {e}", ep.addr))
                    .at("/lifeline-system:management")
            })?;
        Ok(Box::new(Rebind {
            ssh: self.ssh.clone(),
            listeners: self.listeners.clone(),
            config: m,
            plan,
        }))
    }
}
