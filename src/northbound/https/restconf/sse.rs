//! RESTCONF's notification streams (RFC 8040 section 6): stream NETCONF, in
//! XML or JSON, as server-sent events. Every event of the bus that is a YANG
//! notification the caller may receive (NACM) is one SSE event; `start-time`
//! replays the recent ones first. A client that reads too slowly skips
//! events (the bus is bounded) rather than holding memory.
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::IntoResponse;
use chrono::SecondsFormat;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use yang5::data::{DataFormat, DataPrinterFlags};

use super::reply::{Failure, Reply};
use super::uri;
use crate::datastore::access::Purpose;
use crate::datastore::{Error, ErrorTag};
use crate::events::{Event, EventKind};
use crate::northbound::https::Https;
use crate::northbound::https::auth::Caller;
use crate::northbound::netconf::notify;
use crate::service::{StatePage, StateProvider, StateQuery};

pub const STREAM: &str = "NETCONF";
const KEEPALIVE: Duration = Duration::from_secs(30);
const MONITORING: &str = "/ietf-restconf-monitoring:restconf-state";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Xml,
    Json,
}

/// One notification as an SSE event; `None` if it is not one.
fn event_text(
    ctx: &'static yang5::context::Context,
    e: &Event,
    enc: Encoding,
) -> Option<(String, String, String)> {
    let n = notify::render(ctx, e)?;
    let time = e.time.to_rfc3339_opts(SecondsFormat::Micros, true);
    let body = match enc {
        Encoding::Xml => notify::wrap(&time, &n.xml),
        Encoding::Json => {
            let inner = crate::datastore::tree::print(
                &n.tree,
                DataFormat::JSON,
                DataPrinterFlags::WITH_SIBLINGS | DataPrinterFlags::SHRINK,
            )
            .ok()?;
            let inner = inner
                .trim()
                .strip_prefix('{')?
                .strip_suffix('}')?
                .to_string();
            format!(
                "{{\"ietf-restconf:notification\":{{\"eventTime\":{},{inner}}}}}",
                json!(time)
            )
        }
    };
    let mut sse = String::with_capacity(body.len() + 16);
    for line in body.lines() {
        sse.push_str("data: ");
        sse.push_str(line);
        sse.push('\n');
    }
    sse.push('\n');
    Some((n.module, n.name, sse))
}

/// GET `{+restconf}/streams/NETCONF/xml` (or `/json`).
pub async fn stream(
    app: &Arc<Https>,
    who: &Caller,
    method: &Method,
    sub: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Reply {
    let enc = match sub {
        "NETCONF/xml" | "NETCONF" => Encoding::Xml,
        "NETCONF/json" => Encoding::Json,
        _ => {
            return Err(Failure::not_found(format!(
                "no stream {sub}: NETCONF/xml or NETCONF/json"
            )));
        }
    };
    if *method != Method::GET {
        return Err(Failure::new(
            StatusCode::METHOD_NOT_ALLOWED,
            Error::protocol(ErrorTag::OperationNotSupported, "a stream is read with GET"),
        )
        .with_header(header::ALLOW, "GET"));
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("text/event-stream");
    if !accept.contains("text/event-stream") && !accept.contains("*/*") {
        return Err(Failure::new(
            StatusCode::NOT_ACCEPTABLE,
            Error::protocol(ErrorTag::InvalidValue, "a stream is text/event-stream"),
        ));
    }
    let q = uri::parse_query(query).map_err(|e| Failure::bad(ErrorTag::InvalidValue, e.0))?;
    if q.filter.is_some() || q.depth.is_some() || q.fields.is_some() {
        return Err(Failure::bad(
            ErrorTag::InvalidValue,
            "a stream takes start-time and stop-time only",
        ));
    }
    let time = |s: &Option<String>| -> Result<Option<chrono::DateTime<chrono::Utc>>, Failure> {
        s.as_deref()
            .map(|t| {
                chrono::DateTime::parse_from_rfc3339(t)
                    .map(|d| d.with_timezone(&chrono::Utc))
                    .map_err(|_| {
                        Failure::bad(
                            ErrorTag::InvalidValue,
                            format!("{t} is not a date-and-time"),
                        )
                    })
            })
            .transpose()
    };
    let (start, stop) = (time(&q.start_time)?, time(&q.stop_time)?);
    if stop.is_some() && start.is_none() {
        return Err(Failure::bad(
            ErrorTag::InvalidValue,
            "stop-time needs start-time",
        ));
    }
    let (replay, rx) = match start {
        Some(s) => app
            .ds
            .events
            .subscribe_with_replay(move |e| e.time >= s && stop.is_none_or(|t| e.time <= t)),
        None => (Vec::new(), app.ds.events.subscribe()),
    };
    let st = Streaming {
        app: app.clone(),
        session: who.session.clone(),
        policy: app.ds.policy(&who.session, Purpose::Exec),
        rx,
        replay: replay.into_iter(),
        enc,
        stop,
    };
    let body = futures_util::stream::unfold(st, |mut st| async move {
        let chunk = st.next().await?;
        Some((Ok::<_, Infallible>(Bytes::from(chunk)), st))
    });
    let mut r = Body::from_stream(body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(r)
}

struct Streaming {
    app: Arc<Https>,
    session: crate::datastore::Session,
    policy: crate::aaa::nacm::Policy,
    rx: tokio::sync::broadcast::Receiver<Arc<Event>>,
    replay: std::vec::IntoIter<Arc<Event>>,
    enc: Encoding,
    stop: Option<chrono::DateTime<chrono::Utc>>,
}

impl Streaming {
    /// The next chunk: an event, or a keep-alive comment; `None` ends it.
    async fn next(&mut self) -> Option<String> {
        loop {
            let ev = match self.replay.next() {
                Some(e) => e,
                None => {
                    if self.stop.is_some_and(|s| chrono::Utc::now() > s) {
                        return None;
                    }
                    tokio::select! {
                        r = self.rx.recv() => match r {
                            Ok(e) => e,
                            Err(RecvError::Lagged(n)) => {
                                return Some(format!(": {n} notifications skipped: this client reads too slowly\n\n"));
                            }
                            Err(RecvError::Closed) => return None,
                        },
                        _ = tokio::time::sleep(KEEPALIVE) => return Some(": keep-alive\n\n".into()),
                        _ = self.app.shutdown.started() => return None,
                    }
                }
            };
            if self.stop.is_some_and(|s| ev.time > s) {
                return None;
            }
            if ev.kind == EventKind::ConfigChanged {
                self.policy = self.app.ds.policy(&self.session, Purpose::Exec);
            }
            let Some((module, name, text)) = event_text(self.app.ds.ctx, &ev, self.enc) else {
                continue;
            };
            if !self.policy.may_receive(&module, &name) {
                self.app.ds.count_denied_notification();
                continue;
            }
            return Some(text);
        }
    }
}

/// `ietf-restconf-monitoring:restconf-state`: the capabilities and the stream.
pub struct Monitoring(pub std::sync::Weak<Https>);

impl StateProvider for Monitoring {
    fn roots(&self) -> Vec<&'static str> {
        vec![MONITORING]
    }

    fn read(&self, _: &StateQuery) -> StatePage {
        let base = self
            .0
            .upgrade()
            .map(|h| h.base.read().clone())
            .unwrap_or_default();
        let caps = [
            "urn:ietf:params:restconf:capability:defaults:1.0?basic-mode=explicit",
            "urn:ietf:params:restconf:capability:depth:1.0",
            "urn:ietf:params:restconf:capability:fields:1.0",
            "urn:ietf:params:restconf:capability:with-defaults:1.0",
            "urn:ietf:params:restconf:capability:replay:1.0",
            "urn:ietf:params:restconf:capability:yang-patch:1.0",
        ];
        StatePage {
            entries: vec![json!({
                "capabilities": {"capability": caps},
                "streams": {"stream": [{
                    "name": STREAM,
                    "description": "Every notification of the appliance (the NETCONF stream).",
                    "replay-support": true,
                    "access": [
                        {"encoding": "xml", "location": format!("{base}/restconf/streams/{STREAM}/xml")},
                        {"encoding": "json", "location": format!("{base}/restconf/streams/{STREAM}/json")},
                    ],
                }]},
            })],
            next: None,
        }
    }
}
