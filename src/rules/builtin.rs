//! The faults the appliance sees by itself, which are alarms with no rule:
//! a console port's device gone, a power device unreachable, a UPS on
//! battery or low, an uplink down. Each maps an event to a raise or a clear.
use super::alarms::{AlarmSeverity, Key};
use crate::events::{Event, EventKind};
use crate::service::config::quote;

/// One alarm type: its identity, where its resources live, what it means.
pub struct AlarmType {
    pub id: &'static str,
    /// The `resource-match` its resources fall under.
    pub resource: &'static str,
    pub severity: &'static [AlarmSeverity],
    pub will_clear: bool,
    pub description: &'static str,
}

use AlarmSeverity::*;

/// Every alarm type the appliance can raise (the alarm inventory). The
/// action alarms' qualifier is the action's name.
pub const TYPES: &[AlarmType] = &[
    AlarmType {
        id: "port-device-missing",
        resource: "/lifeline-ports:ports/port",
        severity: &[Major],
        will_clear: true,
        description: "A console port's serial device went away (USB adapter unplugged, target off); cleared when it is back.",
    },
    AlarmType {
        id: "power-device-unreachable",
        resource: "/lifeline-power:power/device",
        severity: &[Major],
        will_clear: true,
        description: "A PDU or UPS does not answer; cleared when it does. Check its network and credentials.",
    },
    AlarmType {
        id: "ups-on-battery",
        resource: "/lifeline-power:power/device",
        severity: &[Major],
        will_clear: true,
        description: "A UPS runs on battery: the site lost mains power; cleared when it is back on line.",
    },
    AlarmType {
        id: "ups-low-battery",
        resource: "/lifeline-power:power/device",
        severity: &[Critical],
        will_clear: true,
        description: "A UPS's battery is low: shutdown is near; cleared when it is back on line.",
    },
    AlarmType {
        id: "uplink-down",
        resource: "/lifeline-uplinks:uplinks/uplink",
        severity: &[Major],
        will_clear: true,
        description: "An uplink is down (probes failing, no carrier, interface gone); cleared when it is up.",
    },
    AlarmType {
        id: "rule-condition",
        resource: "/lifeline-auto-response:auto-response/rule",
        severity: &[Indeterminate, Warning, Minor, Major, Critical],
        will_clear: true,
        description: "An auto-response rule's condition holds (severity as the rule says); cleared when it resolves.",
    },
    AlarmType {
        id: "action-failed",
        resource: "/lifeline-auto-response:auto-response/rule",
        severity: &[Major],
        will_clear: true,
        description: "An action of a rule failed and is retried; cleared when it succeeds or the rule resolves.",
    },
    AlarmType {
        id: "action-denied",
        resource: "/lifeline-auto-response:auto-response/rule",
        severity: &[Major],
        will_clear: true,
        description: "NACM denied an action to the rule's run-as user; not retried. Cleared when the rule resolves or changes.",
    },
];

/// What an event does to the built-in alarms.
pub enum Change {
    Raise(Key, AlarmSeverity),
    Clear(Key),
}

fn entry(list: &str, key: &str, value: &str) -> String {
    format!("{list}[{key}={}]", quote(value))
}

pub fn changes(e: &Event) -> Vec<Change> {
    use EventKind as K;
    let field = |f: &str| e.text(f).unwrap_or_default();
    let port = || entry("/lifeline-ports:ports/port", "name", &field("port"));
    let device = || entry("/lifeline-power:power/device", "name", &field("device"));
    let uplink = || entry("/lifeline-uplinks:uplinks/uplink", "name", &field("uplink"));
    let key = |r: String, ty: &str| Key::ours(r, ty, "");
    match e.kind {
        K::PortDeviceGone => vec![Change::Raise(key(port(), "port-device-missing"), Major)],
        K::PortDeviceBack => vec![Change::Clear(key(port(), "port-device-missing"))],
        K::PowerDeviceUnreachable => vec![Change::Raise(
            key(device(), "power-device-unreachable"),
            Major,
        )],
        K::PowerDeviceReachable => vec![Change::Clear(key(device(), "power-device-unreachable"))],
        K::UpsOnBattery => vec![Change::Raise(key(device(), "ups-on-battery"), Major)],
        K::UpsLowBattery => vec![Change::Raise(key(device(), "ups-low-battery"), Critical)],
        K::UpsOnLine => vec![
            Change::Clear(key(device(), "ups-on-battery")),
            Change::Clear(key(device(), "ups-low-battery")),
        ],
        K::UplinkDown => vec![Change::Raise(key(uplink(), "uplink-down"), Major)],
        K::UplinkUp => vec![Change::Clear(key(uplink(), "uplink-down"))],
        _ => Vec::new(),
    }
}

/// Whether the live state shows a built-in alarm's fault gone: an event
/// missed, or the fault cleared while lifelined was down. Unknown state
/// (a device not yet polled) is not gone.
pub fn healed(key: &Key, registry: &crate::service::Registry) -> bool {
    use serde_json::Value;
    let Some((list, preds)) = key.resource.split_once('[') else {
        return false;
    };
    let Some(name) = crate::service::config::parse_predicates(&format!("[{preds}"))
        .and_then(|p| p.into_iter().next())
        .map(|(_, v)| v)
    else {
        return false;
    };
    let entries = registry.read_all(list, crate::service::state::Select::Keys(vec![vec![name]]));
    let has = |f: &dyn Fn(&Value) -> Option<bool>| entries.iter().any(|e| f(e) == Some(true));
    match key.type_id.rsplit(':').next().unwrap_or_default() {
        "port-device-missing" => has(&|e| e.get("state")?.get("device-present")?.as_bool()),
        "power-device-unreachable" => has(&|e| e.get("reachable")?.as_bool()),
        "ups-on-battery" => has(&|e| Some(!e.get("ups")?.get("on-battery")?.as_bool()?)),
        "ups-low-battery" => has(&|e| Some(!e.get("ups")?.get("low-battery")?.as_bool()?)),
        "uplink-down" => has(&|e| Some(matches!(e.get("health")?.as_str()?, "up" | "degraded"))),
        _ => false,
    }
}
