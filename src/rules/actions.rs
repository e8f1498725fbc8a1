//! What an action does. Actions on another service (outlets, uplinks, the
//! tunnel, console ports) are typed action calls through the datastore as
//! the rule's run-as user, so NACM decides; the SNMP notification is an event
//! addressed to a notify tag; e-mail, SMS, syslog and scripts are done here.
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use super::config::{Action, UpDown};
use super::email::Mailer;
use super::engine::{Job, Outcome, TriggerCtx};
use super::sms::Modem;
use crate::datastore::error::ErrorTag;
use crate::datastore::{Face, Handle};
use crate::events::{EventBus, Severity};
use crate::service::DataPath;

/// What actions run with.
#[derive(Clone)]
pub struct Ctx {
    pub ds: Handle,
    pub events: EventBus,
    pub mailer: Option<Arc<Mailer>>,
    pub modem: Option<Modem>,
}

#[derive(Serialize)]
struct RuleNotification<'a> {
    rule: &'a str,
    action: &'a str,
    tag: &'a str,
    resolved: bool,
    trigger: &'a str,
    details: &'a str,
}
crate::payload!(
    RuleNotification,
    RuleNotification,
    "lifeline-auto-response:rule-notification"
);

/// The one line an SMS, a syslog message or a subject says.
fn summary(job: &Job) -> String {
    let c = &job.ctx;
    let what = if job.resolve { "resolved" } else { "triggered" };
    let msg = if c.message.is_empty() {
        &c.kind
    } else {
        &c.message
    };
    format!("lifeline rule {} {what}: {} {msg}", job.rule, c.source)
        .trim_end()
        .to_string()
}

/// The e-mail body: what happened and every field of the event.
fn body(job: &Job) -> String {
    let c = &job.ctx;
    let mut b = format!(
        "Rule: {}\nState: {}\nTrigger: {}\nSource: {}\nSeverity: {}\nMessage: {}\n",
        job.rule,
        if job.resolve { "resolved" } else { "triggered" },
        c.kind,
        c.source,
        c.severity.as_str(),
        c.message
    );
    if !c.fields.is_empty() {
        b.push_str("\nFields:\n");
        for (k, v) in &c.fields {
            let v = crate::service::config::scalar_text(v).unwrap_or_else(|| v.to_string());
            b.push_str(&format!("  {k}: {v}\n"));
        }
    }
    b
}

/// The environment a script gets.
fn script_env(job: &Job) -> Vec<(String, String)> {
    let c: &TriggerCtx = &job.ctx;
    let mut env = vec![
        ("LIFELINE_RULE".to_string(), job.rule.clone()),
        ("LIFELINE_ACTION".to_string(), job.action.name.clone()),
        ("LIFELINE_EVENT".to_string(), c.kind.clone()),
        ("LIFELINE_SOURCE".to_string(), c.source.clone()),
        ("LIFELINE_MESSAGE".to_string(), c.message.clone()),
        (
            "LIFELINE_SEVERITY".to_string(),
            c.severity.as_str().to_string(),
        ),
        ("LIFELINE_RESOLVED".to_string(), job.resolve.to_string()),
    ];
    for (k, v) in &c.fields {
        let name: String = k
            .rsplit(':')
            .next()
            .unwrap_or(k)
            .chars()
            .map(|ch| {
                if ch.is_ascii_alphanumeric() {
                    ch.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        let v = crate::service::config::scalar_text(v).unwrap_or_else(|| v.to_string());
        env.push((format!("LIFELINE_FIELD_{name}"), v));
    }
    env
}

/// Runs the job's action.
pub async fn run(job: &Job, ctx: &Ctx) -> Outcome {
    let a: &Action = &job.action;
    let failed = |e: String| Outcome::Failed(e);
    if let Some(s) = &a.snmp {
        ctx.events.emit(
            Severity::Notice,
            format!("rules/{}", job.rule),
            summary(job),
            &RuleNotification {
                rule: &job.rule,
                action: &a.name,
                tag: &s.tag,
                resolved: job.resolve,
                trigger: &job.ctx.kind,
                details: &job.ctx.details,
            },
        );
        return Outcome::Ok;
    }
    if let Some(s) = &a.syslog {
        let server = match &s.server {
            Some(host) => match tokio::net::lookup_host((host.as_str(), s.port)).await {
                Ok(mut addrs) => match addrs.next() {
                    Some(a) => Some(a),
                    None => return failed(format!("syslog server {host}: no address")),
                },
                Err(e) => return failed(format!("syslog server {host}: {e}")),
            },
            None => None,
        };
        let msg = crate::host::syslog::message(
            s.facility,
            s.severity as u8,
            "lifeline",
            &format!("{} [{}]", summary(job), job.ctx.details),
        );
        return match crate::host::syslog::send(server, &msg).await {
            Ok(()) => Outcome::Ok,
            Err(e) => failed(format!("syslog: {e}")),
        };
    }
    if let Some(e) = &a.email {
        let Some(m) = &ctx.mailer else {
            return failed("no e-mail server is configured (auto-response/email)".into());
        };
        let subject = e.subject.clone().unwrap_or_else(|| summary(job));
        return match m.send(&e.to, &subject, &body(job)).await {
            Ok(()) => Outcome::Ok,
            Err(err) => failed(format!("e-mail: {err}")),
        };
    }
    if let Some(s) = &a.sms {
        let Some(modem) = &ctx.modem else {
            return failed("no SMS modem is configured (auto-response/sms)".into());
        };
        let text = summary(job);
        for to in &s.to {
            if let Err(e) = modem.send(to, &text).await {
                return failed(format!("SMS to {to}: {e}"));
            }
        }
        return Outcome::Ok;
    }
    if let Some(s) = &a.script {
        let timeout = Duration::from_secs(s.timeout.into());
        return match crate::host::process::run(&s.path, &s.argument, &script_env(job), timeout)
            .await
        {
            Ok(()) => Outcome::Ok,
            Err(e) => failed(e),
        };
    }
    let (path, input) = if let Some(o) = &a.outlet {
        (
            DataPath::root("lifeline-power:power")
                .entry("device", &[("name", &o.device)])
                .entry("outlet", &[("id", &o.outlet)])
                .child(o.operation.as_str()),
            json!({}),
        )
    } else if let Some(u) = &a.uplink {
        (
            DataPath::root("lifeline-uplinks:uplinks")
                .entry("uplink", &[("name", &u.name)])
                .child(u.operation.as_str()),
            json!({}),
        )
    } else if let Some(t) = &a.tunnel {
        (
            DataPath::root("lifeline-uplinks:uplinks")
                .child("tunnel")
                .child(match t.operation {
                    UpDown::Up => "start",
                    UpDown::Down => "stop",
                }),
            json!({}),
        )
    } else if let Some(c) = &a.console {
        let port = DataPath::root("lifeline-ports:ports").entry("port", &[("name", &c.port)]);
        match (&c.send, c.brk) {
            (Some(text), _) => (port.child("send"), json!({ "data": text })),
            (None, Some(ms)) => (port.child("send-break"), json!({ "duration": ms })),
            (None, None) => return failed("nothing to send".into()),
        }
    } else {
        return failed("the action has no kind".into());
    };
    let session = ctx.ds.new_session(
        &job.run_as,
        Face::Automation,
        Some(format!("rule {}", job.rule)),
    );
    match ctx.ds.invoke::<Value, Value>(&session, path, &input).await {
        Ok(_) => Outcome::Ok,
        Err(e) if e.tag == ErrorTag::AccessDenied => Outcome::Denied(e.message.clone()),
        Err(e) => Outcome::Failed(e.message.clone()),
    }
}
