//! The management faces: thin translations of protocols into datastore requests.
pub mod cli;
pub mod limits;
pub mod listeners;
pub mod netconf;
pub mod snmp;
pub mod ssh;

use crate::datastore::Session;
use crate::events::{EventBus, EventKind, Severity};

/// Reports a management session starting or ending, whatever its face.
pub fn session_event(
    events: &EventBus,
    kind: EventKind,
    s: &Session,
    mut details: Vec<(String, String)>,
) {
    details.push(("username".into(), s.user.clone()));
    details.push(("session-id".into(), s.id.to_string()));
    details.push(("face".into(), s.face.as_str().into()));
    if let Some(h) = &s.source {
        details.push(("source-host".into(), h.clone()));
    }
    let what = if kind == EventKind::ManagementSessionStart {
        "started"
    } else {
        "ended"
    };
    events.publish(
        kind,
        Severity::Info,
        s.face.as_str(),
        format!("{} session {} of {} {what}", s.face.as_str(), s.id, s.user),
        details,
    );
}
