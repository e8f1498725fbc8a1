//! Events of the bus rendered as NETCONF notifications (RFC 5277): the RFC 6470
//! base notifications where one fits, `lifeline-system:event` for the rest.
use chrono::SecondsFormat;

use super::reply::json_path_to_xml;
use crate::events::{Event, EventKind};
use crate::xml::escape;

pub const NOTIF_NS: &str = "urn:ietf:params:xml:ns:netconf:notification:1.0";
const NCN_NS: &str = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications";
const SYS_NS: &str = "urn:lifeline:params:xml:ns:yang:lifeline-system";
const TYPES_NS: &str = "urn:lifeline:params:xml:ns:yang:lifeline-types";

fn leaf(out: &mut String, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        out.push_str(&format!("<{name}>{}</{name}>", escape(v)));
    }
}

fn changed_by(out: &mut String, e: &Event) {
    out.push_str("<changed-by>");
    if e.detail("session-id") == Some("0") {
        out.push_str("<server/>");
    } else {
        leaf(out, "username", e.detail("username"));
        leaf(out, "session-id", e.detail("session-id"));
        leaf(out, "source-host", e.detail("source-host"));
    }
    out.push_str("</changed-by>");
}

/// The element inside `<notification>` for an event: (namespace, name, xml).
pub fn body(e: &Event) -> (&'static str, &'static str, String) {
    let mut out = String::new();
    match e.kind {
        EventKind::ConfigChanged => {
            out.push_str(&format!("<netconf-config-change xmlns=\"{NCN_NS}\">"));
            changed_by(&mut out, e);
            leaf(&mut out, "datastore", e.detail("datastore"));
            for (name, value) in &e.details {
                if name != "edit" {
                    continue;
                }
                let Some((op, path)) = value.split_once(' ') else {
                    continue;
                };
                let (xpath, decls) = json_path_to_xml(path);
                out.push_str(&format!(
                    "<edit><target{decls}>{}</target><operation>{op}</operation></edit>",
                    escape(&xpath)
                ));
            }
            out.push_str("</netconf-config-change>");
            (NCN_NS, "netconf-config-change", out)
        }
        EventKind::ConfirmedCommit | EventKind::CommitRollback
            if e.detail("confirm-event").is_some() =>
        {
            out.push_str(&format!("<netconf-confirmed-commit xmlns=\"{NCN_NS}\">"));
            leaf(&mut out, "username", e.detail("username"));
            leaf(&mut out, "session-id", e.detail("session-id"));
            leaf(&mut out, "source-host", e.detail("source-host"));
            leaf(&mut out, "confirm-event", e.detail("confirm-event"));
            leaf(&mut out, "timeout", e.detail("timeout"));
            out.push_str("</netconf-confirmed-commit>");
            (NCN_NS, "netconf-confirmed-commit", out)
        }
        EventKind::ManagementSessionStart if e.detail("face") == Some("netconf") => {
            out.push_str(&format!("<netconf-session-start xmlns=\"{NCN_NS}\">"));
            leaf(&mut out, "username", e.detail("username"));
            leaf(&mut out, "session-id", e.detail("session-id"));
            leaf(&mut out, "source-host", e.detail("source-host"));
            out.push_str("</netconf-session-start>");
            (NCN_NS, "netconf-session-start", out)
        }
        EventKind::ManagementSessionEnd if e.detail("face") == Some("netconf") => {
            out.push_str(&format!("<netconf-session-end xmlns=\"{NCN_NS}\">"));
            leaf(&mut out, "username", e.detail("username"));
            leaf(&mut out, "session-id", e.detail("session-id"));
            leaf(&mut out, "source-host", e.detail("source-host"));
            leaf(&mut out, "killed-by", e.detail("killed-by"));
            leaf(
                &mut out,
                "termination-reason",
                e.detail("termination-reason"),
            );
            out.push_str("</netconf-session-end>");
            (NCN_NS, "netconf-session-end", out)
        }
        _ => {
            out.push_str(&format!(
                "<event xmlns=\"{SYS_NS}\" xmlns:llt=\"{TYPES_NS}\">"
            ));
            leaf(&mut out, "kind", Some(&format!("llt:{}", e.kind.as_str())));
            leaf(&mut out, "severity", Some(e.severity.as_str()));
            leaf(&mut out, "source", Some(&e.source));
            leaf(
                &mut out,
                "time",
                Some(&e.time.to_rfc3339_opts(SecondsFormat::Micros, true)),
            );
            leaf(&mut out, "message", Some(&e.message));
            let mut seen: Vec<&str> = Vec::new();
            for (name, value) in &e.details {
                if seen.contains(&name.as_str()) {
                    continue;
                }
                seen.push(name);
                out.push_str(&format!(
                    "<detail><name>{}</name><value>{}</value></detail>",
                    escape(name),
                    escape(value)
                ));
            }
            out.push_str("</event>");
            (SYS_NS, "event", out)
        }
    }
}

/// A whole `<notification>` document.
pub fn notification(e: &Event) -> String {
    let (_, _, body) = body(e);
    wrap(&e.time.to_rfc3339_opts(SecondsFormat::Micros, true), &body)
}

pub fn wrap(time: &str, body: &str) -> String {
    format!("<notification xmlns=\"{NOTIF_NS}\"><eventTime>{time}</eventTime>{body}</notification>")
}

/// RFC 5277's replayComplete / notificationComplete.
pub fn marker(name: &str) -> String {
    let now = chrono::Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
    wrap(
        &now,
        &format!("<{name} xmlns=\"urn:ietf:params:xml:ns:netmod:notification\"/>"),
    )
}
