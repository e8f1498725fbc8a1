//! The event bus: every service reports what happens as typed events; every consumer
//! (NETCONF notifications, traps, syslog, rules) subscribes. A bounded ring keeps
//! recent events for replay.
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

/// Severities, as syslog and `lifeline-types:severity` name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Emergency,
    Alert,
    Critical,
    Error,
    Warning,
    Notice,
    Info,
    Debug,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Emergency => "emergency",
            Severity::Alert => "alert",
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
            Severity::Info => "info",
            Severity::Debug => "debug",
        }
    }
}

/// What happened. The names are the `lifeline-types:event-kind` identities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    ConfigChanged,
    ConfirmedCommit,
    CommitRollback,
    StartupConfigInvalid,
    ManagementSessionStart,
    ManagementSessionEnd,
    LoginFailure,
    SessionOpened,
    SessionClosed,
    PortDeviceGone,
    PortDeviceBack,
    PortSignalChange,
    PortAlertMatch,
    OutletStateChange,
    PowerDeviceUnreachable,
    PowerDeviceReachable,
    UpsOnBattery,
    UpsOnLine,
    UpsLowBattery,
    UplinkDown,
    UplinkUp,
    UplinkFailover,
    UplinkFailback,
    TunnelUp,
    TunnelDown,
    RuleTriggered,
    RuleResolved,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        use EventKind::*;
        match self {
            ConfigChanged => "config-changed",
            ConfirmedCommit => "confirmed-commit",
            CommitRollback => "commit-rollback",
            StartupConfigInvalid => "startup-config-invalid",
            ManagementSessionStart => "management-session-start",
            ManagementSessionEnd => "management-session-end",
            LoginFailure => "login-failure",
            SessionOpened => "session-opened",
            SessionClosed => "session-closed",
            PortDeviceGone => "port-device-gone",
            PortDeviceBack => "port-device-back",
            PortSignalChange => "port-signal-change",
            PortAlertMatch => "port-alert-match",
            OutletStateChange => "outlet-state-change",
            PowerDeviceUnreachable => "power-device-unreachable",
            PowerDeviceReachable => "power-device-reachable",
            UpsOnBattery => "ups-on-battery",
            UpsOnLine => "ups-on-line",
            UpsLowBattery => "ups-low-battery",
            UplinkDown => "uplink-down",
            UplinkUp => "uplink-up",
            UplinkFailover => "uplink-failover",
            UplinkFailback => "uplink-failback",
            TunnelUp => "tunnel-up",
            TunnelDown => "tunnel-down",
            RuleTriggered => "rule-triggered",
            RuleResolved => "rule-resolved",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Event {
    /// Increasing, unique within one run.
    pub seq: u64,
    pub kind: EventKind,
    pub severity: Severity,
    /// The service and object, e.g. `ports/port01` or `datastore`.
    pub source: String,
    pub time: DateTime<Utc>,
    pub message: String,
    pub details: Vec<(String, String)>,
}

impl Event {
    pub fn detail(&self, name: &str) -> Option<&str> {
        self.details
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

struct Ring {
    next_seq: u64,
    recent: VecDeque<Arc<Event>>,
}

/// Cloneable handle to the bus.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
    ring: Arc<Mutex<Ring>>,
    capacity: usize,
}

impl EventBus {
    pub fn new(capacity: usize) -> EventBus {
        let (tx, _) = broadcast::channel(1024);
        EventBus {
            tx,
            ring: Arc::new(Mutex::new(Ring {
                next_seq: 1,
                recent: VecDeque::with_capacity(capacity),
            })),
            capacity,
        }
    }

    pub fn publish(
        &self,
        kind: EventKind,
        severity: Severity,
        source: impl Into<String>,
        message: impl Into<String>,
        details: Vec<(String, String)>,
    ) -> Arc<Event> {
        let mut ring = self.ring.lock().unwrap();
        let event = Arc::new(Event {
            seq: ring.next_seq,
            kind,
            severity,
            source: source.into(),
            time: Utc::now(),
            message: message.into(),
            details,
        });
        ring.next_seq += 1;
        if ring.recent.len() == self.capacity {
            ring.recent.pop_front();
        }
        ring.recent.push_back(event.clone());
        // Sent under the lock so a subscriber's replay and live stream never overlap or gap.
        let _ = self.tx.send(event.clone());
        tracing::info!(kind = kind.as_str(), source = %event.source, "{}", event.message);
        event
    }

    /// The buffered events accepted by `keep`, then every later event live.
    pub fn subscribe_with_replay(
        &self,
        keep: impl Fn(&Event) -> bool,
    ) -> (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>) {
        let ring = self.ring.lock().unwrap();
        let replay = ring.recent.iter().filter(|e| keep(e)).cloned().collect();
        (replay, self.tx.subscribe())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    pub fn recent(&self) -> Vec<Arc<Event>> {
        self.ring.lock().unwrap().recent.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_is_bounded_and_replay_then_live_has_no_gap() {
        let bus = EventBus::new(3);
        for i in 0..5 {
            bus.publish(
                EventKind::ConfigChanged,
                Severity::Info,
                "t",
                format!("{i}"),
                vec![],
            );
        }
        let (replay, mut rx) = bus.subscribe_with_replay(|_| true);
        assert_eq!(
            replay.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        bus.publish(EventKind::ConfigChanged, Severity::Info, "t", "6", vec![]);
        assert_eq!(rx.try_recv().unwrap().seq, 6);
    }
}
