//! The management faces' settings (`lifeline-system:management`): where NETCONF,
//! the CLI and HTTPS listen, the HTTPS certificate, their session limits, and the login limits of every face.
//! A commit that adds, moves or removes an endpoint rebinds at once, and one
//! whose address cannot be bound is refused before anything changes.
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use tokio_rustls::rustls::sign::CertifiedKey;

use super::https::{Https, tls};
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
struct HttpsConfig {
    #[serde(flatten)]
    face: FaceConfig,
    certificate: Option<String>,
    #[serde(rename = "private-key")]
    private_key: Option<String>,
}

#[derive(Deserialize)]
struct Management {
    #[serde(rename = "login-grace-time")]
    grace: u64,
    netconf: FaceConfig,
    cli: FaceConfig,
    https: HttpsConfig,
}

#[derive(Deserialize)]
pub struct Config {
    #[serde(rename = "lifeline-system:management")]
    management: Management,
}

pub struct ManagementService {
    ssh: Arc<SshServer>,
    https: Arc<Https>,
    listeners: Arc<Listeners>,
}

impl ManagementService {
    pub fn new(
        ssh: Arc<SshServer>,
        https: Arc<Https>,
        listeners: Arc<Listeners>,
    ) -> ManagementService {
        ManagementService {
            ssh,
            https,
            listeners,
        }
    }
}

struct Rebind {
    ssh: Arc<SshServer>,
    https: Arc<Https>,
    listeners: Arc<Listeners>,
    config: Management,
    plan: listen::Plan,
    cert: Option<Arc<CertifiedKey>>,
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
        self.listeners
            .set_limits(listen::Face::Https, m.https.face.logins());
        self.https
            .logins
            .set_limits(m.https.face.max_sessions, m.https.face.idle());
        self.https.certs.set(self.cert.clone());
        *self.https.base.write() = m
            .https
            .face
            .endpoint
            .first()
            .map(|e| base_url(e.address, e.port))
            .unwrap_or_default();
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
            "/lifeline-system:management/https",
            "/lifeline-system:management/login-grace-time",
        ]
    }

    fn prepare(&mut self, config: Config, _: &[Change]) -> Result<Box<dyn Prepared>, Refusal> {
        let m = config.management;
        let wanted: Vec<Endpoint> = m
            .netconf
            .endpoints(Kind::Netconf)
            .chain(m.cli.endpoints(Kind::Cli))
            .chain(m.https.face.endpoints(Kind::Https))
            .collect();
        let cert = match (&m.https.certificate, &m.https.private_key) {
            (None, None) => None,
            (Some(c), Some(k)) => Some(Arc::new(tls::certified(c, k).map_err(|e| {
                Refusal::invalid(e).at("/lifeline-system:management/https/certificate")
            })?)),
            _ => {
                return Err(
                    Refusal::invalid("certificate and private-key are set together")
                        .at("/lifeline-system:management/https/certificate"),
                );
            }
        };
        let plan = self
            .listeners
            .plan("management", &wanted)
            .map_err(|(ep, e)| {
                Refusal::invalid(format!("cannot listen on {}: {e}", ep.addr))
                    .at("/lifeline-system:management")
            })?;
        Ok(Box::new(Rebind {
            ssh: self.ssh.clone(),
            https: self.https.clone(),
            listeners: self.listeners.clone(),
            config: m,
            plan,
            cert,
        }))
    }
}

/// The URL where an endpoint is reached; `::` and `0.0.0.0` by the host's name.
fn base_url(addr: IpAddr, port: u16) -> String {
    let host = if addr.is_unspecified() {
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into())
    } else if addr.is_ipv6() {
        format!("[{addr}]")
    } else {
        addr.to_string()
    };
    format!("https://{host}:{port}")
}
