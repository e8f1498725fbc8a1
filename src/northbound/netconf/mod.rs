//! The NETCONF face (RFC 6241) over any byte stream (an SSH channel): hellos,
//! framing, rpc dispatch, notifications interleaved with replies.
pub mod framing;
pub mod fuzz;
pub mod notify;
pub mod ops;
pub mod reply;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{broadcast, oneshot};

use crate::datastore::monitoring::{Counters, SessionRecord};
use crate::datastore::{Error, ErrorTag, Handle, Session};
use crate::events::{Event, EventKind};
use crate::northbound::limits::Limits;
use crate::northbound::session_event;
use crate::xml::Element;
use framing::{Decoder, Mode};
use ops::Outcome;
use reply::NC;

/// Largest message accepted from a client.
pub const MAX_MESSAGE: usize = 64 << 20;
/// How long a subscriber stays at shutdown to see the other sessions end.
const DRAIN: Duration = Duration::from_millis(300);
/// How long a client has to send its hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Subscription {
    pub start: Option<DateTime<Utc>>,
    pub stop: Option<DateTime<Utc>>,
    pub filter: Option<Element>,
}

/// What every NETCONF session shares: the datastore and the live sessions (so one
/// can kill another).
pub struct Netconf {
    pub ds: Handle,
    shutdown: crate::shutdown::Shutdown,
    sessions: Mutex<HashMap<u32, oneshot::Sender<u32>>>,
    pub limits: Arc<Limits>,
    /// Namespace to module name, for filters.
    modules: HashMap<String, String>,
}

impl Netconf {
    pub fn new(ds: Handle, shutdown: crate::shutdown::Shutdown) -> Arc<Netconf> {
        Arc::new(Netconf {
            modules: crate::schema::namespaces(ds.ctx),
            ds,
            shutdown,
            sessions: Mutex::new(HashMap::new()),
            limits: Limits::new(),
        })
    }

    fn matches(&self, filter: &Element, n: &notify::Rendered) -> bool {
        notification_matches(&self.modules, filter, n)
    }

    /// The capabilities of the hello.
    pub fn capabilities(&self) -> Vec<String> {
        let mut caps: Vec<String> = [
            "urn:ietf:params:netconf:base:1.0",
            "urn:ietf:params:netconf:base:1.1",
            "urn:ietf:params:netconf:capability:writable-running:1.0",
            "urn:ietf:params:netconf:capability:candidate:1.0",
            "urn:ietf:params:netconf:capability:confirmed-commit:1.0",
            "urn:ietf:params:netconf:capability:confirmed-commit:1.1",
            "urn:ietf:params:netconf:capability:rollback-on-error:1.0",
            "urn:ietf:params:netconf:capability:validate:1.0",
            "urn:ietf:params:netconf:capability:validate:1.1",
            "urn:ietf:params:netconf:capability:startup:1.0",
            "urn:ietf:params:netconf:capability:xpath:1.0",
            "urn:ietf:params:netconf:capability:notification:1.0",
            "urn:ietf:params:netconf:capability:interleave:1.0",
            "urn:ietf:params:netconf:capability:with-defaults:1.0?basic-mode=explicit&also-supported=report-all,report-all-tagged,trim",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let ctx = self.ds.ctx;
        caps.push(format!(
            "urn:ietf:params:netconf:capability:yang-library:1.1?revision=2019-01-04&content-id={}",
            ctx.get_module_set_id()
        ));
        for m in ctx.modules(true) {
            if !m.is_implemented() {
                continue;
            }
            let mut c = format!("{}?module={}", m.namespace(), m.name());
            if let Some(r) = m.revision() {
                c.push_str(&format!("&revision={r}"));
            }
            caps.push(c);
        }
        caps
    }

    fn hello(&self, session_id: u32) -> String {
        let mut out = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><hello xmlns=\"{NC}\"><capabilities>"
        );
        for c in self.capabilities() {
            out.push_str(&format!(
                "<capability>{}</capability>",
                crate::xml::escape(&c)
            ));
        }
        out.push_str(&format!(
            "</capabilities><session-id>{session_id}</session-id></hello>"
        ));
        out
    }

    /// Runs one NETCONF session to its end.
    pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
        self: Arc<Self>,
        stream: S,
        session: Session,
    ) {
        let Some(_slot) = self.limits.enter() else {
            tracing::warn!(
                "NETCONF session of {} refused: max-sessions reached",
                session.user
            );
            return;
        };
        let (kill_tx, kill_rx) = oneshot::channel();
        self.sessions.lock().unwrap().insert(session.id, kill_tx);
        let counters = Arc::new(Counters::default());
        let rec = SessionRecord {
            user: session.user.clone(),
            source_host: session.source.clone(),
            login_time: Utc::now(),
            counters: counters.clone(),
        };
        let caps = self.capabilities();
        let global = {
            let mut m = self.ds.shared.monitoring.lock();
            m.capabilities = caps;
            m.add(session.id, rec);
            m.global.clone()
        };
        let _running = self.shutdown.running();
        session_event(&self.ds.events, &session, None);
        let mut conn = Conn {
            nc: self.clone(),
            session: session.clone(),
            counters,
            global,
            mode: Mode::EndOfMessage,
            events: None,
            sub: None,
            policy: None,
        };
        let (reason, killed_by) = conn.run(stream, kill_rx).await;
        self.sessions.lock().unwrap().remove(&session.id);
        {
            let mut m = self.ds.shared.monitoring.lock();
            if reason == "dropped" {
                m.dropped_sessions += 1;
            }
            if reason == "bad-hello" {
                m.in_bad_hellos += 1;
            }
        }
        self.ds.session_end(&session).await;
        session_event(
            &self.ds.events,
            &session,
            Some(crate::northbound::Ended { reason, killed_by }),
        );
    }

    fn kill(&self, id: u32, by: u32) -> bool {
        match self.sessions.lock().unwrap().remove(&id) {
            Some(tx) => tx.send(by).is_ok(),
            None => false,
        }
    }
}

struct Conn {
    nc: Arc<Netconf>,
    session: Session,
    counters: Arc<Counters>,
    global: Arc<Counters>,
    mode: Mode,
    events: Option<broadcast::Receiver<Arc<Event>>>,
    sub: Option<Subscription>,
    /// The subscriber's access policy, refreshed when the configuration changes.
    policy: Option<crate::aaa::nacm::Policy>,
}

impl Conn {
    async fn send<W: AsyncWrite + Unpin>(&self, w: &mut W, msg: &str) -> std::io::Result<()> {
        w.write_all(&framing::encode(self.mode, msg.as_bytes()))
            .await?;
        w.flush().await
    }

    /// Returns the termination reason and who killed the session.
    async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: S,
        mut kill_rx: oneshot::Receiver<u32>,
    ) -> (&'static str, Option<u32>) {
        let (mut rd, mut wr) = tokio::io::split(stream);
        if self
            .send(&mut wr, &self.nc.hello(self.session.id))
            .await
            .is_err()
        {
            return ("dropped", None);
        }
        let mut dec = Decoder::new(MAX_MESSAGE);
        let mut buf = vec![0u8; 64 * 1024];
        let mut draining: Option<tokio::time::Instant> = None;
        // The client's hello, in end-of-message framing.
        let hello = tokio::time::timeout(HELLO_TIMEOUT, async {
            loop {
                match dec.next_message() {
                    Ok(Some(m)) => return Some(m),
                    Ok(None) => {}
                    Err(_) => return None,
                }
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => dec.feed(&buf[..n]),
                }
            }
        })
        .await;
        let Ok(Some(hello)) = hello else {
            return ("bad-hello", None);
        };
        match parse_hello(&hello) {
            Some(caps) => {
                if caps.iter().any(|c| c == "urn:ietf:params:netconf:base:1.1") {
                    self.mode = Mode::Chunked;
                    dec.set_mode(Mode::Chunked);
                } else if !caps.iter().any(|c| c == "urn:ietf:params:netconf:base:1.0") {
                    return ("bad-hello", None);
                }
            }
            None => return ("bad-hello", None),
        }
        loop {
            // Drain complete messages first.
            match dec.next_message() {
                Ok(Some(msg)) => {
                    match self.handle(&msg).await {
                        Outcome::Reply(r) => {
                            if self.send(&mut wr, &r).await.is_err() {
                                return ("dropped", None);
                            }
                        }
                        Outcome::Close(r) => {
                            let _ = self.send(&mut wr, &r).await;
                            return ("closed", None);
                        }
                        Outcome::Kill(r, id) => {
                            let reply = if self.nc.kill(id, self.session.id) {
                                r
                            } else {
                                self.count_error();
                                reply::error(
                                    crate::xml::parse(std::str::from_utf8(&msg).unwrap_or(""))
                                        .ok()
                                        .as_ref(),
                                    &reply::bad_element(
                                        ErrorTag::InvalidValue,
                                        "session-id",
                                        format!("no session {id}"),
                                    ),
                                )
                            };
                            if self.send(&mut wr, &reply).await.is_err() {
                                return ("dropped", None);
                            }
                        }
                        Outcome::Subscribe(r, sub) => {
                            if self.send(&mut wr, &r).await.is_err() {
                                return ("dropped", None);
                            }
                            if self.start_subscription(&mut wr, sub).await.is_err() {
                                return ("dropped", None);
                            }
                        }
                    }
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    self.count_error();
                    let tag = match e {
                        framing::FramingError::TooBig(_) => ErrorTag::TooBig,
                        framing::FramingError::BadChunk => ErrorTag::MalformedMessage,
                    };
                    let err = Error::new(crate::datastore::ErrorType::Rpc, tag, e.to_string());
                    let _ = self.send(&mut wr, &reply::error(None, &err)).await;
                    return ("other", None);
                }
            }
            let events = &mut self.events;
            // A session idle past the limit is closed, unless it waits for notifications.
            let idle = self.nc.limits.idle().filter(|_| events.is_none());
            let shutting = draining.is_some();
            tokio::select! {
                _ = async { tokio::time::sleep_until(draining.unwrap_or_else(tokio::time::Instant::now)).await }, if shutting => {
                    return ("other", None);
                }
                _ = tokio::time::sleep(idle.unwrap_or_default()), if idle.is_some() => {
                    return ("timeout", None);
                }
                r = rd.read(&mut buf) => match r {
                    Ok(0) | Err(_) => return ("dropped", None),
                    Ok(n) => dec.feed(&buf[..n]),
                },
                by = &mut kill_rx => {
                    return ("killed", by.ok());
                }
                // At shutdown a subscriber stays a moment, to see the other
                // sessions end; the others end at once.
                _ = self.nc.shutdown.started(), if !shutting => {
                    if events.is_none() {
                        return ("other", None);
                    }
                    draining = Some(tokio::time::Instant::now() + DRAIN);
                }
                ev = async { events.as_mut().unwrap().recv().await }, if events.is_some() => {
                    match ev {
                        Ok(ev) => {
                            if self.deliver(&mut wr, &ev).await.is_err() {
                                return ("dropped", None);
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!("session {} missed {n} notifications", self.session.id);
                        }
                        Err(broadcast::error::RecvError::Closed) => self.events = None,
                    }
                }
            }
        }
    }

    /// The error-tag for a message that is not well-formed: malformed-message
    /// is new in base:1.1 and must not be sent to base:1.0 sessions (RFC 6241
    /// appendix A), which get operation-failed.
    fn malformed(&self) -> ErrorTag {
        if self.mode == Mode::Chunked {
            ErrorTag::MalformedMessage
        } else {
            ErrorTag::OperationFailed
        }
    }

    fn count_error(&self) {
        Counters::bump(&self.counters.out_rpc_errors);
        Counters::bump(&self.global.out_rpc_errors);
    }

    async fn handle(&mut self, msg: &[u8]) -> Outcome {
        Counters::bump(&self.counters.in_rpcs);
        Counters::bump(&self.global.in_rpcs);
        let bad = |this: &Self, rpc: Option<&Element>, e: Error| {
            Counters::bump(&this.counters.in_bad_rpcs);
            Counters::bump(&this.global.in_bad_rpcs);
            this.count_error();
            Outcome::Reply(reply::error(rpc, &e))
        };
        let text = match std::str::from_utf8(msg) {
            Ok(t) => t,
            Err(_) => {
                return bad(
                    self,
                    None,
                    Error::new(
                        crate::datastore::ErrorType::Rpc,
                        self.malformed(),
                        "not UTF-8",
                    ),
                );
            }
        };
        let rpc = match crate::xml::parse(text) {
            Ok(r) => r,
            Err(e) => {
                return bad(
                    self,
                    None,
                    Error::new(
                        crate::datastore::ErrorType::Rpc,
                        self.malformed(),
                        e.to_string(),
                    ),
                );
            }
        };
        if rpc.ns != NC || rpc.name != "rpc" {
            return bad(
                self,
                None,
                Error::new(
                    crate::datastore::ErrorType::Rpc,
                    ErrorTag::UnknownElement,
                    "expected <rpc>",
                )
                .with_info("bad-element", rpc.name.clone()),
            );
        }
        if rpc.attr("message-id").is_none() {
            return bad(
                self,
                Some(&rpc),
                Error::new(
                    crate::datastore::ErrorType::Rpc,
                    ErrorTag::MissingAttribute,
                    "<rpc> has no message-id",
                )
                .with_info("bad-attribute", "message-id")
                .with_info("bad-element", "rpc"),
            );
        }
        let op = ops::Op {
            ds: &self.nc.ds,
            session: &self.session,
            rpc: &rpc,
            subscribed: self.sub.is_some() || self.events.is_some(),
        };
        match ops::dispatch(op).await {
            Ok(o) => o,
            Err(errs) => {
                self.count_error();
                Outcome::Reply(reply::errors(Some(&rpc), &errs))
            }
        }
    }

    async fn start_subscription<W: AsyncWrite + Unpin>(
        &mut self,
        w: &mut W,
        sub: Subscription,
    ) -> std::io::Result<()> {
        let (replay, rx) = match sub.start {
            Some(start) => {
                let stop = sub.stop;
                self.nc.ds.events.subscribe_with_replay(move |e| {
                    e.time >= start && stop.is_none_or(|s| e.time <= s)
                })
            }
            None => (Vec::new(), self.nc.ds.events.subscribe()),
        };
        let replaying = sub.start.is_some();
        let stop = sub.stop;
        self.sub = Some(sub);
        self.refresh_policy();
        for ev in replay {
            self.deliver(w, &ev).await?;
        }
        if replaying {
            self.send(w, &notify::marker("replayComplete")).await?;
        }
        if stop.is_some_and(|s| s <= Utc::now()) {
            self.send(w, &notify::marker("notificationComplete"))
                .await?;
            self.sub = None;
            return Ok(());
        }
        self.events = Some(rx);
        Ok(())
    }

    fn refresh_policy(&mut self) {
        self.policy = Some(
            self.nc
                .ds
                .policy(&self.session, crate::datastore::access::Purpose::Exec),
        );
    }

    async fn deliver<W: AsyncWrite + Unpin>(
        &mut self,
        w: &mut W,
        ev: &Event,
    ) -> std::io::Result<()> {
        let Some(sub) = &self.sub else { return Ok(()) };
        if let Some(stop) = sub.stop
            && ev.time > stop
        {
            self.send(w, &notify::marker("notificationComplete"))
                .await?;
            self.sub = None;
            self.events = None;
            return Ok(());
        }
        let Some(n) = notify::render(self.nc.ds.ctx, ev) else {
            return Ok(());
        };
        if let Some(f) = &sub.filter
            && !self.nc.matches(f, &n)
        {
            return Ok(());
        }
        if ev.kind == EventKind::ConfigChanged {
            self.refresh_policy();
        }
        if !self
            .policy
            .as_ref()
            .is_some_and(|p| p.may_receive(&n.module, &n.name))
        {
            self.nc.ds.count_denied_notification();
            return Ok(());
        }
        Counters::bump(&self.counters.out_notifications);
        Counters::bump(&self.global.out_notifications);
        self.send(w, &notify::notification(&ev.time, &n.xml)).await
    }
}

/// Whether a notification passes a subtree filter (RFC 5277): the filter
/// selects from the notification's data.
fn notification_matches(
    modules: &HashMap<String, String>,
    filter: &Element,
    n: &notify::Rendered,
) -> bool {
    if !filter.elements().any(|e| e.ns == n.ns && e.name == n.name) {
        return false;
    }
    crate::datastore::filter::select(
        &n.tree,
        &crate::datastore::Filter::Subtree(filter.clone()),
        modules,
    )
    .is_ok_and(|t| t.reference().is_some())
}

/// The capabilities of a client hello, if it is one.
fn parse_hello(msg: &[u8]) -> Option<Vec<String>> {
    let root = crate::xml::parse(std::str::from_utf8(msg).ok()?).ok()?;
    if root.ns != NC || root.name != "hello" || root.child(NC, "session-id").is_some() {
        return None;
    }
    Some(
        root.child(NC, "capabilities")?
            .elements()
            .filter(|c| c.name == "capability")
            .map(|c| c.text())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use crate::events::EventBus;

    #[test]
    fn notification_subtree_filters_match_content() {
        let ctx = crate::schema::build(&[]).unwrap();
        let modules = crate::schema::namespaces(ctx);
        let ncn = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications";
        let bus = EventBus::new(4);
        let s = crate::datastore::Session {
            id: 7,
            user: "admin".into(),
            face: crate::datastore::Face::Netconf,
            source: Some("127.0.0.1".into()),
        };
        crate::northbound::session_event(&bus, &s, None);
        let n = super::notify::render(ctx, &bus.recent()[0]).expect("renders");
        assert!(n.xml.contains("<username>admin</username>"), "{}", n.xml);
        let filter = |user: &str| {
            crate::xml::parse(&format!(
                "<filter><netconf-session-start xmlns=\"{ncn}\"><username>{user}</username></netconf-session-start></filter>"
            ))
            .unwrap()
        };
        assert!(super::notification_matches(&modules, &filter("admin"), &n));
        assert!(!super::notification_matches(
            &modules,
            &filter("nobody"),
            &n
        ));
    }
}
