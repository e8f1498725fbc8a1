//! The management faces: thin translations of protocols into datastore requests.
pub mod cli;
pub mod https;
pub mod limits;
pub mod listeners;
pub mod netconf;
pub mod snmp;
pub mod ssh;

use serde::Serialize;

use crate::datastore::{Face, Session};
use crate::events::{EventBus, EventKind, Payload, Severity};

/// How a management session ended.
pub struct Ended {
    /// RFC 6470's termination-reason: closed, killed, dropped, timeout,
    /// bad-hello, other.
    pub reason: &'static str,
    pub killed_by: Option<u32>,
}

#[derive(Serialize)]
struct Who {
    username: String,
    #[serde(rename = "session-id")]
    session_id: u32,
    #[serde(rename = "source-host", skip_serializing_if = "Option::is_none")]
    source_host: Option<String>,
}

/// RFC 6470's netconf-session-start / -end, for NETCONF sessions.
#[derive(Serialize)]
#[serde(transparent)]
struct NetconfStart(Who);

#[derive(Serialize)]
struct NetconfEnd {
    #[serde(flatten)]
    who: Who,
    #[serde(rename = "killed-by", skip_serializing_if = "Option::is_none")]
    killed_by: Option<u32>,
    #[serde(rename = "termination-reason")]
    reason: &'static str,
}

/// `lifeline-system:management-session-start` / -end, for the other faces.
#[derive(Serialize)]
struct Start {
    #[serde(flatten)]
    who: Who,
    face: &'static str,
}

#[derive(Serialize)]
struct End {
    #[serde(flatten)]
    who: Who,
    face: &'static str,
    #[serde(rename = "termination-reason")]
    reason: &'static str,
}

impl Payload for NetconfStart {
    const KIND: EventKind = EventKind::ManagementSessionStart;
    const NOTIFICATION: &'static str = "ietf-netconf-notifications:netconf-session-start";
}

impl Payload for NetconfEnd {
    const KIND: EventKind = EventKind::ManagementSessionEnd;
    const NOTIFICATION: &'static str = "ietf-netconf-notifications:netconf-session-end";
}

impl Payload for Start {
    const KIND: EventKind = EventKind::ManagementSessionStart;
    const NOTIFICATION: &'static str = "lifeline-system:management-session-start";
}

impl Payload for End {
    const KIND: EventKind = EventKind::ManagementSessionEnd;
    const NOTIFICATION: &'static str = "lifeline-system:management-session-end";
}

/// Reports a management session starting (`ended` none) or ending.
pub fn session_event(events: &EventBus, s: &Session, ended: Option<Ended>) {
    let who = Who {
        username: s.user.clone(),
        session_id: s.id,
        source_host: s.source.clone(),
    };
    let what = if ended.is_none() { "started" } else { "ended" };
    let message = format!("{} session {} of {} {what}", s.face.as_str(), s.id, s.user);
    let source = s.face.as_str();
    match (s.face, ended) {
        (Face::Netconf, None) => events.emit(Severity::Info, source, message, &NetconfStart(who)),
        (Face::Netconf, Some(e)) => events.emit(
            Severity::Info,
            source,
            message,
            &NetconfEnd {
                who,
                killed_by: e.killed_by,
                reason: e.reason,
            },
        ),
        (face, None) => events.emit(
            Severity::Info,
            source,
            message,
            &Start {
                who,
                face: face.as_str(),
            },
        ),
        (face, Some(e)) => events.emit(
            Severity::Info,
            source,
            message,
            &End {
                who,
                face: face.as_str(),
                reason: e.reason,
            },
        ),
    };
}
