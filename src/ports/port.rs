//! One console port at run time: its device (reopened by path when it returns),
//! the fan-out of console output to every attached session, the input of the
//! sessions allowed to write, the transcript, alert patterns and modem lines.
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio::sync::{broadcast, mpsc, watch};

use super::config::{Alert, PortConfig, Protocol};
use super::serial::{self, Device, Opener, Settings, Signals};
use super::transcript::Transcript;
use crate::aaa::Access;
use crate::events::{EventBus, EventKind, Payload, Severity};
use serde::Serialize;

/// A session opening or closing (`lifeline-ports:session-event`).
#[derive(Serialize)]
pub struct SessionEvent {
    pub port: String,
    #[serde(rename = "session-id")]
    pub session_id: u32,
    pub user: String,
    pub protocol: Protocol,
    #[serde(rename = "source-host", skip_serializing_if = "Option::is_none")]
    pub source_host: Option<String>,
}

/// A device going away or coming back.
#[derive(Serialize)]
pub struct DeviceEvent {
    pub port: String,
    pub device: String,
}

macro_rules! payload {
    ($name:ident, $inner:ty, $kind:ident, $notif:literal) => {
        #[derive(Serialize)]
        #[serde(transparent)]
        pub struct $name(pub $inner);
        impl Payload for $name {
            const KIND: EventKind = EventKind::$kind;
            const NOTIFICATION: &'static str = $notif;
        }
    };
}

payload!(
    SessionOpened,
    SessionEvent,
    SessionOpened,
    "lifeline-ports:session-opened"
);
payload!(
    SessionClosed,
    SessionEvent,
    SessionClosed,
    "lifeline-ports:session-closed"
);
payload!(
    DeviceGone,
    DeviceEvent,
    PortDeviceGone,
    "lifeline-ports:port-device-gone"
);
payload!(
    DeviceBack,
    DeviceEvent,
    PortDeviceBack,
    "lifeline-ports:port-device-back"
);

/// A modem input changed.
#[derive(Serialize)]
pub struct SignalChange {
    pub port: String,
    pub signal: &'static str,
    pub state: &'static str,
}

impl Payload for SignalChange {
    const KIND: EventKind = EventKind::PortSignalChange;
    const NOTIFICATION: &'static str = "lifeline-ports:port-signal-change";
}

/// A console line matched an alert pattern.
#[derive(Serialize)]
pub struct AlertMatch {
    pub port: String,
    pub pattern: String,
    pub line: String,
}

impl Payload for AlertMatch {
    const KIND: EventKind = EventKind::PortAlertMatch;
    const NOTIFICATION: &'static str = "lifeline-ports:port-alert-match";
}

/// How much recent console output `~h` can show.
const HISTORY: usize = 64 * 1024;
/// Chunks of output a session may fall behind before it loses some.
const FANOUT_DEPTH: usize = 4096;

#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id: u32,
    pub user: String,
    pub protocol: Protocol,
    pub remote: Option<SocketAddr>,
    pub since: DateTime<Utc>,
    pub access: Access,
    pub exclusive: bool,
}

impl SessionInfo {
    pub fn mode(&self) -> &'static str {
        match (self.exclusive, self.access) {
            (true, _) => "exclusive",
            (false, Access::ReadWrite) => "read-write",
            _ => "read-only",
        }
    }

    pub fn who(&self) -> String {
        let from = self
            .remote
            .map(|a| format!(" from {a}"))
            .unwrap_or_default();
        format!(
            "{} over {}{from}",
            if self.user.is_empty() {
                "-"
            } else {
                &self.user
            },
            self.protocol.as_str()
        )
    }
}

struct Entry {
    info: SessionInfo,
    kick: watch::Sender<Option<String>>,
}

enum Ctl {
    Reconfigure(Box<PortConfig>),
    Stop,
}

pub struct Port {
    pub name: String,
    cfg: Mutex<PortConfig>,
    /// Settings in force (a client's RFC 2217 request changes them until the next commit).
    live: Mutex<Settings>,
    out: broadcast::Sender<Bytes>,
    /// Sessions' input goes to the device one write at a time, in arrival order
    /// (tokio's mutex is fair).
    writing: tokio::sync::Mutex<()>,
    ctl: mpsc::UnboundedSender<Ctl>,
    sessions: Mutex<Vec<Entry>>,
    rx_bytes: AtomicU64,
    tx_bytes: AtomicU64,
    device: Mutex<Option<Arc<dyn Device>>>,
    signals: Mutex<Option<Signals>>,
    history: Mutex<VecDeque<u8>>,
    transcript: Mutex<Transcript>,
    events: EventBus,
}

/// Why a write was not passed to the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    ReadOnly,
    Exclusive(u32),
    NoDevice,
    Closed,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::ReadOnly => write!(f, "this session is read-only"),
            Refused::Exclusive(id) => write!(f, "session {id} has exclusive write access"),
            Refused::NoDevice => write!(f, "the serial device is not present"),
            Refused::Closed => write!(f, "the port is closed"),
        }
    }
}

impl Port {
    /// Starts the port's tasks on the current runtime.
    pub fn start(
        cfg: PortConfig,
        opener: Arc<dyn Opener>,
        events: EventBus,
        transcripts: &std::path::Path,
    ) -> Arc<Port> {
        let (out, _) = broadcast::channel(FANOUT_DEPTH);
        let (ctl, ctl_rx) = mpsc::unbounded_channel();
        let port = Arc::new(Port {
            name: cfg.name.clone(),
            live: Mutex::new(cfg.settings),
            transcript: Mutex::new(Transcript::new(transcripts, &cfg.name, cfg.logging.clone())),
            cfg: Mutex::new(cfg),
            out,
            writing: tokio::sync::Mutex::new(()),
            ctl,
            sessions: Mutex::default(),
            rx_bytes: AtomicU64::new(0),
            tx_bytes: AtomicU64::new(0),
            device: Mutex::new(None),
            signals: Mutex::new(None),
            history: Mutex::new(VecDeque::with_capacity(HISTORY)),
            events,
        });
        tokio::spawn(supervise(port.clone(), opener, ctl_rx));
        port
    }

    pub fn config(&self) -> PortConfig {
        self.cfg.lock().clone()
    }

    pub fn reconfigure(&self, cfg: PortConfig) {
        let _ = self.ctl.send(Ctl::Reconfigure(Box::new(cfg)));
    }

    /// Closes the device and every session (the port was deleted or disabled).
    pub fn stop(&self, why: &str) {
        self.kick_all(why);
        let _ = self.ctl.send(Ctl::Stop);
    }

    /// The appliance stops: sessions are told, the transcript says so and is
    /// on disk.
    pub fn shutdown(&self, why: &str) {
        self.kick_all(why);
        let mut t = self.transcript.lock();
        t.note(why);
        t.sync();
    }

    pub fn kick_all(&self, why: &str) {
        for e in self.sessions.lock().iter() {
            let _ = e.kick.send(Some(why.to_string()));
        }
    }

    /// Closes one session; false if there is no such session.
    pub fn kick(&self, id: u32, why: &str) -> bool {
        let sessions = self.sessions.lock();
        match sessions.iter().find(|e| e.info.id == id) {
            Some(e) => {
                let _ = e.kick.send(Some(why.to_string()));
                true
            }
            None => false,
        }
    }

    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.sessions
            .lock()
            .iter()
            .map(|e| e.info.clone())
            .collect()
    }

    pub fn counters(&self) -> (u64, u64) {
        (
            self.rx_bytes.load(Ordering::Relaxed),
            self.tx_bytes.load(Ordering::Relaxed),
        )
    }

    pub fn present(&self) -> bool {
        self.device.lock().is_some()
    }

    pub fn signals(&self) -> Option<Signals> {
        *self.signals.lock()
    }

    pub fn live_settings(&self) -> Settings {
        *self.live.lock()
    }

    fn device(&self) -> Option<Arc<dyn Device>> {
        self.device.lock().clone()
    }

    /// Sends a serial BREAK of `ms` milliseconds.
    pub async fn send_break(&self, ms: u64) -> std::io::Result<()> {
        let dev = self
            .device()
            .ok_or_else(|| std::io::Error::other("no device"))?;
        dev.set_break(true)?;
        tokio::time::sleep(Duration::from_millis(ms)).await;
        dev.set_break(false)?;
        self.transcript.lock().note(&format!("BREAK ({ms} ms)"));
        Ok(())
    }

    /// Writes `data` to the device as a session's input is written (the send
    /// action, on behalf of `user`): in turn with the sessions' input, and
    /// refused while a session holds exclusive write access.
    pub async fn send(&self, user: &str, data: &[u8]) -> Result<(), Refused> {
        if let Some(e) = self.sessions.lock().iter().find(|e| e.info.exclusive) {
            return Err(Refused::Exclusive(e.info.id));
        }
        self.write_input(data, |t| t.sent(user, data)).await
    }

    /// One write of input to the device, after the writes before it; `log`
    /// records it in the transcript once written.
    async fn write_input(
        &self,
        data: &[u8],
        log: impl FnOnce(&mut Transcript),
    ) -> Result<(), Refused> {
        let _turn = self.writing.lock().await;
        let dev = self.device().ok_or(Refused::NoDevice)?;
        match serial::write_all(&*dev, data).await {
            Ok(()) => {
                self.tx_bytes
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
                log(&mut self.transcript.lock());
                Ok(())
            }
            // The reader sees the device go and reports it.
            Err(_) => Err(Refused::NoDevice),
        }
    }

    /// Turns a BREAK condition on or off (RFC 2217's SET-CONTROL).
    pub fn set_break(&self, on: bool) -> std::io::Result<()> {
        self.device()
            .ok_or_else(|| std::io::Error::other("no device"))?
            .set_break(on)
    }

    /// Changes the live line settings (until the next commit of the port).
    pub fn set_settings(&self, s: Settings) -> std::io::Result<()> {
        if let Some(dev) = self.device() {
            dev.configure(&s)?;
        }
        *self.live.lock() = s;
        Ok(())
    }

    pub fn set_outputs(&self, dtr: Option<bool>, rts: Option<bool>) -> std::io::Result<()> {
        self.device()
            .ok_or_else(|| std::io::Error::other("no device"))?
            .set_outputs(dtr, rts)
    }

    pub fn purge(&self, rx: bool, tx: bool) -> std::io::Result<()> {
        match self.device() {
            Some(d) => d.purge(rx, tx),
            None => Ok(()),
        }
    }

    /// The last `max` bytes the console printed.
    pub fn history(&self, max: usize) -> Vec<u8> {
        let h = self.history.lock();
        h.iter()
            .skip(h.len().saturating_sub(max))
            .copied()
            .collect()
    }

    pub fn attach(
        self: &Arc<Self>,
        id: u32,
        user: &str,
        protocol: Protocol,
        remote: Option<SocketAddr>,
        access: Access,
    ) -> Result<Attachment, String> {
        let cfg = self.config();
        if !cfg.enabled {
            return Err(format!("{} is disabled", self.name));
        }
        if access == Access::None {
            return Err(format!("{user} may not use {}", self.name));
        }
        let mut sessions = self.sessions.lock();
        if sessions.len() >= cfg.max_sessions {
            return Err(format!(
                "{} already has {} sessions, its maximum",
                self.name, cfg.max_sessions
            ));
        }
        let (kick, kicked) = watch::channel(None);
        let info = SessionInfo {
            id,
            user: user.to_string(),
            protocol,
            remote,
            since: Utc::now(),
            access,
            exclusive: false,
        };
        let output = self.out.subscribe();
        sessions.push(Entry {
            info: info.clone(),
            kick,
        });
        drop(sessions);
        self.session_event(true, &info, "attached");
        Ok(Attachment {
            port: self.clone(),
            id,
            output,
            kick: Kick(kicked),
        })
    }

    fn session_event(&self, opened: bool, info: &SessionInfo, what: &str) {
        let text = format!(
            "session {} {} {what} ({})",
            info.id,
            info.who(),
            info.mode()
        );
        self.transcript.lock().note(&text);
        let payload = SessionEvent {
            port: self.name.clone(),
            session_id: info.id,
            user: info.user.clone(),
            protocol: info.protocol,
            source_host: info.remote.map(|a| a.ip().to_string()),
        };
        let (source, message) = (
            format!("ports/{}", self.name),
            format!("{}: {text}", self.name),
        );
        if opened {
            self.events
                .emit(Severity::Info, source, message, &SessionOpened(payload));
        } else {
            self.events
                .emit(Severity::Info, source, message, &SessionClosed(payload));
        }
    }

    fn detach(&self, id: u32) {
        let mut sessions = self.sessions.lock();
        let Some(i) = sessions.iter().position(|e| e.info.id == id) else {
            return;
        };
        let e = sessions.remove(i);
        drop(sessions);
        self.session_event(false, &e.info, "left");
    }

    /// Changes a session's access (its groups changed); none closes it.
    pub fn set_access(&self, id: u32, access: Access) {
        let mut sessions = self.sessions.lock();
        if let Some(e) = sessions.iter_mut().find(|e| e.info.id == id) {
            if access == Access::None {
                let _ = e.kick.send(Some("access revoked".into()));
            }
            e.info.access = access;
            if access != Access::ReadWrite {
                e.info.exclusive = false;
            }
        }
    }

    fn on_output(&self, data: &[u8], lines: &mut Vec<u8>, alerts: &[Alert]) {
        // Sessions first: the transcript's write must not delay what operators see.
        let _ = self.out.send(Bytes::copy_from_slice(data));
        self.rx_bytes
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        self.transcript.lock().output(data);
        {
            let mut h = self.history.lock();
            let over = (h.len() + data.len()).saturating_sub(HISTORY).min(h.len());
            h.drain(..over);
            h.extend(&data[data.len().saturating_sub(HISTORY)..]);
        }
        if !alerts.is_empty() {
            for &b in data {
                if b == b'\n' {
                    self.match_alerts(lines, alerts);
                    lines.clear();
                } else if b != b'\r' && lines.len() < 4096 {
                    lines.push(b);
                }
            }
        }
    }

    fn match_alerts(&self, line: &[u8], alerts: &[Alert]) {
        let text = String::from_utf8_lossy(line);
        for a in alerts {
            if a.pattern.0.is_match(&text) {
                self.events.emit(
                    a.severity,
                    format!("ports/{}", self.name),
                    format!("{}: alert {}: {}", self.name, a.name, text.trim()),
                    &AlertMatch {
                        port: self.name.clone(),
                        pattern: a.name.clone(),
                        line: text.trim().to_string(),
                    },
                );
            }
        }
    }

    fn device_event(&self, back: bool, text: String) {
        self.transcript.lock().note(&text);
        let payload = DeviceEvent {
            port: self.name.clone(),
            device: self.config().device.display().to_string(),
        };
        let (source, message) = (
            format!("ports/{}", self.name),
            format!("{}: {text}", self.name),
        );
        if back {
            self.events
                .emit(Severity::Notice, source, message, &DeviceBack(payload));
        } else {
            self.events
                .emit(Severity::Warning, source, message, &DeviceGone(payload));
        }
    }

    fn poll_signals(&self, dev: &dyn Device) {
        let now = dev.signals().ok();
        let before = std::mem::replace(&mut *self.signals.lock(), now);
        let (Some(a), Some(b)) = (before, now) else {
            return;
        };
        for (name, was, is) in [
            ("dcd", a.dcd, b.dcd),
            ("dsr", a.dsr, b.dsr),
            ("cts", a.cts, b.cts),
        ] {
            if was != is {
                let state = if is { "on" } else { "off" };
                self.transcript
                    .lock()
                    .note(&format!("{} {state}", name.to_uppercase()));
                self.events.emit(
                    if is {
                        Severity::Notice
                    } else {
                        Severity::Warning
                    },
                    format!("ports/{}", self.name),
                    format!("{}: {} {state}", self.name, name.to_uppercase()),
                    &SignalChange {
                        port: self.name.clone(),
                        signal: name,
                        state,
                    },
                );
            }
        }
    }
}

/// Runs the port's reader; a panic in it (a bug) restarts it, and concerns
/// this port only: every other port goes on.
async fn supervise(port: Arc<Port>, opener: Arc<dyn Opener>, ctl: mpsc::UnboundedReceiver<Ctl>) {
    let ctl = Arc::new(tokio::sync::Mutex::new(ctl));
    loop {
        let task = tokio::spawn(reader(port.clone(), opener.clone(), ctl.clone()));
        match task.await {
            Err(e) if e.is_panic() => {
                tracing::error!("{}: the port's reader failed; restarting it", port.name);
                *port.device.lock() = None;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            _ => return,
        }
    }
}

/// Reads the console, runs the port's control requests, reopens a device that
/// went away and watches the modem lines.
async fn reader(
    port: Arc<Port>,
    opener: Arc<dyn Opener>,
    ctl: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Ctl>>>,
) {
    let mut ctl = ctl.lock().await;
    let mut buf = vec![0u8; 16 * 1024];
    let mut line = Vec::new();
    let mut alerts = port.config().alerts;
    // Whether the operator has been told the device is missing.
    let mut told_gone = false;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let dev = port.device();
        let request = match &dev {
            None => {
                tokio::select! {
                    c = ctl.recv() => c,
                    _ = tick.tick() => {
                        let cfg = port.config();
                        if !cfg.enabled {
                            continue;
                        }
                        let settings = port.live_settings();
                        match opener.open(&cfg.device, &settings) {
                            Ok(d) => {
                                *port.signals.lock() = d.signals().ok();
                                *port.device.lock() = Some(d);
                                if told_gone {
                                    port.device_event(
                                        true,
                                        format!("device {} is back", cfg.device.display()),
                                    );
                                }
                                told_gone = false;
                            }
                            Err(e) if !told_gone => {
                                told_gone = true;
                                port.device_event(
                                    false,
                                    format!("device {} is not present: {e}", cfg.device.display()),
                                );
                            }
                            Err(_) => {}
                        }
                        continue;
                    }
                }
            }
            Some(d) => {
                tokio::select! {
                    r = serial::read(&**d, &mut buf) => {
                        match r {
                            Ok(n) if n > 0 => port.on_output(&buf[..n], &mut line, &alerts),
                            r => {
                                let why = match r {
                                    Err(e) => e.to_string(),
                                    Ok(_) => "hang-up".to_string(),
                                };
                                *port.device.lock() = None;
                                *port.signals.lock() = None;
                                told_gone = true;
                                port.device_event(
                                    false,
                                    format!("device {} is gone: {why}", port.config().device.display()),
                                );
                            }
                        }
                        continue;
                    }
                    c = ctl.recv() => c,
                    _ = tick.tick() => {
                        port.poll_signals(&**d);
                        continue;
                    }
                }
            }
        };
        match request {
            None | Some(Ctl::Stop) => {
                *port.device.lock() = None;
                return;
            }
            Some(Ctl::Reconfigure(cfg)) => {
                let old = port.config();
                alerts = cfg.alerts.clone();
                port.transcript.lock().reconfigure(cfg.logging.clone());
                let reopen = old.device != cfg.device || !cfg.enabled;
                if reopen || old.settings != cfg.settings {
                    *port.live.lock() = cfg.settings;
                }
                *port.cfg.lock() = *cfg;
                if reopen {
                    // Opened again (by the new path) at the next tick.
                    *port.device.lock() = None;
                    told_gone = false;
                } else if let Some(d) = &dev
                    && let Err(e) = d.configure(&port.live_settings())
                {
                    tracing::warn!("{}: settings: {e}", port.name);
                }
            }
        }
    }
}

/// A session attached to a port. Dropping it detaches.
pub struct Attachment {
    pub port: Arc<Port>,
    pub id: u32,
    pub output: broadcast::Receiver<Bytes>,
    pub kick: Kick,
}

/// Tells an attached session it has been closed from outside.
pub struct Kick(watch::Receiver<Option<String>>);

impl Kick {
    /// Resolves when the session is closed (kicked, port gone), with the reason.
    pub async fn wait(&mut self) -> String {
        loop {
            if let Some(why) = self.0.borrow_and_update().clone() {
                return why;
            }
            if self.0.changed().await.is_err() {
                return "the port is closed".into();
            }
        }
    }
}

impl Attachment {
    pub fn info(&self) -> Option<SessionInfo> {
        self.port
            .sessions
            .lock()
            .iter()
            .find(|e| e.info.id == self.id)
            .map(|e| e.info.clone())
    }

    /// Passes input to the console if this session may write now.
    pub async fn write(&self, data: Bytes) -> Result<(), Refused> {
        {
            let sessions = self.port.sessions.lock();
            let me = sessions
                .iter()
                .find(|e| e.info.id == self.id)
                .ok_or(Refused::Closed)?;
            if me.info.access != Access::ReadWrite {
                return Err(Refused::ReadOnly);
            }
            if let Some(other) = sessions
                .iter()
                .find(|e| e.info.exclusive && e.info.id != self.id)
            {
                return Err(Refused::Exclusive(other.info.id));
            }
        }
        self.port
            .write_input(&data, |t| t.input(self.id, &data))
            .await
    }

    /// Takes exclusive write access (from whoever had it: returned), or gives it back.
    pub fn set_exclusive(&self, on: bool) -> Result<Option<u32>, Refused> {
        let mut sessions = self.port.sessions.lock();
        let mine = sessions
            .iter()
            .find(|e| e.info.id == self.id)
            .ok_or(Refused::Closed)?;
        if mine.info.access != Access::ReadWrite {
            return Err(Refused::ReadOnly);
        }
        let mut displaced = None;
        for e in sessions.iter_mut() {
            if e.info.id == self.id {
                e.info.exclusive = on;
            } else if on && e.info.exclusive {
                e.info.exclusive = false;
                displaced = Some(e.info.id);
            }
        }
        Ok(displaced)
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        self.port.detach(self.id);
    }
}
