//! `lifeline-uplinks` as typed values, built by serde with YANG's defaults.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use serde::Deserialize;

use super::health::{Require, Timing};
use super::select::{Failback, Policy};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Automatic,
    Manual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailbackMode {
    Immediate,
    AfterHolddown,
    Manual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequireMode {
    Any,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    Icmp,
    Tcp,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Probe {
    #[serde(default)]
    pub target: Vec<IpAddr>,
    pub require: RequireMode,
    pub method: Method,
    #[serde(rename = "tcp-port")]
    pub tcp_port: Option<u16>,
    /// Milliseconds.
    pub interval: u32,
    /// Milliseconds.
    pub timeout: u32,
    #[serde(rename = "failure-threshold")]
    pub failure_threshold: u16,
    #[serde(rename = "recovery-threshold")]
    pub recovery_threshold: u16,
    #[serde(rename = "degraded-loss")]
    pub degraded_loss: u8,
}

impl Probe {
    pub fn timing(&self) -> Timing {
        Timing {
            require: match self.require {
                RequireMode::Any => Require::Any,
                RequireMode::All => Require::All,
            },
            interval: Duration::from_millis(self.interval.into()),
            timeout: Duration::from_millis(self.timeout.into()),
            failure_threshold: self.failure_threshold,
            recovery_threshold: self.recovery_threshold,
            degraded_loss: self.degraded_loss,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OnDemand {
    #[serde(rename = "up-command")]
    pub up_command: Option<String>,
    #[serde(rename = "down-command")]
    pub down_command: Option<String>,
    /// Seconds.
    #[serde(rename = "command-timeout")]
    pub command_timeout: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Uplink {
    pub name: String,
    pub interface: String,
    pub priority: u8,
    pub enabled: bool,
    pub gateway: Option<Ipv4Addr>,
    pub gateway6: Option<Ipv6Addr>,
    #[serde(rename = "on-demand")]
    pub on_demand: Option<OnDemand>,
    pub probe: Probe,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Peer {
    #[serde(rename = "public-key")]
    pub public_key: String,
    pub endpoint: IpAddr,
    #[serde(rename = "endpoint-port")]
    pub endpoint_port: u16,
    #[serde(rename = "allowed-ips")]
    pub allowed_ips: Vec<String>,
    #[serde(rename = "persistent-keepalive")]
    pub persistent_keepalive: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WireGuard {
    #[serde(rename = "private-key")]
    pub private_key: String,
    #[serde(rename = "listen-port")]
    pub listen_port: Option<u16>,
    pub address: Vec<String>,
    #[serde(rename = "userspace-program")]
    pub userspace_program: String,
    pub peer: Peer,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Command {
    #[serde(rename = "up-command")]
    pub up_command: String,
    #[serde(rename = "down-command")]
    pub down_command: String,
    /// Seconds.
    pub timeout: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BringUp {
    OnFailover,
    Always,
    /// Only the start and stop actions.
    Manual,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TunnelKind {
    Wireguard(WireGuard),
    Command(Command),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Tunnel {
    #[serde(rename = "bring-up")]
    pub bring_up: BringUp,
    pub interface: String,
    #[serde(flatten)]
    pub kind: TunnelKind,
    pub probe: Probe,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Routing {
    pub table: u32,
    #[serde(rename = "rule-priority")]
    pub rule_priority: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Uplinks {
    pub mode: Mode,
    pub pinned: Option<String>,
    pub failback: FailbackMode,
    /// Seconds.
    #[serde(rename = "failback-holddown")]
    pub failback_holddown: u32,
    #[serde(rename = "management-route", default)]
    pub management_route: Vec<String>,
    pub routing: Routing,
    #[serde(default)]
    pub uplink: Vec<Uplink>,
    pub tunnel: Option<Tunnel>,
}

impl Uplinks {
    pub fn policy(&self) -> Policy {
        Policy {
            pinned: match self.mode {
                Mode::Manual => self.pinned.clone(),
                Mode::Automatic => None,
            },
            failback: match self.failback {
                FailbackMode::Immediate => Failback::Immediate,
                FailbackMode::AfterHolddown => Failback::AfterHolddown,
                FailbackMode::Manual => Failback::Manual,
            },
            holddown: Duration::from_secs(self.failback_holddown.into()),
        }
    }
}

/// What the uplinks service reads. Without an `uplinks` container (no
/// configuration at all), nothing is managed.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    #[serde(rename = "lifeline-uplinks:uplinks")]
    pub uplinks: Option<Uplinks>,
}
