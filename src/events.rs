//! The event bus: every service reports what happens as typed events; every consumer
//! (NETCONF notifications, traps, syslog, rules) subscribes. A bounded ring keeps
//! recent events for replay.
use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::broadcast;

/// Severities, as syslog and `lifeline-types:severity` name them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
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

/// Declares the event kinds once: the enum, their identity names and their
/// order (which is LIFELINE-MIB's numbering).
macro_rules! kinds {
    ($($variant:ident = $name:literal,)*) => {
        /// What happened. The names are the `lifeline-types:event-kind` identities.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventKind {
            $($variant,)*
            /// An event of a module loaded at run time (not in LIFELINE-MIB).
            Other,
        }

        impl EventKind {
            /// Every kind, in the order of their LIFELINE-MIB notification
            /// numbers (`lifelineNotifications.N` is the kind at index N - 1).
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(EventKind::$variant => $name,)*
                    EventKind::Other => "other",
                }
            }
        }
    };
}

kinds! {
    ConfigChanged = "config-changed",
    ConfirmedCommit = "confirmed-commit",
    CommitRollback = "commit-rollback",
    StartupConfigInvalid = "startup-config-invalid",
    ManagementSessionStart = "management-session-start",
    ManagementSessionEnd = "management-session-end",
    LoginFailure = "login-failure",
    SessionOpened = "session-opened",
    SessionClosed = "session-closed",
    PortDeviceGone = "port-device-gone",
    PortDeviceBack = "port-device-back",
    PortSignalChange = "port-signal-change",
    PortAlertMatch = "port-alert-match",
    OutletStateChange = "outlet-state-change",
    PowerDeviceUnreachable = "power-device-unreachable",
    PowerDeviceReachable = "power-device-reachable",
    UpsOnBattery = "ups-on-battery",
    UpsOnLine = "ups-on-line",
    UpsLowBattery = "ups-low-battery",
    UplinkDown = "uplink-down",
    UplinkUp = "uplink-up",
    UplinkFailover = "uplink-failover",
    UplinkFailback = "uplink-failback",
    TunnelUp = "tunnel-up",
    TunnelDown = "tunnel-down",
    RuleTriggered = "rule-triggered",
    RuleResolved = "rule-resolved",
    UplinkDegraded = "uplink-degraded",
    UplinkRoutingFailed = "uplink-routing-failed",
    AlarmRaised = "alarm-raised",
    AlarmCleared = "alarm-cleared",
    RuleNotification = "rule-notification",
}

impl EventKind {
    /// The LIFELINE-MIB notification number; `None` for kinds of modules
    /// loaded at run time, which share one notification.
    pub fn mib_number(self) -> Option<u32> {
        EventKind::ALL
            .iter()
            .position(|k| *k == self)
            .map(|i| i as u32 + 1)
    }

    pub fn parse(name: &str) -> Option<EventKind> {
        let name = name.rsplit(':').next().unwrap_or(name);
        EventKind::ALL.iter().copied().find(|k| k.as_str() == name)
    }
}

/// What an event says, beyond when, how bad and what about: a value whose
/// fields are the leaves of the YANG notification it is sent as.
pub trait Payload: Serialize {
    const KIND: EventKind;
    /// The YANG notification (`module:name`).
    const NOTIFICATION: &'static str;
}

/// Makes a payload struct (with one lifetime) the payload of `kind`, sent as
/// notification `notif`.
#[macro_export]
macro_rules! payload {
    ($name:ident, $kind:ident, $notif:literal) => {
        impl $crate::events::Payload for $name<'_> {
            const KIND: $crate::events::EventKind = $crate::events::EventKind::$kind;
            const NOTIFICATION: &'static str = $notif;
        }
    };
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
    /// The YANG notification this event is sent as (`module:name`).
    pub notification: &'static str,
    /// The payload as RFC 7951 JSON members of the notification.
    pub fields: Map<String, Value>,
}

impl Event {
    /// The field at a `/`-separated path (`changed-by/username`); the first
    /// entry of a list on the way.
    pub fn field(&self, path: &str) -> Option<&Value> {
        let mut parts = path.split('/');
        let mut cur = self.fields.get(parts.next()?)?;
        for p in parts {
            if let Value::Array(a) = cur {
                cur = a.first()?;
            }
            cur = cur.get(p)?;
        }
        Some(cur)
    }

    /// A field as text (numbers and booleans as YANG writes them).
    pub fn text(&self, path: &str) -> Option<String> {
        self.field(path)
            .and_then(crate::service::config::scalar_text)
    }

    /// The payload as a typed value.
    pub fn payload<P: serde::de::DeserializeOwned>(&self) -> Option<P> {
        serde_json::from_value(Value::Object(self.fields.clone())).ok()
    }

    /// Every leaf of the payload as `path=value`, in document order: the
    /// details of an SNMP notification, a syslog line, a log line.
    pub fn leaves(&self) -> Vec<(String, String)> {
        fn walk(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
            match v {
                Value::Object(m) => {
                    for (k, v) in m {
                        let k = k.rsplit(':').next().unwrap_or(k);
                        let p = if prefix.is_empty() {
                            k.to_string()
                        } else {
                            format!("{prefix}/{k}")
                        };
                        walk(&p, v, out);
                    }
                }
                Value::Array(a) if !(a.len() == 1 && a[0].is_null()) => {
                    for v in a {
                        walk(prefix, v, out);
                    }
                }
                v => out.push((
                    prefix.to_string(),
                    crate::service::config::scalar_text(v).unwrap_or_default(),
                )),
            }
        }
        let mut out = Vec::new();
        walk("", &Value::Object(self.fields.clone()), &mut out);
        out
    }

    /// `name=value; ...` of every leaf.
    pub fn details(&self) -> String {
        self.leaves()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The one line a log or syslog shows for the event.
    pub fn line(&self) -> String {
        let d = self.details();
        if d.is_empty() {
            format!("{} {}: {}", self.kind.as_str(), self.source, self.message)
        } else {
            format!(
                "{} {}: {} [{d}]",
                self.kind.as_str(),
                self.source,
                self.message
            )
        }
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

    /// Publishes an event with a typed payload.
    pub fn emit<P: Payload>(
        &self,
        severity: Severity,
        source: impl Into<String>,
        message: impl Into<String>,
        payload: &P,
    ) -> Arc<Event> {
        let fields = match serde_json::to_value(payload) {
            Ok(Value::Object(m)) => m,
            Ok(_) => Map::new(),
            Err(e) => {
                tracing::error!("event {}: payload: {e}", P::NOTIFICATION);
                Map::new()
            }
        };
        self.publish(
            P::KIND,
            P::NOTIFICATION,
            severity,
            source.into(),
            message.into(),
            fields,
        )
    }

    /// Publishes an event whose payload is already JSON (events of modules
    /// loaded at run time, replays).
    pub fn publish(
        &self,
        kind: EventKind,
        notification: &'static str,
        severity: Severity,
        source: String,
        message: String,
        fields: Map<String, Value>,
    ) -> Arc<Event> {
        let mut ring = self.ring.lock();
        let event = Arc::new(Event {
            seq: ring.next_seq,
            kind,
            severity,
            source,
            time: Utc::now(),
            message,
            notification,
            fields,
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
        let ring = self.ring.lock();
        let replay = ring.recent.iter().filter(|e| keep(e)).cloned().collect();
        (replay, self.tx.subscribe())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    pub fn recent(&self) -> Vec<Arc<Event>> {
        self.ring.lock().recent.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct T {
        n: u32,
        #[serde(rename = "changed-by")]
        by: By,
    }
    #[derive(Serialize)]
    struct By {
        username: String,
    }
    impl Payload for T {
        const KIND: EventKind = EventKind::ConfigChanged;
        const NOTIFICATION: &'static str = "test:t";
    }

    fn t(n: u32) -> T {
        T {
            n,
            by: By {
                username: "admin".into(),
            },
        }
    }

    #[test]
    fn ring_is_bounded_and_replay_then_live_has_no_gap() {
        let bus = EventBus::new(3);
        for i in 0..5 {
            bus.emit(Severity::Info, "t", format!("{i}"), &t(i));
        }
        let (replay, mut rx) = bus.subscribe_with_replay(|_| true);
        assert_eq!(
            replay.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        bus.emit(Severity::Info, "t", "6", &t(6));
        assert_eq!(rx.try_recv().unwrap().seq, 6);
    }

    #[test]
    fn fields_are_typed_and_flatten_to_details() {
        let bus = EventBus::new(3);
        let e = bus.emit(Severity::Info, "t", "m", &t(7));
        assert_eq!(e.field("n"), Some(&Value::from(7)));
        assert_eq!(e.text("changed-by/username").as_deref(), Some("admin"));
        assert_eq!(e.details(), "n=7; changed-by/username=admin");
        assert_eq!(e.kind.mib_number(), Some(1));
        assert_eq!(EventKind::Other.mib_number(), None);
        assert_eq!(
            EventKind::parse("lifeline-types:rule-resolved"),
            Some(EventKind::RuleResolved)
        );
    }
}
