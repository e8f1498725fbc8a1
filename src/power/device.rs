//! One power device at run time: a task that owns the connection, polls at the
//! device's interval, runs outlet operations one at a time, reconnects with
//! back-off after a failure, keeps the state the model shows and raises the
//! events of what changed.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::config::{self, Driver};
use super::snmp_pdu::{Profile, Snmp};
use super::{DriverError, Op, OutletReading, OutletState, Reading, UpsReading, nut, powerman};
use crate::events::{EventBus, Severity};

/// The longest wait between tries to reach a device that does not answer.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// What the model shows of a device.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// `None` until the first poll.
    pub reachable: Option<bool>,
    pub last_error: Option<String>,
    pub last_poll: Option<DateTime<Utc>>,
    pub reading: Reading,
}

type Reply = oneshot::Sender<Result<OutletState, DriverError>>;

struct Switch {
    outlet: String,
    op: Op,
    reply: Reply,
}

/// A running device.
pub struct Device {
    pub config: config::Device,
    pub state: Arc<RwLock<State>>,
    tx: mpsc::Sender<Switch>,
    stop: watch::Sender<bool>,
}

impl Device {
    pub fn start(config: config::Device, events: EventBus) -> Device {
        let state = Arc::new(RwLock::new(State::default()));
        let (tx, rx) = mpsc::channel(64);
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(supervise(
            config.clone(),
            state.clone(),
            events,
            rx,
            stopped,
        ));
        Device {
            config,
            state,
            tx,
            stop,
        }
    }

    /// Switches an outlet; the answer is its state afterwards, or why not.
    pub async fn switch(&self, outlet: &str, op: Op) -> Result<OutletState, DriverError> {
        let (reply, answer) = oneshot::channel();
        let req = Switch {
            outlet: outlet.to_string(),
            op,
            reply,
        };
        self.tx.try_send(req).map_err(|_| {
            DriverError::Refused("too many operations are waiting for this device".into())
        })?;
        answer
            .await
            .unwrap_or_else(|_| Err(DriverError::Unreachable("the device was removed".into())))
    }

    /// A disabled device: shown, never polled nor switched.
    pub fn idle(config: config::Device) -> Device {
        let (tx, _) = mpsc::channel(1);
        let (stop, _) = watch::channel(true);
        Device {
            config,
            state: Arc::default(),
            tx,
            stop,
        }
    }

    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An open connection, as its driver needs it.
enum Conn {
    Nut {
        client: nut::Client,
        ups: String,
        commands: HashSet<String>,
    },
    Powerman(powerman::Client),
    Snmp {
        snmp: Box<Snmp>,
        profile: Profile,
    },
}

async fn tcp(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, DriverError> {
    match tokio::time::timeout(timeout, TcpStream::connect((host, port))).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
        Ok(Err(e)) => Err(DriverError::Unreachable(format!("{host}:{port}: {e}"))),
        Err(_) => Err(DriverError::Timeout(format!(
            "{host}:{port} did not accept a connection in {timeout:?}"
        ))),
    }
}

impl Conn {
    async fn open(cfg: &config::Device) -> Result<Conn, DriverError> {
        let timeout = Duration::from_secs(cfg.timeout.into());
        match &cfg.driver {
            Driver::Nut(n) => {
                let io = Box::new(tcp(&n.host, n.port, timeout).await?);
                let mut client = nut::Client::new(io, timeout);
                if n.starttls {
                    client = client
                        .starttls(
                            &n.host,
                            n.ca_certificate.as_deref().map(std::path::Path::new),
                        )
                        .await?;
                }
                if let (Some(u), Some(p)) = (&n.username, &n.password) {
                    client.login(u, p).await?;
                }
                let commands = client.commands(&n.ups).await?.into_iter().collect();
                Ok(Conn::Nut {
                    client,
                    ups: n.ups.clone(),
                    commands,
                })
            }
            Driver::Powerman(p) => {
                let io = Box::new(tcp(&p.host, p.port, timeout).await?);
                Ok(Conn::Powerman(powerman::Client::start(io, timeout).await?))
            }
            Driver::SnmpPdu(s) => {
                let profile = Profile::of(s)?;
                Ok(Conn::Snmp {
                    snmp: Box::new(Snmp::new(s).await?),
                    profile,
                })
            }
        }
    }

    async fn poll(&mut self) -> Result<Reading, DriverError> {
        match self {
            Conn::Nut {
                client,
                ups,
                commands,
            } => Ok(nut_reading(&client.vars(ups).await?, commands)),
            Conn::Powerman(c) => Ok(Reading {
                outlets: c
                    .status()
                    .await?
                    .into_iter()
                    .map(|(node, state)| {
                        (
                            node,
                            OutletReading {
                                state,
                                switchable: true,
                                description: None,
                            },
                        )
                    })
                    .collect(),
                ups: None,
            }),
            Conn::Snmp { snmp, profile } => snmp.read(profile).await,
        }
    }

    /// Whether the device cycles this outlet by a command of its own.
    fn native_cycle(&self, outlet: &str) -> bool {
        match self {
            Conn::Nut { commands, .. } => commands.contains(&format!("outlet.{outlet}.load.cycle")),
            Conn::Powerman(_) => true,
            Conn::Snmp { profile, .. } => profile.cycle.is_some(),
        }
    }

    /// Sends one switching command; returns the state the device reports
    /// after it (on, off, or on for a cycle), when it says.
    async fn command(
        &mut self,
        outlet: &str,
        op: Op,
        wait: Duration,
    ) -> Result<OutletState, DriverError> {
        let expect = match op {
            Op::Off => OutletState::Off,
            Op::On | Op::Cycle => OutletState::On,
        };
        match self {
            Conn::Nut {
                client,
                ups,
                commands,
            } => {
                let cmd = format!("outlet.{outlet}.load.{}", op.as_str());
                // What the device can do is read from LIST CMD, never assumed.
                if !commands.contains(&cmd) {
                    return Err(DriverError::Refused(format!(
                        "the device has no instant command {cmd} (LIST CMD {ups})"
                    )));
                }
                client.instcmd(ups, &cmd, wait).await?;
                // The driver applies the command asynchronously: read until
                // the status shows it, for a moment.
                let deadline = Instant::now() + wait.min(Duration::from_secs(5));
                loop {
                    let vars = client.vars(ups).await?;
                    let now = nut_reading(&vars, commands)
                        .outlets
                        .get(outlet)
                        .map(|o| o.state)
                        .unwrap_or_default();
                    if now == expect || Instant::now() >= deadline {
                        return Ok(now);
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            Conn::Powerman(c) => {
                c.switch(op.as_str(), outlet).await?;
                Ok(c.status().await?.get(outlet).copied().unwrap_or_default())
            }
            Conn::Snmp { snmp, profile } => {
                let value = match op {
                    Op::On => profile.on,
                    Op::Off => profile.off,
                    Op::Cycle => profile.cycle.ok_or_else(|| {
                        DriverError::Invalid("the PDU has no cycle command".into())
                    })?,
                };
                snmp.switch(profile, outlet, value).await
            }
        }
    }

    async fn close(self) {
        match self {
            Conn::Nut { mut client, .. } => client.logout().await,
            Conn::Powerman(mut c) => c.quit().await,
            Conn::Snmp { .. } => {}
        }
    }
}

/// A NUT device's outlets and UPS data from its variables.
pub fn nut_reading(vars: &[(String, String)], commands: &HashSet<String>) -> Reading {
    let vars_by_name: HashMap<&str, &str> =
        vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let get = |k: &str| vars_by_name.get(k).copied();
    let mut r = Reading::default();
    // outlet.count when the driver gives it, else every outlet.N.* it has
    // (powerman-pdu gives no count).
    let mut numbers: std::collections::BTreeSet<u32> = vars
        .iter()
        .filter_map(|(k, _)| k.strip_prefix("outlet.")?.split('.').next()?.parse().ok())
        .collect();
    if let Some(count) = get("outlet.count").and_then(|c| c.parse::<u32>().ok()) {
        numbers.extend(1..=count.min(1024));
    }
    for i in numbers.into_iter().filter(|n| *n > 0).take(1024) {
        let state = match get(&format!("outlet.{i}.status")) {
            Some("on") => OutletState::On,
            Some("off") => OutletState::Off,
            _ => OutletState::Unknown,
        };
        let switchable = match get(&format!("outlet.{i}.switchable")) {
            Some(v) => v == "yes" || v == "1",
            None => ["on", "off"]
                .iter()
                .all(|op| commands.contains(&format!("outlet.{i}.load.{op}"))),
        };
        r.outlets.insert(
            i.to_string(),
            OutletReading {
                state,
                switchable,
                description: get(&format!("outlet.{i}.desc")).map(str::to_string),
            },
        );
    }
    if let Some(status) = get("ups.status")
        && get("device.type") != Some("pdu")
    {
        r.ups = Some(UpsReading {
            status: status.to_string(),
            charge: get("battery.charge")
                .and_then(|v| v.parse::<f64>().ok())
                .map(|v| v.clamp(0.0, 100.0) as u8),
            runtime: get("battery.runtime")
                .and_then(|v| v.parse::<f64>().ok())
                .map(|v| v.max(0.0) as u32),
            load: get("ups.load")
                .and_then(|v| v.parse::<f64>().ok())
                .map(|v| v.clamp(0.0, 65535.0) as u16),
            input_voltage: get("input.voltage").and_then(|v| v.parse().ok()),
            output_voltage: get("output.voltage").and_then(|v| v.parse().ok()),
        });
    }
    r
}

// ----- events -----

#[derive(Serialize)]
struct OutletChange<'a> {
    device: &'a str,
    outlet: &'a str,
    state: OutletState,
    previous: OutletState,
}

crate::payload!(
    OutletChange,
    OutletStateChange,
    "lifeline-power:outlet-state-change"
);

#[derive(Serialize)]
struct Unreachable<'a> {
    device: &'a str,
    error: &'a str,
}

crate::payload!(
    Unreachable,
    PowerDeviceUnreachable,
    "lifeline-power:power-device-unreachable"
);

#[derive(Serialize)]
struct Reachable<'a> {
    device: &'a str,
}

crate::payload!(
    Reachable,
    PowerDeviceReachable,
    "lifeline-power:power-device-reachable"
);

#[derive(Serialize)]
struct UpsEvent<'a> {
    device: &'a str,
    status: &'a str,
    #[serde(rename = "battery-charge", skip_serializing_if = "Option::is_none")]
    charge: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    runtime: Option<u32>,
}

macro_rules! ups_payload {
    ($name:ident, $kind:ident, $notif:literal) => {
        #[derive(Serialize)]
        #[serde(transparent)]
        struct $name<'a>(UpsEvent<'a>);
        crate::payload!($name, $kind, $notif);
    };
}

ups_payload!(OnBattery, UpsOnBattery, "lifeline-power:ups-on-battery");
ups_payload!(OnLine, UpsOnLine, "lifeline-power:ups-on-line");
ups_payload!(LowBattery, UpsLowBattery, "lifeline-power:ups-low-battery");

// ----- the task -----

/// Runs the device's task, and again if it panics (a bug must not leave the
/// device frozen): the operations it held are answered with an error.
async fn supervise(
    config: config::Device,
    state: Arc<RwLock<State>>,
    events: EventBus,
    rx: mpsc::Receiver<Switch>,
    stop: watch::Receiver<bool>,
) {
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    loop {
        let task = Task {
            config: config.clone(),
            state: state.clone(),
            events: events.clone(),
            conn: None,
            backoff: Duration::from_secs(1),
            pending: Vec::new(),
        };
        match tokio::spawn(task.run(rx.clone(), stop.clone())).await {
            Err(e) if e.is_panic() => {
                tracing::error!(
                    "power device {}: its task failed; restarting it",
                    config.name
                );
                state.write().last_error = Some("internal error; the driver was restarted".into());
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            _ => return,
        }
    }
}

struct Task {
    config: config::Device,
    state: Arc<RwLock<State>>,
    events: EventBus,
    conn: Option<Conn>,
    backoff: Duration,
    /// Cycles timed by the appliance: when to switch on, and who waits.
    pending: Vec<(Instant, String, Reply)>,
}

impl Task {
    fn source(&self) -> String {
        format!("power/{}", self.config.name)
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.timeout.into())
    }

    async fn run(
        mut self,
        rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Switch>>>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut rx = rx.lock().await;
        if *stop.borrow_and_update() {
            return;
        }
        let mut next_poll = Instant::now();
        loop {
            let due = self.pending.iter().map(|p| p.0).min();
            tokio::select! {
                biased;
                _ = stop.changed() => break,
                req = rx.recv() => match req {
                    Some(s) => {
                        self.switch(s).await;
                        // The poll after an operation shows its effects soon.
                        next_poll = next_poll.min(Instant::now() + Duration::from_secs(1));
                    }
                    None => break,
                },
                _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                    self.finish_cycles().await;
                }
                _ = tokio::time::sleep_until(next_poll) => {
                    next_poll = Instant::now() + self.poll().await;
                }
            }
        }
        for (_, _, reply) in self.pending.drain(..) {
            let _ = reply.send(Err(DriverError::Unreachable(
                "the device was removed".into(),
            )));
        }
        if let Some(c) = self.conn.take() {
            c.close().await;
        }
    }

    /// The open connection, opened first if need be.
    async fn conn(&mut self) -> Result<&mut Conn, DriverError> {
        if self.conn.is_none() {
            let timeout = self.timeout();
            let opened = match tokio::time::timeout(timeout * 2, Conn::open(&self.config)).await {
                Ok(r) => r,
                Err(_) => Err(DriverError::Timeout(format!(
                    "the device did not let us in within {:?}",
                    timeout * 2
                ))),
            };
            // A device that will not let us in (a refused login or STARTTLS, a
            // certificate that does not verify) is as unusable as one that is
            // down.
            self.conn = Some(opened.inspect_err(|e| self.lost(e))?);
        }
        Ok(self.conn.as_mut().expect("just opened"))
    }

    /// A failure: a connection that is no use is dropped, and the device
    /// counted unreachable.
    fn failed(&mut self, e: &DriverError) {
        if e.breaks_connection() {
            self.lost(e);
        }
    }

    /// The device cannot be used: the connection is dropped, and the device
    /// counted unreachable (with an event the first time).
    fn lost(&mut self, e: &DriverError) {
        self.conn = None;
        let was = {
            let mut s = self.state.write();
            s.last_error = Some(e.to_string());
            s.reachable.replace(false)
        };
        if was != Some(false) {
            let error = e.to_string();
            self.events.emit(
                Severity::Error,
                self.source(),
                format!("{} is unreachable: {error}", self.config.name),
                &Unreachable {
                    device: &self.config.name,
                    error: &error,
                },
            );
        }
    }

    /// One poll; returns when the next one is due.
    async fn poll(&mut self) -> Duration {
        let interval = Duration::from_secs(self.config.poll_interval.into());
        let reading = match self.conn().await {
            Ok(c) => c.poll().await,
            Err(_) => return self.retry_after(interval),
        };
        match reading {
            Ok(r) => {
                self.backoff = Duration::from_secs(1);
                self.update(r);
                interval
            }
            Err(e) => {
                self.failed(&e);
                if !e.breaks_connection() {
                    // The device answers, but not this: say so and go on.
                    self.state.write().last_error = Some(e.to_string());
                    return interval;
                }
                self.retry_after(interval)
            }
        }
    }

    /// When to try an unreachable device again: backing off, but never
    /// longer than its poll interval.
    fn retry_after(&mut self, interval: Duration) -> Duration {
        let wait = self.backoff.min(interval.max(Duration::from_secs(1)));
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        wait
    }

    /// A new reading: state kept, events for what changed.
    fn update(&mut self, r: Reading) {
        let name = self.config.name.clone();
        let (was_reachable, before) = {
            let mut s = self.state.write();
            let before = std::mem::replace(&mut s.reading, r.clone());
            s.last_poll = Some(Utc::now());
            (s.reachable.replace(true), before)
        };
        if was_reachable == Some(false) {
            self.events.emit(
                Severity::Notice,
                self.source(),
                format!("{name} answers again"),
                &Reachable { device: &name },
            );
        }
        for (id, now) in &r.outlets {
            if let Some(old) = before.outlets.get(id)
                && old.state != now.state
            {
                self.outlet_event(id, old.state, now.state);
            }
        }
        if let Some(ups) = &r.ups {
            let old = before.ups.clone().unwrap_or_default();
            let ev = |flag: &str| ups.has(flag) && !old.has(flag);
            let payload = UpsEvent {
                device: &name,
                status: &ups.status,
                charge: ups.charge,
                runtime: ups.runtime,
            };
            let source = self.source();
            if ev("OB") {
                self.events.emit(
                    Severity::Warning,
                    source.clone(),
                    format!("{name} runs on battery ({})", ups.status),
                    &OnBattery(payload),
                );
            } else if ups.has("OL") && old.has("OB") {
                self.events.emit(
                    Severity::Notice,
                    source.clone(),
                    format!("{name} is back on line power"),
                    &OnLine(payload),
                );
            }
            if ev("LB") {
                let payload = UpsEvent {
                    device: &name,
                    status: &ups.status,
                    charge: ups.charge,
                    runtime: ups.runtime,
                };
                self.events.emit(
                    Severity::Critical,
                    source,
                    format!("{name}'s battery is low ({})", ups.status),
                    &LowBattery(payload),
                );
            }
        }
    }

    fn outlet_event(&self, outlet: &str, previous: OutletState, state: OutletState) {
        self.events.emit(
            Severity::Notice,
            self.source(),
            format!(
                "{} outlet {outlet}: {} (was {})",
                self.config.name,
                state.as_str(),
                previous.as_str()
            ),
            &OutletChange {
                device: &self.config.name,
                outlet,
                state,
                previous,
            },
        );
    }

    /// Records a state the appliance itself brought about.
    fn set_state(&mut self, outlet: &str, state: OutletState) {
        let previous = {
            let mut s = self.state.write();
            let o = s.reading.outlets.entry(outlet.to_string()).or_default();
            std::mem::replace(&mut o.state, state)
        };
        if previous != state && state != OutletState::Unknown {
            self.outlet_event(outlet, previous, state);
        }
    }

    async fn switch(&mut self, s: Switch) {
        let wait = self.timeout();
        let r = self.run_op(&s.outlet, s.op, wait).await;
        match r {
            // A cycle timed by us: the outlet is off, on comes later.
            Ok(None) => {
                let delay = self.config.cycle_delay(&s.outlet);
                self.pending.push((
                    Instant::now() + Duration::from_secs(delay.into()),
                    s.outlet,
                    s.reply,
                ));
            }
            Ok(Some(state)) => {
                let _ = s.reply.send(Ok(state));
            }
            Err(e) => {
                let _ = s.reply.send(Err(e));
            }
        }
    }

    /// Runs one operation; `Ok(None)` when a cycle's off is done and its on
    /// is left for later.
    async fn run_op(
        &mut self,
        outlet: &str,
        op: Op,
        wait: Duration,
    ) -> Result<Option<OutletState>, DriverError> {
        if let Some(o) = self.state.read().reading.outlets.get(outlet)
            && !o.switchable
        {
            return Err(DriverError::Refused(format!(
                "outlet {outlet} is not switchable"
            )));
        }
        let conn = self.conn().await?;
        let op = if op == Op::Cycle && !conn.native_cycle(outlet) {
            match conn.command(outlet, Op::Off, wait).await {
                Ok(state) => {
                    self.set_state(outlet, state);
                    return Ok(None);
                }
                Err(e) => {
                    self.failed(&e);
                    return Err(e);
                }
            }
        } else {
            op
        };
        match conn.command(outlet, op, wait).await {
            Ok(state) => {
                self.set_state(outlet, state);
                Ok(Some(state))
            }
            Err(e) => {
                self.failed(&e);
                Err(e)
            }
        }
    }

    /// Switches on the outlets whose timed cycle is due.
    async fn finish_cycles(&mut self) {
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = self.pending.drain(..).partition(|p| p.0 <= now);
        self.pending = later;
        let wait = self.timeout();
        for (_, outlet, reply) in due {
            let r = self
                .run_op(&outlet, Op::On, wait)
                .await
                .map(|s| s.unwrap_or_default());
            let _ = reply.send(r);
        }
    }
}

/// The outlets of a device as the model shows them: those it reports, and
/// those the configuration names.
pub fn outlets(cfg: &config::Device, state: &State) -> BTreeMap<String, OutletReading> {
    let mut out = state.reading.outlets.clone();
    for o in &cfg.outlet {
        out.entry(o.id.clone()).or_default();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nut_variables_make_outlets_and_ups_data() {
        let vars: Vec<(String, String)> = [
            ("device.type", "ups"),
            ("outlet.count", "2"),
            ("outlet.1.status", "on"),
            ("outlet.1.desc", "router1"),
            ("outlet.2.status", "off"),
            ("outlet.2.switchable", "no"),
            ("ups.status", "OB LB"),
            ("battery.charge", "10"),
            ("battery.runtime", "300.5"),
            ("input.voltage", "0.0"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let cmds: HashSet<String> = ["outlet.1.load.on", "outlet.1.load.off"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let r = nut_reading(&vars, &cmds);
        assert_eq!(r.outlets["1"].state, OutletState::On);
        assert!(r.outlets["1"].switchable);
        assert_eq!(r.outlets["1"].description.as_deref(), Some("router1"));
        assert!(!r.outlets["2"].switchable);
        let ups = r.ups.unwrap();
        assert!(ups.has("OB") && ups.has("LB") && !ups.has("OL"));
        assert_eq!((ups.charge, ups.runtime), (Some(10), Some(300)));
    }
}
