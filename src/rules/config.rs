//! `lifeline-auto-response` and `ietf-alarms`'s control as typed values, built
//! by serde with YANG's defaults.
use std::net::IpAddr;

use serde::{Deserialize, Deserializer};

use super::alarms::AlarmSeverity;
use crate::events::Severity;
use crate::ports::config::Pattern;
use crate::service::config::ip;

/// What the rules service reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    #[serde(rename = "lifeline-auto-response:auto-response")]
    pub auto_response: Option<AutoResponse>,
    #[serde(rename = "ietf-alarms:alarms")]
    pub alarms: Option<Alarms>,
    /// Read for the interfaces of uplinks that checks leave by.
    #[serde(rename = "lifeline-uplinks:uplinks")]
    pub uplinks: Option<UplinkNames>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UplinkNames {
    #[serde(default)]
    pub uplink: Vec<UplinkName>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UplinkName {
    pub name: String,
    pub interface: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AutoResponse {
    #[serde(rename = "boot-delay")]
    pub boot_delay: u32,
    #[serde(rename = "action-retry")]
    pub action_retry: Retry,
    pub email: Option<super::email::EmailConfig>,
    pub sms: Option<Sms>,
    #[serde(default)]
    pub rule: Vec<Rule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Retry {
    pub interval: u32,
    pub attempts: u8,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            interval: 60,
            attempts: 3,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Sms {
    pub device: String,
    pub speed: u32,
    pub pin: Option<String>,
    pub timeout: u16,
}

/// A regular expression that must match a whole value.
#[derive(Debug, Clone)]
pub struct Whole(pub regex::Regex);

impl<'de> Deserialize<'de> for Whole {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Whole, D::Error> {
        let s = String::deserialize(d)?;
        regex::Regex::new(&format!("^(?:{s})$"))
            .map(Whole)
            .map_err(|e| serde::de::Error::custom(format!("not a regular expression: {e}")))
    }
}

impl Whole {
    pub fn is_match(&self, s: &str) -> bool {
        self.0.is_match(s)
    }

    /// The one value it matches, if it is a plain string.
    pub fn literal(&self) -> Option<String> {
        let inner = self.0.as_str().strip_prefix("^(?:")?.strip_suffix(")$")?;
        (regex::escape(inner) == inner && !inner.is_empty()).then(|| inner.to_string())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Filter {
    pub name: String,
    #[serde(rename = "value-pattern")]
    pub value: Whole,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Trigger {
    /// An event kind, `module:identity`.
    pub event: Option<String>,
    #[serde(rename = "source-pattern")]
    pub source_pattern: Option<Pattern>,
    #[serde(rename = "min-severity")]
    pub min_severity: Option<Severity>,
    #[serde(default)]
    pub filter: Vec<Filter>,
    pub check: Option<Check>,
    pub holdoff: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    On,
    Off,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Ping {
    #[serde(deserialize_with = "ip")]
    pub host: IpAddr,
    pub uplink: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TcpConnect {
    #[serde(deserialize_with = "ip")]
    pub host: IpAddr,
    pub port: u16,
    pub uplink: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Signal {
    pub port: String,
    pub signal: String,
    #[serde(rename = "fails-when")]
    pub fails_when: Level,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ConsolePattern {
    pub port: String,
    #[serde(rename = "alert-pattern")]
    pub alert_pattern: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpsCondition {
    OnBattery,
    LowBattery,
    ChargeBelow,
    RuntimeBelow,
    LoadAbove,
    InputVoltageBelow,
    InputVoltageAbove,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Ups {
    pub device: String,
    pub condition: UpsCondition,
    #[serde(default, deserialize_with = "crate::service::config::opt_number")]
    pub threshold: Option<f64>,
    #[serde(default, deserialize_with = "crate::service::config::opt_number")]
    pub hysteresis: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UplinkFails {
    Down,
    NotUp,
    Active,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UplinkCheck {
    pub name: String,
    #[serde(rename = "fails-when")]
    pub fails_when: UplinkFails,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TunnelFails {
    Down,
    Up,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TunnelCheck {
    #[serde(rename = "fails-when")]
    pub fails_when: TunnelFails,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OutletCheck {
    pub device: String,
    pub outlet: String,
    #[serde(rename = "fails-when")]
    pub fails_when: Level,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LoginFailures {
    pub count: u32,
    pub window: u32,
    #[serde(rename = "username-pattern")]
    pub username: Option<Whole>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Program {
    pub path: String,
    #[serde(default)]
    pub argument: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Check {
    pub interval: u32,
    pub timeout: u16,
    pub ping: Option<Ping>,
    #[serde(rename = "tcp-connect")]
    pub tcp_connect: Option<TcpConnect>,
    pub signal: Option<Signal>,
    #[serde(rename = "console-pattern")]
    pub console_pattern: Option<ConsolePattern>,
    pub ups: Option<Ups>,
    pub uplink: Option<UplinkCheck>,
    pub tunnel: Option<TunnelCheck>,
    pub outlet: Option<OutletCheck>,
    #[serde(rename = "login-failures")]
    pub login_failures: Option<LoginFailures>,
    pub script: Option<Program>,
}

impl Check {
    /// The check's kind, as the model names it.
    pub fn kind(&self) -> &'static str {
        if self.ping.is_some() {
            "ping"
        } else if self.tcp_connect.is_some() {
            "tcp-connect"
        } else if self.signal.is_some() {
            "signal"
        } else if self.console_pattern.is_some() {
            "console-pattern"
        } else if self.ups.is_some() {
            "ups"
        } else if self.uplink.is_some() {
            "uplink"
        } else if self.tunnel.is_some() {
            "tunnel"
        } else if self.outlet.is_some() {
            "outlet"
        } else if self.login_failures.is_some() {
            "login-failures"
        } else {
            "script"
        }
    }

    /// Whether the service polls it (the others follow events).
    pub fn polled(&self) -> bool {
        self.console_pattern.is_none() && self.login_failures.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutletOp {
    On,
    Off,
    Cycle,
}

impl OutletOp {
    pub fn as_str(self) -> &'static str {
        match self {
            OutletOp::On => "on",
            OutletOp::Off => "off",
            OutletOp::Cycle => "cycle",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpDown {
    Up,
    Down,
}

impl UpDown {
    pub fn as_str(self) -> &'static str {
        match self {
            UpDown::Up => "up",
            UpDown::Down => "down",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct SnmpAction {
    pub tag: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SyslogAction {
    pub severity: Severity,
    pub server: Option<String>,
    pub port: u16,
    pub facility: u8,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EmailAction {
    pub to: Vec<String>,
    pub subject: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SmsAction {
    pub to: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OutletAction {
    pub device: String,
    #[serde(deserialize_with = "text")]
    pub outlet: String,
    pub operation: OutletOp,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UplinkAction {
    pub name: String,
    pub operation: UpDown,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TunnelAction {
    pub operation: UpDown,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ConsoleAction {
    pub port: String,
    pub send: Option<String>,
    #[serde(rename = "break")]
    pub brk: Option<u16>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ScriptAction {
    pub path: String,
    #[serde(default)]
    pub argument: Vec<String>,
    pub timeout: u16,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Action {
    pub name: String,
    pub delay: u32,
    #[serde(rename = "repeat-interval")]
    pub repeat_interval: u32,
    #[serde(rename = "repeat-count")]
    pub repeat_count: u32,
    #[serde(rename = "snmp-notification")]
    pub snmp: Option<SnmpAction>,
    pub syslog: Option<SyslogAction>,
    pub email: Option<EmailAction>,
    pub sms: Option<SmsAction>,
    pub outlet: Option<OutletAction>,
    pub uplink: Option<UplinkAction>,
    pub tunnel: Option<TunnelAction>,
    pub console: Option<ConsoleAction>,
    pub script: Option<ScriptAction>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct RateLimit {
    #[serde(rename = "max-triggers")]
    pub max_triggers: u32,
    pub period: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Window {
    pub name: String,
    #[serde(deserialize_with = "minutes")]
    pub start: u16,
    #[serde(deserialize_with = "minutes")]
    pub end: u16,
}

impl Window {
    /// Whether minute-of-day `m` falls inside (a window may span midnight).
    pub fn contains(&self, m: u16) -> bool {
        if self.start <= self.end {
            (self.start..self.end).contains(&m)
        } else {
            m >= self.start || m < self.end
        }
    }
}

fn minutes<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let s = String::deserialize(d)?;
    let (h, m) = s
        .split_once(':')
        .ok_or_else(|| serde::de::Error::custom("not HH:MM"))?;
    let h: u16 = h.parse().map_err(serde::de::Error::custom)?;
    let m: u16 = m.parse().map_err(serde::de::Error::custom)?;
    Ok(h * 60 + m)
}

/// A key leaf that may be a number or a string in JSON, as text.
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    crate::service::config::scalar_text(&v).ok_or_else(|| serde::de::Error::custom("not a value"))
}

#[derive(Debug, Clone, Deserialize)]
pub struct Rule {
    pub name: String,
    pub description: Option<String>,
    pub enabled: bool,
    #[serde(rename = "run-as")]
    pub run_as: String,
    #[serde(rename = "alarm-severity")]
    pub alarm_severity: AlarmSeverity,
    pub trigger: Trigger,
    #[serde(rename = "reset-timeout")]
    pub reset_timeout: u32,
    #[serde(rename = "rate-limit")]
    pub rate_limit: RateLimit,
    #[serde(default, rename = "disable-window")]
    pub disable_window: Vec<Window>,
    #[serde(default)]
    pub action: Vec<Action>,
    #[serde(default, rename = "resolve-action")]
    pub resolve_action: Vec<Action>,
}

// ----- ietf-alarms control -----

#[derive(Debug, Clone, Deserialize)]
pub struct Alarms {
    pub control: Option<Control>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Control {
    #[serde(rename = "max-alarm-status-changes")]
    pub max_status_changes: serde_json::Value,
    #[serde(rename = "notify-status-changes")]
    pub notify: String,
    #[serde(rename = "notify-severity-level")]
    pub notify_level: Option<AlarmSeverity>,
    #[serde(rename = "alarm-shelving")]
    pub shelving: Option<Shelving>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Shelving {
    #[serde(default)]
    pub shelf: Vec<ShelfConfig>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ShelfConfig {
    pub name: String,
    #[serde(default)]
    pub resource: Vec<String>,
    #[serde(default, rename = "alarm-type")]
    pub alarm_type: Vec<ShelfTypeConfig>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ShelfTypeConfig {
    #[serde(rename = "alarm-type-id")]
    pub alarm_type_id: String,
    #[serde(rename = "alarm-type-qualifier-match")]
    pub qualifier_match: Whole,
}

/// What the alarm list needs of `/alarms/control`.
#[derive(Debug, Clone)]
pub struct AlarmControl {
    /// `None` is infinite.
    pub max_status_changes: Option<u16>,
    pub notify: NotifyMode,
    pub shelves: Vec<Shelf>,
}

impl Default for AlarmControl {
    fn default() -> AlarmControl {
        AlarmControl {
            max_status_changes: Some(32),
            notify: NotifyMode::AllStateChanges,
            shelves: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyMode {
    AllStateChanges,
    RaiseAndClear,
    SeverityLevel(AlarmSeverity),
}

#[derive(Debug, Clone)]
pub struct Shelf {
    pub name: String,
    pub resource: Vec<String>,
    pub alarm_type: Vec<ShelfType>,
}

#[derive(Debug, Clone)]
pub struct ShelfType {
    pub alarm_type_id: String,
    pub qualifier_match: regex::Regex,
}

impl Alarms {
    pub fn control(&self) -> AlarmControl {
        let Some(c) = &self.control else {
            return AlarmControl::default();
        };
        AlarmControl {
            max_status_changes: c.max_status_changes.as_u64().map(|n| n as u16),
            notify: match (c.notify.as_str(), c.notify_level) {
                ("raise-and-clear", _) => NotifyMode::RaiseAndClear,
                ("severity-level", Some(l)) => NotifyMode::SeverityLevel(l),
                _ => NotifyMode::AllStateChanges,
            },
            shelves: c
                .shelving
                .iter()
                .flat_map(|s| &s.shelf)
                .map(|s| Shelf {
                    name: s.name.clone(),
                    resource: s.resource.clone(),
                    alarm_type: s
                        .alarm_type
                        .iter()
                        .map(|t| ShelfType {
                            alarm_type_id: t.alarm_type_id.clone(),
                            qualifier_match: t.qualifier_match.0.clone(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}
