//! A console port's configuration, read from `lifeline-ports` into plain values
//! the port runtime uses without touching libyang.
use std::net::IpAddr;
use std::path::PathBuf;

use yang5::data::{Data, DataNodeRef};

use super::serial::{Flow, Parity, Settings};
use crate::aaa::Access;
use crate::datastore::tree::Tree;
use crate::events::Severity;

/// How a session reaches a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Ssh,
    Telnet,
    RawTcp,
    Rfc2217,
    Cli,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Ssh => "ssh",
            Protocol::Telnet => "telnet",
            Protocol::RawTcp => "raw-tcp",
            Protocol::Rfc2217 => "rfc2217",
            Protocol::Cli => "cli",
        }
    }

    /// The conventional TCP port of access method `self` for port number `n`.
    fn base(self) -> u32 {
        match self {
            Protocol::Ssh => 3000,
            Protocol::Telnet => 2000,
            Protocol::RawTcp => 4000,
            Protocol::Rfc2217 => 5000,
            Protocol::Cli => 0,
        }
    }
}

pub const LISTENED: [Protocol; 4] = [
    Protocol::Ssh,
    Protocol::Telnet,
    Protocol::RawTcp,
    Protocol::Rfc2217,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub name: String,
    pub pattern: String,
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

pub use crate::datastore::tree::leaf;

fn children<'a>(node: &DataNodeRef<'a>, name: &str) -> Vec<DataNodeRef<'a>> {
    node.children()
        .filter(|c| c.schema().name() == name)
        .collect()
}

pub fn severity(s: &str) -> Severity {
    match s {
        "emergency" => Severity::Emergency,
        "alert" => Severity::Alert,
        "critical" => Severity::Critical,
        "error" => Severity::Error,
        "notice" => Severity::Notice,
        "info" => Severity::Info,
        "debug" => Severity::Debug,
        _ => Severity::Warning,
    }
}

pub fn access(s: &str) -> Access {
    match s {
        "read-write" => Access::ReadWrite,
        "read-only" => Access::ReadOnly,
        _ => Access::None,
    }
}

fn port(node: &DataNodeRef<'_>) -> Option<PortConfig> {
    let get = |rel: &str| leaf(node, rel);
    let name = get("name")?;
    let number: u16 = get("number")?.parse().ok()?;
    let on = |rel: &str| get(rel).is_none_or(|v| v == "true");
    let settings = Settings {
        baud: get("serial/baud")
            .and_then(|v| v.parse().ok())
            .unwrap_or(9600),
        data_bits: get("serial/data-bits")
            .and_then(|v| v.parse().ok())
            .unwrap_or(8),
        parity: match get("serial/parity").as_deref() {
            Some("even") => Parity::Even,
            Some("odd") => Parity::Odd,
            Some("mark") => Parity::Mark,
            Some("space") => Parity::Space,
            _ => Parity::None,
        },
        stop_bits: get("serial/stop-bits")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1),
        flow: match get("serial/flow-control").as_deref() {
            Some("rts-cts") => Flow::RtsCts,
            Some("xon-xoff") => Flow::XonXoff,
            _ => Flow::None,
        },
    };
    let mut listeners = Vec::new();
    for (proto, leaf_name) in [
        (Protocol::Ssh, "ssh"),
        (Protocol::Telnet, "telnet"),
        (Protocol::RawTcp, "raw-tcp"),
        (Protocol::Rfc2217, "rfc2217"),
    ] {
        let enabled = match get(&format!("access/{leaf_name}/enabled")).as_deref() {
            Some(v) => v == "true",
            // Unauthenticated access must be asked for.
            None => matches!(proto, Protocol::Ssh | Protocol::Telnet),
        };
        if !enabled {
            continue;
        }
        let tcp = get(&format!("access/{leaf_name}/port"))
            .and_then(|v| v.parse::<u16>().ok())
            .or_else(|| u16::try_from(proto.base() + u32::from(number)).ok());
        if let Some(tcp) = tcp {
            listeners.push((proto, tcp));
        }
    }
    let access_node = node.children().find(|c| c.schema().name() == "access");
    let groups = access_node
        .iter()
        .flat_map(|a| children(a, "group"))
        .filter_map(|g| {
            Some((
                leaf(&g, "name")?,
                access(&leaf(&g, "mode").unwrap_or_else(|| "read-write".into())),
            ))
        })
        .collect();
    let syslog = (get("logging/syslog/enabled").as_deref() == Some("true"))
        .then(|| {
            Some(Syslog {
                server: get("logging/syslog/server")?,
                port: get("logging/syslog/port")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(514),
                facility: get("logging/syslog/facility")
                    .and_then(|f| f.strip_prefix("local")?.parse::<u8>().ok())
                    .map_or(16, |n| 16 + n),
            })
        })
        .flatten();
    let logging = Logging {
        level: match get("logging/level").as_deref() {
            Some("none") => LogLevel::None,
            Some("output") => LogLevel::Output,
            _ => LogLevel::All,
        },
        max_bytes: get("logging/max-file-size")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(1024)
            * 1024,
        rotate: get("logging/rotate-count")
            .and_then(|v| v.parse().ok())
            .unwrap_or(5),
        syslog,
    };
    Some(PortConfig {
        label: get("label").filter(|l| !l.is_empty()),
        enabled: on("enabled"),
        device: PathBuf::from(get("device")?),
        settings,
        listeners,
        max_sessions: get("access/max-sessions")
            .and_then(|v| v.parse().ok())
            .unwrap_or(32),
        groups,
        logging,
        escape: get("escape-character")
            .and_then(|e| e.bytes().next())
            .unwrap_or(b'~'),
        outlets: children(node, "power-outlet")
            .iter()
            .filter_map(|o| Some((leaf(o, "device")?, leaf(o, "outlet")?)))
            .collect(),
        alerts: children(node, "alert-pattern")
            .iter()
            .filter_map(|a| {
                Some(Alert {
                    name: leaf(a, "name")?,
                    pattern: leaf(a, "pattern")?,
                    severity: severity(&leaf(a, "severity").unwrap_or_default()),
                })
            })
            .collect(),
        name,
        number,
    })
}

/// Every configured port, in configuration order.
pub fn ports(config: &Tree) -> Vec<PortConfig> {
    let Ok(set) = config.find_xpath("/lifeline-ports:ports/port") else {
        return Vec::new();
    };
    set.filter_map(|n| port(&n)).collect()
}

/// The local addresses of the console listeners; `::` (IPv4 and IPv6) when none.
pub fn listen_addresses(config: &Tree) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = config
        .find_xpath("/lifeline-system:management/console-access/address")
        .map(|set| {
            set.filter_map(|n| n.value_canonical())
                .filter_map(|v| v.split('%').next()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    if out.is_empty() {
        out.push(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED));
    }
    out
}
