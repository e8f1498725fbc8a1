//! Events of the bus as NETCONF notifications (RFC 5277): each event is the
//! YANG notification its payload names, built by libyang from the payload's
//! fields (with the event header where the notification has one). No code here
//! knows any kind of event.
use chrono::SecondsFormat;
use serde_json::{Map, Value};
use yang5::context::Context;
use yang5::data::{DataFormat, DataOperation, DataParserFlags, DataPrinterFlags, DataTree};

use crate::datastore::tree::Tree;
use crate::events::Event;

pub const NOTIF_NS: &str = "urn:ietf:params:xml:ns:netconf:notification:1.0";

/// An event as a notification: its namespace and name, data tree and XML.
pub struct Rendered {
    pub ns: String,
    pub module: String,
    pub name: String,
    pub tree: Tree,
    pub xml: String,
}

/// The notification of an event; `None` if its payload does not fit the
/// schema (a bug of the service: logged).
pub fn render(ctx: &'static Context, e: &Event) -> Option<Rendered> {
    let (module, name) = e.notification.split_once(':')?;
    let schema = ctx.find_path(&format!("/{}", e.notification)).ok()?;
    let mut fields: Map<String, Value> = Map::new();
    let has = |leaf: &str| schema.children().any(|c| c.name() == leaf);
    for (leaf, value) in [
        ("severity", e.severity.as_str()),
        ("source", e.source.as_str()),
        ("message", e.message.as_str()),
    ] {
        if has(leaf) {
            fields.insert(leaf.into(), Value::String(value.into()));
        }
    }
    fields.extend(e.fields.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut doc = Map::new();
    doc.insert(e.notification.to_string(), Value::Object(fields));
    let tree = match DataTree::parse_op_string(
        ctx,
        Value::Object(doc).to_string(),
        DataFormat::JSON,
        DataParserFlags::STRICT,
        DataOperation::NotificationYang,
    ) {
        Ok(t) => t,
        Err(err) => {
            tracing::error!(
                "event {} does not fit its notification: {err}",
                e.notification
            );
            return None;
        }
    };
    let xml = crate::datastore::tree::print(
        &tree,
        DataFormat::XML,
        DataPrinterFlags::WITH_SIBLINGS | DataPrinterFlags::SHRINK,
    )
    .ok()?;
    let ns = schema.module().namespace().to_string();
    Some(Rendered {
        ns,
        module: module.to_string(),
        name: name.to_string(),
        tree,
        xml,
    })
}

/// A whole `<notification>` document.
pub fn notification(time: &chrono::DateTime<chrono::Utc>, body: &str) -> String {
    wrap(&time.to_rfc3339_opts(SecondsFormat::Micros, true), body)
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
