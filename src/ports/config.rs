//! A console port's configuration: `lifeline-ports` as typed values (built by
//! serde from the validated configuration, with YANG's defaults), turned into
//! the plain values the port runtime uses.
use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::serial::{Flow, Parity, Settings};
use crate::aaa::Access;
use crate::events::Severity;
use crate::listen::LoginLimits;
use crate::service::config::ips;

/// How a session reaches a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    Ssh,
    Telnet,
    RawTcp,
    Rfc2217,
    Cli,
    /// The web console (a WebSocket over HTTPS).
    Https,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Ssh => "ssh",
            Protocol::Telnet => "telnet",
            Protocol::RawTcp => "raw-tcp",
            Protocol::Rfc2217 => "rfc2217",
            Protocol::Cli => "cli",
            Protocol::Https => "https",
        }
    }

    /// The conventional TCP port of access method `self` for port number `n`
    /// (Opengear's convention, which YANG cannot express as a default).
    fn base(self) -> u32 {
        match self {
            Protocol::Ssh => 3000,
            Protocol::Telnet => 2000,
            Protocol::RawTcp => 4000,
            Protocol::Rfc2217 => 5000,
            Protocol::Cli | Protocol::Https => 0,
        }
    }

    /// The listener kind that serves it.
    pub fn kind(self) -> Option<crate::listen::Kind> {
        use crate::listen::Kind;
        Some(match self {
            Protocol::Ssh => Kind::ConsoleSsh,
            Protocol::Telnet => Kind::Telnet,
            Protocol::RawTcp => Kind::RawTcp,
            Protocol::Rfc2217 => Kind::Rfc2217,
            Protocol::Cli | Protocol::Https => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogLevel {
    None,
    Output,
    All,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syslog {
    pub server: String,
    pub port: u16,
    /// The syslog facility number (local0 = 16).
    pub facility: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logging {
    pub level: LogLevel,
    pub max_bytes: u64,
    pub rotate: u32,
    pub syslog: Option<Syslog>,
}

/// A regular expression, checked when the configuration is read.
#[derive(Debug, Clone)]
pub struct Pattern(pub regex::Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for Pattern {}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Pattern, D::Error> {
        let s = String::deserialize(d)?;
        regex::Regex::new(&s)
            .map(Pattern)
            .map_err(|e| serde::de::Error::custom(format!("not a regular expression: {e}")))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Alert {
    pub name: String,
    pub pattern: Pattern,
    pub severity: Severity,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    pub name: String,
    pub number: u16,
    pub label: Option<String>,
    pub enabled: bool,
    pub device: PathBuf,
    pub settings: Settings,
    /// The TCP port of each enabled access method.
    pub listeners: Vec<(Protocol, u16)>,
    pub max_sessions: usize,
    /// Per-port group grants.
    pub groups: Vec<(String, Access)>,
    pub logging: Logging,
    pub escape: u8,
    /// Linked outlets as (power device, outlet id).
    pub outlets: Vec<(String, String)>,
    pub alerts: Vec<Alert>,
}

// ----- the model, as serde reads it -----

#[derive(Deserialize)]
struct Serial {
    baud: u32,
    #[serde(rename = "data-bits")]
    data_bits: u8,
    parity: Parity,
    #[serde(rename = "stop-bits")]
    stop_bits: u8,
    #[serde(rename = "flow-control")]
    flow: Flow,
}

#[derive(Deserialize)]
struct Listener {
    enabled: bool,
    port: Option<u16>,
}

#[derive(Deserialize)]
struct GroupGrant {
    name: String,
    mode: Access,
}

#[derive(Deserialize)]
struct AccessConfig {
    ssh: Listener,
    telnet: Listener,
    #[serde(rename = "raw-tcp")]
    raw_tcp: Listener,
    rfc2217: Listener,
    #[serde(rename = "max-sessions")]
    max_sessions: usize,
    #[serde(default)]
    group: Vec<GroupGrant>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum Facility {
    Local0,
    Local1,
    Local2,
    Local3,
    Local4,
    Local5,
    Local6,
    Local7,
}

#[derive(Deserialize)]
struct SyslogConfig {
    enabled: bool,
    server: Option<String>,
    port: u16,
    facility: Facility,
}

#[derive(Deserialize)]
struct LoggingConfig {
    level: LogLevel,
    #[serde(rename = "max-file-size")]
    max_kib: u64,
    #[serde(rename = "rotate-count")]
    rotate: u32,
    syslog: SyslogConfig,
}

#[derive(Deserialize)]
struct Outlet {
    device: String,
    outlet: String,
}

#[derive(Deserialize)]
struct Entry {
    name: String,
    number: u16,
    label: Option<String>,
    enabled: bool,
    device: PathBuf,
    serial: Serial,
    access: AccessConfig,
    logging: LoggingConfig,
    #[serde(rename = "escape-character")]
    escape: String,
    #[serde(rename = "power-outlet", default)]
    outlets: Vec<Outlet>,
    #[serde(rename = "alert-pattern", default)]
    alerts: Vec<Alert>,
}

#[derive(Deserialize, Default)]
struct Ports {
    #[serde(default)]
    port: Vec<Entry>,
}

#[derive(Deserialize)]
struct ConsoleAccess {
    #[serde(default, deserialize_with = "ips")]
    address: Vec<IpAddr>,
    #[serde(rename = "max-unauthenticated")]
    max_unauthenticated: usize,
    #[serde(rename = "max-unauthenticated-per-source")]
    per_source: usize,
}

#[derive(Deserialize)]
struct Management {
    #[serde(rename = "console-access")]
    console: ConsoleAccess,
}

/// What the ports service reads.
#[derive(Deserialize)]
pub struct Config {
    #[serde(rename = "lifeline-ports:ports", default)]
    ports: Ports,
    #[serde(rename = "lifeline-system:management")]
    management: Management,
}

impl From<Entry> for PortConfig {
    fn from(e: Entry) -> PortConfig {
        let a = &e.access;
        let listeners = [
            (Protocol::Ssh, &a.ssh),
            (Protocol::Telnet, &a.telnet),
            (Protocol::RawTcp, &a.raw_tcp),
            (Protocol::Rfc2217, &a.rfc2217),
        ]
        .into_iter()
        .filter(|(_, l)| l.enabled)
        .filter_map(|(p, l)| {
            let tcp = l
                .port
                .or_else(|| u16::try_from(p.base() + u32::from(e.number)).ok())?;
            Some((p, tcp))
        })
        .collect();
        let s = &e.logging.syslog;
        let syslog = match (&s.server, s.enabled) {
            (Some(server), true) => Some(Syslog {
                server: server.clone(),
                port: s.port,
                facility: 16 + s.facility_number(),
            }),
            _ => None,
        };
        PortConfig {
            settings: Settings {
                baud: e.serial.baud,
                data_bits: e.serial.data_bits,
                parity: e.serial.parity,
                stop_bits: e.serial.stop_bits,
                flow: e.serial.flow,
            },
            listeners,
            max_sessions: e.access.max_sessions,
            groups: e
                .access
                .group
                .iter()
                .map(|g| (g.name.clone(), g.mode))
                .collect(),
            logging: Logging {
                level: e.logging.level,
                max_bytes: e.logging.max_kib * 1024,
                rotate: e.logging.rotate,
                syslog,
            },
            escape: e.escape.bytes().next().unwrap_or(b'~'),
            outlets: e
                .outlets
                .into_iter()
                .map(|o| (o.device, o.outlet))
                .collect(),
            label: e.label.filter(|l| !l.is_empty()),
            enabled: e.enabled,
            device: e.device,
            alerts: e.alerts,
            name: e.name,
            number: e.number,
        }
    }
}

impl SyslogConfig {
    fn facility_number(&self) -> u8 {
        self.facility as u8
    }
}

impl Config {
    /// Every configured port, in configuration order.
    pub fn ports(self) -> (Vec<PortConfig>, Vec<IpAddr>, LoginLimits) {
        let c = self.management.console;
        let mut addrs = c.address;
        if addrs.is_empty() {
            addrs.push(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED));
        }
        let limits = LoginLimits {
            max: c.max_unauthenticated,
            per_source: c.per_source,
        };
        (
            self.ports.port.into_iter().map(PortConfig::from).collect(),
            addrs,
            limits,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_pattern_or_an_unknown_parity_refuses_with_its_path() {
        let ctx = crate::schema::build(&[]).unwrap();
        let entry = |parity: &str, pattern: &str| {
            serde_json::json!({
                "lifeline-system:management": {"console-access": {
                    "max-unauthenticated": 32, "max-unauthenticated-per-source": 8}},
                "lifeline-ports:ports": {"port": [{
                    "name": "p1", "number": 1, "enabled": true, "device": "/dev/null",
                    "serial": {"baud": 9600, "data-bits": 8, "parity": parity, "stop-bits": 1,
                               "flow-control": "none"},
                    "access": {"ssh": {"enabled": true}, "telnet": {"enabled": true},
                               "raw-tcp": {"enabled": false}, "rfc2217": {"enabled": false},
                               "max-sessions": 32},
                    "logging": {"level": "all", "max-file-size": 1024, "rotate-count": 5,
                                "syslog": {"enabled": false, "port": 514, "facility": "local0"}},
                    "escape-character": "~",
                    "alert-pattern": [{"name": "a1", "pattern": pattern, "severity": "warning"}]
                }]}
            })
        };
        let ok = crate::service::ConfigDoc::new(ctx, entry("even", "BGP.*Down"));
        let (ports, addrs, _) = ok.typed::<Config>().unwrap().ports();
        assert_eq!(ports[0].settings.parity, Parity::Even);
        assert_eq!(
            ports[0].listeners,
            vec![(Protocol::Ssh, 3001), (Protocol::Telnet, 2001)]
        );
        assert_eq!(addrs.len(), 1);
        let bad = crate::service::ConfigDoc::new(ctx, entry("sometimes", "x"));
        let r = bad.typed::<Config>().err().unwrap();
        assert_eq!(
            r.path.as_deref(),
            Some("/lifeline-ports:ports/port[name='p1']/serial/parity")
        );
        let bad = crate::service::ConfigDoc::new(ctx, entry("none", "(unclosed"));
        let r = bad.typed::<Config>().err().unwrap();
        assert_eq!(
            r.path.as_deref(),
            Some("/lifeline-ports:ports/port[name='p1']/alert-pattern[name='a1']/pattern")
        );
        assert!(r.message.contains("regular expression"), "{}", r.message);
    }
}
