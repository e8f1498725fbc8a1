//! The manager task: one loop that owns every uplink's probes and health,
//! the selector, the kernel's routes and the tunnel. Each step reads what
//! happened (a probe reply, a link change, a timer, a new configuration, an
//! action), lets the sans-IO machines decide, makes the kernel follow,
//! reports events, publishes a snapshot for the state readers and answers
//! the actions whose change is made.
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::config::{Method as CfgMethod, Probe, Tunnel, Uplink, Uplinks};
use super::health::{self, Health, Stats, Transition};
use super::probe::{Method, Prober, Reply};
use super::routing::{LinkInfo, Netlink, Route, prefix};
use super::select::{Candidate, Selector, Switch, TunnelWant};
use super::tunnel;
use crate::events::{EventBus, Severity};

/// One link's state as the faces show it.
#[derive(Debug, Clone)]
pub struct LinkView {
    pub name: String,
    pub health: Health,
    pub reason: String,
    pub last_change: Option<DateTime<Utc>>,
    pub stats: Stats,
    pub active: Option<bool>,
    pub gateway: Option<IpAddr>,
    pub gateway6: Option<IpAddr>,
    /// An uplink's `administratively-down` (the down action in force).
    pub admin_down: Option<bool>,
}

/// What the manager task is sent, in one channel so that an action sees
/// the configuration of every commit before it.
pub enum Msg {
    /// A commit's configuration (`None`: nothing to manage).
    Configure(Option<Box<Uplinks>>),
    /// An action of the model, answered on `done` once its change is made.
    Act { act: Act, user: String, done: Done },
}

/// The model's actions on uplinks and the tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    UplinkDown(String),
    UplinkUp(String),
    TunnelStart,
    TunnelStop,
}

/// Why an action was not carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActError {
    /// The uplink or tunnel it names is not configured.
    Missing(String),
    /// It could not be done (the tunnel's bring-up failed).
    Failed(String),
}

pub type Done = oneshot::Sender<Result<(), ActError>>;

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub uplinks: Vec<LinkView>,
    pub tunnel: Option<LinkView>,
    pub active: Option<String>,
    pub routing_error: Option<String>,
    pub last_failover: Option<DateTime<Utc>>,
    pub last_failback: Option<DateTime<Utc>>,
    pub failovers: u32,
}

#[derive(Serialize)]
struct Down<'a> {
    uplink: &'a str,
    health: Health,
    reason: &'a str,
}
crate::payload!(Down, UplinkDown, "lifeline-uplinks:uplink-down");

#[derive(Serialize)]
struct Up<'a> {
    uplink: &'a str,
    previous: Health,
}
crate::payload!(Up, UplinkUp, "lifeline-uplinks:uplink-up");

#[derive(Serialize)]
struct Degraded<'a> {
    uplink: &'a str,
    degraded: bool,
    loss: u8,
}
crate::payload!(Degraded, UplinkDegraded, "lifeline-uplinks:uplink-degraded");

#[derive(Serialize)]
struct Failover<'a> {
    from: &'a str,
    to: &'a str,
    reason: &'a str,
}
crate::payload!(Failover, UplinkFailover, "lifeline-uplinks:uplink-failover");

#[derive(Serialize)]
struct Failback<'a> {
    from: &'a str,
    to: &'a str,
}
crate::payload!(Failback, UplinkFailback, "lifeline-uplinks:uplink-failback");

#[derive(Serialize)]
struct RoutingFailed<'a> {
    uplink: &'a str,
    error: &'a str,
}
crate::payload!(
    RoutingFailed,
    UplinkRoutingFailed,
    "lifeline-uplinks:uplink-routing-failed"
);

#[derive(Serialize)]
struct TunnelUp<'a> {
    interface: &'a str,
}
crate::payload!(TunnelUp, TunnelUp, "lifeline-uplinks:tunnel-up");

#[derive(Serialize)]
struct TunnelDown<'a> {
    interface: &'a str,
    reason: &'a str,
}
crate::payload!(TunnelDown, TunnelDown, "lifeline-uplinks:tunnel-down");

/// How often links and learned gateways are read again without a netlink
/// notice, and a failed route change is tried again.
const REFRESH: Duration = Duration::from_secs(1);

/// One probed link (an uplink, or the tunnel).
struct Probed {
    name: String,
    link: health::Link,
    prober: Prober,
    /// Targets from the model; empty means the gateway in use.
    targets: Vec<IpAddr>,
    /// The reason of a link-level fault in force (no interface, no carrier,
    /// dormant, disabled), which probes cannot override.
    fault: Option<(Health, String)>,
    last_change: Option<DateTime<Utc>>,
}

impl Probed {
    fn new(
        name: &str,
        ifname: &str,
        probe: &Probe,
        tag: u64,
        tx: &mpsc::UnboundedSender<Reply>,
    ) -> Probed {
        let method = match probe.method {
            CfgMethod::Icmp => Method::Icmp,
            CfgMethod::Tcp => Method::Tcp(probe.tcp_port.unwrap_or(0)),
        };
        let timing = probe.timing();
        let timeout = timing.timeout;
        let now = Instant::now();
        let mut prober = Prober::new(tag, ifname, method, timeout, tx.clone());
        prober.set_targets(probe.target.clone());
        Probed {
            name: name.to_string(),
            link: health::Link::new(timing, probe.target.len().max(1), now),
            prober,
            targets: probe.target.clone(),
            fault: None,
            last_change: Some(Utc::now()),
        }
    }

    /// Puts a link-level fault in force, or lifts it (probes decide again).
    fn set_fault(&mut self, fault: Option<(Health, String)>, now: Instant) -> Option<Transition> {
        if self.fault == fault {
            return None;
        }
        let t = match &fault {
            Some((h, why)) => self.link.fault(*h, why, now),
            None => self.link.restart("link usable again: probing", now),
        };
        self.fault = fault;
        t
    }

    fn view(&self, active: Option<bool>, gw: Option<IpAddr>, gw6: Option<IpAddr>) -> LinkView {
        LinkView {
            name: self.name.clone(),
            health: self.link.health(),
            reason: self.link.reason().to_string(),
            last_change: self.last_change,
            stats: self.link.stats().clone(),
            active,
            gateway: gw,
            gateway6: gw6,
            admin_down: None,
        }
    }
}

struct UplinkRt {
    cfg: Uplink,
    table: u32,
    p: Probed,
    index: Option<u32>,
    point_to_point: bool,
    gw4: Option<IpAddr>,
    gw6: Option<IpAddr>,
    /// An on-demand uplink the manager has brought up.
    raised: bool,
    /// Taken out of use by the down action, by this user (until the up
    /// action, or a commit that changes the uplink).
    admin_down: Option<String>,
}

struct TunnelRt {
    cfg: Tunnel,
    p: Probed,
    running: Option<tunnel::Running>,
    index: Option<u32>,
    error: Option<String>,
    next_try: Instant,
    /// A bring-up is under way in a task of its own.
    pending: bool,
    /// The last take-down, which a new bring-up waits for.
    going_down: Option<tokio::task::JoinHandle<()>>,
    /// Take-downs not finished yet.
    downs: u32,
    /// The bring-up rule, and the start and stop actions' override.
    want: TunnelWant,
    /// Start (`true`) and stop actions waiting for the tunnel to be up or
    /// down.
    waiters: Vec<(bool, Done)>,
}

impl TunnelRt {
    /// Answers the actions waiting for the tunnel going `up` (or down).
    fn answer(&mut self, up: bool, r: Result<(), ActError>) {
        let (now, later) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|(w, _)| *w == up);
        self.waiters = later;
        for (_, done) in now {
            let _ = done.send(r.clone());
        }
    }

    /// Answers the actions whose change is made: start once the tunnel is
    /// up, stop once it is down and every take-down has finished.
    fn settle(&mut self) {
        if self.running.is_some() {
            self.answer(true, Ok(()));
        } else if !self.pending && self.downs == 0 {
            self.answer(false, Ok(()));
        }
    }
}

impl Drop for TunnelRt {
    fn drop(&mut self) {
        for (_, done) in self.waiters.drain(..) {
            let _ = done.send(Err(ActError::Failed(
                "the tunnel was reconfigured or removed meanwhile".into(),
            )));
        }
    }
}

/// A bring-up of the tunnel `tag` finished.
struct BroughtUp {
    tag: u64,
    ifname: String,
    kind: super::config::TunnelKind,
    result: Result<(tunnel::Running, u32), String>,
}

/// What slow work done off the manager's loop (tunnel commands, wireguard-go's
/// start) reports back, so probes never wait for it.
enum Job {
    TunnelUp(Box<BroughtUp>),
    /// A take-down of the tunnel `tag` finished.
    TunnelDown {
        tag: u64,
    },
}

struct Manager {
    nl: Netlink,
    events: EventBus,
    snapshot: Arc<RwLock<Snapshot>>,
    cfg: Option<Uplinks>,
    uplinks: BTreeMap<String, UplinkRt>,
    tunnel: Option<TunnelRt>,
    selector: Selector,
    reply_tx: mpsc::UnboundedSender<Reply>,
    jobs: mpsc::UnboundedSender<Job>,
    next_tag: u64,
    /// Routing must be brought in line (a switch, a gateway, the tunnel).
    dirty: bool,
    routing_error: Option<String>,
    retry_at: Option<Instant>,
    wake: Option<Instant>,
    last_failover: Option<DateTime<Utc>>,
    last_failback: Option<DateTime<Utc>>,
    failovers: u32,
    /// Uplink actions answered once the next step has made their change.
    applied: Vec<Done>,
}

pub async fn run(
    mut config: mpsc::UnboundedReceiver<Msg>,
    events: EventBus,
    snapshot: Arc<RwLock<Snapshot>>,
) {
    let nl = match Netlink::connect() {
        Ok(nl) => nl,
        Err(e) => {
            tracing::error!("uplinks: no netlink: {e}; uplinks are not managed");
            while let Some(msg) = config.recv().await {
                if let Msg::Act { done, .. } = msg {
                    let _ = done.send(Err(ActError::Failed(format!(
                        "uplinks are not managed (no netlink: {e})"
                    ))));
                }
            }
            return;
        }
    };
    let mut link_events = Netlink::watch_links().ok();
    let (reply_tx, mut replies) = mpsc::unbounded_channel();
    let (jobs, mut done) = mpsc::unbounded_channel();
    let mut m = Manager {
        nl,
        events,
        snapshot,
        cfg: None,
        uplinks: BTreeMap::new(),
        tunnel: None,
        selector: Selector::new(),
        reply_tx,
        jobs,
        next_tag: 1,
        dirty: false,
        routing_error: None,
        retry_at: None,
        wake: None,
        last_failover: None,
        last_failback: None,
        failovers: 0,
        applied: Vec::new(),
    };
    let mut refresh = tokio::time::interval(REFRESH);
    loop {
        let wake = m.next_wakeup();
        let sleep = tokio::time::sleep_until(wake.into());
        let mut read_links = false;
        tokio::select! {
            c = config.recv() => match c {
                Some(Msg::Configure(c)) => { m.configure(c.map(|c| *c)).await; read_links = true; }
                Some(Msg::Act { act, user, done }) => read_links = m.act(act, &user, done),
                None => { m.stop().await; return; }
            },
            Some(r) = replies.recv() => {
                m.reply(r);
                while let Ok(r) = replies.try_recv() { m.reply(r); }
            }
            Some(()) = async { match &mut link_events { Some(rx) => rx.recv().await, None => std::future::pending().await } } => {
                if let Some(rx) = &mut link_events { while rx.try_recv().is_ok() {} }
                read_links = true;
            }
            Some(job) = done.recv() => m.job(job),
            _ = refresh.tick() => read_links = true,
            _ = sleep => {}
        }
        if m.cfg.is_none() {
            continue;
        }
        if read_links {
            m.read_links().await;
        }
        m.step().await;
        for done in m.applied.drain(..) {
            let _ = done.send(Ok(()));
        }
    }
}

impl Manager {
    fn next_wakeup(&self) -> Instant {
        let far = Instant::now() + Duration::from_secs(3600);
        self.uplinks
            .values()
            .map(|u| &u.p)
            .chain(self.tunnel.iter().map(|t| &t.p))
            .filter_map(|p| p.link.next_wakeup())
            .chain(self.wake)
            .chain(self.retry_at)
            .min()
            .unwrap_or(far)
    }

    fn reply(&mut self, r: Reply) {
        let p = self
            .uplinks
            .values_mut()
            .map(|u| &mut u.p)
            .chain(self.tunnel.iter_mut().map(|t| &mut t.p))
            .find(|p| p.prober.tag() == r.tag);
        if let Some(p) = p {
            p.link.reply(r.round, r.target, r.at);
        }
    }

    fn tag(&mut self) -> u64 {
        self.next_tag += 1;
        self.next_tag
    }

    async fn configure(&mut self, cfg: Option<Uplinks>) {
        let Some(cfg) = cfg else {
            self.stop().await;
            return;
        };
        let old = std::mem::take(&mut self.uplinks);
        let mut old = old;
        // Uplink N in the order of the names has table base + N.
        let mut by_name: Vec<&Uplink> = cfg.uplink.iter().collect();
        by_name.sort_by(|a, b| a.name.cmp(&b.name));
        for (i, u) in by_name.into_iter().enumerate() {
            let table = cfg.routing.table + 1 + i as u32;
            let old = old.remove(&u.name);
            // The down action lasts until a commit changes the uplink (a
            // table moved by another uplink's name is no change of it).
            let admin_down = old
                .as_ref()
                .filter(|o| o.cfg == *u)
                .and_then(|o| o.admin_down.clone());
            let keep = old.filter(|o| o.cfg == *u && o.table == table);
            let rt = match keep {
                Some(o) => o,
                None => {
                    let tag = self.tag();
                    UplinkRt {
                        cfg: u.clone(),
                        table,
                        p: Probed::new(&u.name, &u.interface, &u.probe, tag, &self.reply_tx),
                        index: None,
                        point_to_point: false,
                        gw4: None,
                        gw6: None,
                        raised: false,
                        admin_down,
                    }
                }
            };
            self.uplinks.insert(u.name.clone(), rt);
        }
        // Tables of uplinks that are gone are emptied.
        for (_, o) in old {
            if let Err(e) = self.nl.prune(o.table, |_, _| false).await {
                tracing::warn!("uplinks: table {}: {e}", o.table);
            }
        }
        let tunnel_changed = self.tunnel.as_ref().map(|t| &t.cfg) != cfg.tunnel.as_ref();
        if tunnel_changed {
            self.tunnel_down("configuration changed").await;
            let mut going_down = self.tunnel.as_mut().and_then(|t| t.going_down.take());
            self.tunnel = cfg.tunnel.clone().map(|t| {
                let tag = self.tag();
                let mut p = Probed::new("tunnel", &t.interface, &t.probe, tag, &self.reply_tx);
                p.set_fault(
                    Some((Health::Dormant, "tunnel not brought up".into())),
                    Instant::now(),
                );
                TunnelRt {
                    want: TunnelWant::new(t.bring_up),
                    cfg: t,
                    p,
                    running: None,
                    index: None,
                    error: None,
                    next_try: Instant::now(),
                    pending: false,
                    going_down: going_down.take(),
                    downs: 0,
                    waiters: Vec::new(),
                }
            });
        }
        // Moved ranges are left clean before the new ones are written.
        if let Some(old) = &self.cfg
            && old.routing != cfg.routing
        {
            let _ = self.nl.clear_rules(old.routing.rule_priority).await;
            let _ = self.nl.prune(old.routing.table, |_, _| false).await;
        }
        let rules: Vec<(String, u32)> = self
            .uplinks
            .values()
            .map(|u| (u.cfg.interface.clone(), u.table))
            .collect();
        if let Err(e) = self
            .nl
            .install_rules(cfg.routing.rule_priority, &rules, cfg.routing.table)
            .await
        {
            self.routing_failed("", &format!("rules: {e}"));
        }
        self.cfg = Some(cfg);
        self.dirty = true;
    }

    /// Leaves the kernel as it was before lifelined managed it.
    async fn stop(&mut self) {
        self.tunnel_down("uplinks not configured").await;
        if let Some(h) = self.tunnel.as_mut().and_then(|t| t.going_down.take()) {
            let _ = h.await;
        }
        self.tunnel = None;
        if let Some(cfg) = self.cfg.take() {
            let _ = self.nl.clear_rules(cfg.routing.rule_priority).await;
            let _ = self.nl.prune(cfg.routing.table, |_, _| false).await;
            for u in self.uplinks.values() {
                let _ = self.nl.prune(u.table, |_, _| false).await;
            }
        }
        self.uplinks.clear();
        self.selector = Selector::new();
        *self.snapshot.write() = Snapshot::default();
        for done in self.applied.drain(..) {
            let _ = done.send(Err(ActError::Missing("uplinks are not configured".into())));
        }
    }

    /// Takes an action in hand: answers it now when it names nothing or
    /// there is nothing to do, or after the step that makes its change (an
    /// uplink's), or once the tunnel is up or down. Returns whether the links
    /// must be read again (their faults decided anew).
    fn act(&mut self, act: Act, user: &str, done: Done) -> bool {
        match act {
            Act::UplinkDown(name) => self.take_down(&name, Some(user), done),
            Act::UplinkUp(name) => self.take_down(&name, None, done),
            Act::TunnelStart | Act::TunnelStop => {
                let up = act == Act::TunnelStart;
                let Some(t) = &mut self.tunnel else {
                    let _ = done.send(Err(ActError::Missing("there is no tunnel".into())));
                    return false;
                };
                tracing::info!(
                    "tunnel {}: {} by {user}",
                    t.cfg.interface,
                    if up { "started" } else { "stopped" }
                );
                t.want.hold(up);
                if up {
                    // An action is not held back by the retry delay.
                    t.next_try = Instant::now();
                }
                // A later action overrides the ones waiting the other way.
                t.answer(
                    !up,
                    Err(ActError::Failed(format!(
                        "overridden by a later {} action",
                        if up { "start" } else { "stop" }
                    ))),
                );
                t.waiters.push((up, done));
                false
            }
        }
    }

    /// The down action (`by` the user) or the up action (`None`) on an
    /// uplink; its fault is decided at the next reading of the links.
    fn take_down(&mut self, name: &str, by: Option<&str>, done: Done) -> bool {
        let Some(u) = self.uplinks.get_mut(name) else {
            let _ = done.send(Err(ActError::Missing(format!("there is no uplink {name}"))));
            return false;
        };
        if u.admin_down.is_some() == by.is_some() {
            let _ = done.send(Ok(()));
            return false;
        }
        match by {
            Some(user) => tracing::info!("uplink {name}: taken down by {user}"),
            None => tracing::info!("uplink {name}: given back to the selector"),
        }
        u.admin_down = by.map(str::to_string);
        self.applied.push(done);
        true
    }

    /// Reads the uplinks' interfaces and learned gateways again.
    async fn read_links(&mut self) {
        let links = match self.nl.links().await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("uplinks: reading links: {e}");
                return;
            }
        };
        let gws4 = self.nl.default_gateways(false).await.unwrap_or_default();
        let gws6 = self.nl.default_gateways(true).await.unwrap_or_default();
        let now = Instant::now();
        let mut transitions = Vec::new();
        for u in self.uplinks.values_mut() {
            let l: Option<&LinkInfo> = links.iter().find(|l| l.name == u.cfg.interface);
            let idx = l.map(|l| l.index);
            if idx != u.index {
                u.index = idx;
                self.dirty = true;
            }
            u.point_to_point = l.is_some_and(|l| l.point_to_point);
            let learned = |gws: &[(u32, IpAddr)]| {
                idx.and_then(|i| gws.iter().find(|(o, _)| *o == i).map(|(_, g)| *g))
            };
            let gw4 = u.cfg.gateway.map(IpAddr::V4).or_else(|| learned(&gws4));
            let gw6 = u.cfg.gateway6.map(IpAddr::V6).or_else(|| learned(&gws6));
            if (gw4, gw6) != (u.gw4, u.gw6) {
                u.gw4 = gw4;
                u.gw6 = gw6;
                self.dirty = true;
                if u.p.targets.is_empty() {
                    u.p.prober.set_targets(gw4.or(gw6).into_iter().collect());
                }
            }
            let fault = health::fault(&health::Standing {
                enabled: u.cfg.enabled,
                taken_down: u.admin_down.as_deref(),
                dormant: u.cfg.on_demand.is_some() && !u.raised,
                ifname: &u.cfg.interface,
                interface: l.map(|l| health::Interface {
                    admin_up: l.admin_up,
                    carrier: l.carrier,
                }),
                has_targets: !u.p.prober.targets().is_empty(),
            });
            if let Some(t) = u.p.set_fault(fault, now) {
                transitions.push((u.cfg.name.clone(), t));
            }
        }
        for (name, t) in transitions {
            self.transition(&name, t);
        }
    }

    /// Reports a change of an uplink's health.
    fn transition(&mut self, name: &str, t: Transition) {
        let src = format!("uplinks/{name}");
        if let Some(u) = self.uplinks.get_mut(name) {
            u.p.last_change = Some(Utc::now());
        }
        match t.to {
            Health::Down | Health::Absent => {
                let msg = format!("uplink {name} is {}: {}", t.to.as_str(), t.reason);
                self.events.emit(
                    Severity::Warning,
                    src,
                    msg,
                    &Down {
                        uplink: name,
                        health: t.to,
                        reason: &t.reason,
                    },
                );
            }
            Health::Up if t.from == Health::Degraded => {
                let loss = self.uplinks.get(name).map_or(0, |u| u.p.link.stats().loss);
                self.events.emit(
                    Severity::Notice,
                    src,
                    format!("uplink {name} is no longer degraded"),
                    &Degraded {
                        uplink: name,
                        degraded: false,
                        loss,
                    },
                );
            }
            Health::Up => {
                self.events.emit(
                    Severity::Notice,
                    src,
                    format!("uplink {name} is up ({})", t.reason),
                    &Up {
                        uplink: name,
                        previous: t.from,
                    },
                );
            }
            Health::Degraded => {
                let loss = self.uplinks.get(name).map_or(0, |u| u.p.link.stats().loss);
                self.events.emit(
                    Severity::Warning,
                    src,
                    format!("uplink {name} is degraded: {}", t.reason),
                    &Degraded {
                        uplink: name,
                        degraded: true,
                        loss,
                    },
                );
            }
            Health::Unknown | Health::Dormant | Health::Disabled => {}
        }
    }

    fn routing_failed(&mut self, uplink: &str, error: &str) {
        if self.routing_error.as_deref() != Some(error) {
            self.events.emit(
                Severity::Error,
                format!("uplinks/{uplink}"),
                format!("routing through {uplink} failed: {error}"),
                &RoutingFailed { uplink, error },
            );
        }
        self.routing_error = Some(error.to_string());
        self.retry_at = Some(Instant::now() + REFRESH);
    }

    async fn step(&mut self) {
        let now = Instant::now();
        // Probes out, rounds decided.
        let mut transitions = Vec::new();
        for u in self.uplinks.values_mut() {
            if let Some(r) = u.p.link.poll_round(now)
                && let Err(e) = u.p.prober.send_round(r.round)
            {
                tracing::debug!("uplink {}: {e}", u.cfg.name);
            }
            if let Some(t) = u.p.link.poll(now) {
                transitions.push((u.cfg.name.clone(), t));
            }
        }
        for (name, t) in transitions {
            self.transition(&name, t);
        }
        if let Some(t) = &mut self.tunnel
            && !t.p.targets.is_empty()
        {
            if let Some(r) = t.p.link.poll_round(now) {
                let _ = t.p.prober.send_round(r.round);
            }
            if let Some(tr) = t.p.link.poll(now) {
                t.p.last_change = Some(Utc::now());
                tracing::info!(
                    "tunnel {}: {} ({})",
                    t.cfg.interface,
                    tr.to.as_str(),
                    tr.reason
                );
            }
        }
        // The selector.
        let Some(cfg) = &self.cfg else { return };
        let policy = cfg.policy();
        let cands: Vec<Candidate> = self
            .uplinks
            .values()
            .map(|u| Candidate {
                name: u.cfg.name.clone(),
                priority: u.cfg.priority,
                on_demand: u.cfg.on_demand.is_some(),
                health: u.p.link.health(),
                reason: u.p.link.reason().to_string(),
            })
            .collect();
        let (sw, wake) = self.selector.step(&policy, &cands, now);
        self.wake = wake;
        if let Some(sw) = sw {
            self.switched(&sw);
            if let Some(t) = &mut self.tunnel {
                t.want.switched(&sw);
            }
            self.dirty = true;
        }
        self.on_demand(&cands).await;
        self.tunnel_follow().await;
        if self.dirty || self.retry_at.is_some_and(|r| r <= now) {
            self.dirty = false;
            self.retry_at = None;
            self.sync_routes().await;
        }
        self.publish();
        if let Some(t) = &mut self.tunnel {
            t.settle();
        }
    }

    fn switched(&mut self, sw: &Switch) {
        match sw {
            Switch::Initial { to } => {
                tracing::info!("uplinks: traffic through {to}");
            }
            Switch::Failover { from, to, reason } => {
                self.failovers += 1;
                self.last_failover = Some(Utc::now());
                self.events.emit(
                    Severity::Warning,
                    format!("uplinks/{to}"),
                    format!("failover from {from} to {to}: {reason}"),
                    &Failover { from, to, reason },
                );
            }
            Switch::Failback { from, to } => {
                self.last_failback = Some(Utc::now());
                self.events.emit(
                    Severity::Notice,
                    format!("uplinks/{to}"),
                    format!("failback from {from} to {to}"),
                    &Failback { from, to },
                );
            }
            Switch::Pinned { from, to } => {
                let from = from.as_deref().unwrap_or("");
                self.failovers += 1;
                self.last_failover = Some(Utc::now());
                self.events.emit(
                    Severity::Notice,
                    format!("uplinks/{to}"),
                    format!("traffic pinned to {to} by the operator"),
                    &Failover {
                        from,
                        to,
                        reason: "pinned by the operator",
                    },
                );
            }
        }
    }

    /// Brings on-demand uplinks up when needed and down when not.
    async fn on_demand(&mut self, cands: &[Candidate]) {
        let wanted = self.selector.on_demand_wanted(cands);
        let now = Instant::now();
        let mut changed = Vec::new();
        for u in self.uplinks.values_mut() {
            let Some(od) = &u.cfg.on_demand else { continue };
            let want = wanted.contains(&u.cfg.name);
            if want == u.raised {
                continue;
            }
            let r = match (want, &od.up_command, &od.down_command) {
                (true, Some(c), _) | (false, _, Some(c)) => {
                    // A dialer may take its time: off the loop; the link
                    // readings see the interface come and go.
                    let (c, t, ifname, name) = (
                        c.clone(),
                        od.command_timeout,
                        u.cfg.interface.clone(),
                        u.cfg.name.clone(),
                    );
                    tokio::spawn(async move {
                        if let Err(e) = tunnel::run(&c, t, &ifname).await {
                            tracing::warn!("on-demand uplink {name}: {e}");
                        }
                    });
                    Ok(())
                }
                _ => match u.index {
                    Some(i) => self.nl.set_link(i, want).await,
                    None if want => Err(format!("interface {} does not exist", u.cfg.interface)),
                    None => Ok(()),
                },
            };
            if let Err(e) = r {
                tracing::warn!("on-demand uplink {}: {e}", u.cfg.name);
            }
            u.raised = want;
            let fault =
                (!want).then(|| (Health::Dormant, "on-demand uplink, not needed".to_string()));
            // Brought up: the next link reading lifts the fault once the
            // interface has carrier. One disabled (by the down action) stays
            // so.
            if !want
                && u.p.link.health() != Health::Disabled
                && let Some(t) = u.p.set_fault(fault, now)
            {
                changed.push((u.cfg.name.clone(), t));
            }
        }
        if !changed.is_empty()
            || self
                .uplinks
                .values()
                .any(|u| u.raised && u.p.link.health() == Health::Dormant)
        {
            self.read_links().await;
        }
        for (n, t) in changed {
            self.transition(&n, t);
        }
    }

    /// Whether the traffic is off the preferred uplink (the tunnel's cue).
    fn failed_over(&self) -> bool {
        let first = self
            .uplinks
            .values()
            .filter(|u| u.cfg.enabled)
            .min_by_key(|u| {
                (
                    u.cfg.on_demand.is_some(),
                    u.cfg.priority,
                    u.cfg.name.clone(),
                )
            });
        match (first, self.selector.active()) {
            (Some(f), Some(a)) => f.cfg.name != a,
            _ => false,
        }
    }

    async fn tunnel_follow(&mut self) {
        let (want, held) = match &self.tunnel {
            None => return,
            Some(t) => (t.want.wanted(self.failed_over()), t.want.held()),
        };
        let up = self.tunnel.as_ref().is_some_and(|t| t.running.is_some());
        if want && !up {
            let t = self.tunnel.as_mut().expect("checked");
            if Instant::now() < t.next_try {
                return;
            }
            if t.pending {
                return;
            }
            t.pending = true;
            let (nl, ifname, kind, tag, jobs) = (
                self.nl.clone(),
                t.cfg.interface.clone(),
                t.cfg.kind.clone(),
                t.p.prober.tag(),
                self.jobs.clone(),
            );
            let before = t.going_down.take();
            tokio::spawn(async move {
                if let Some(h) = before {
                    let _ = h.await;
                }
                let result = tunnel::up(&nl, &ifname, &kind).await;
                let _ = jobs.send(Job::TunnelUp(Box::new(BroughtUp {
                    tag,
                    ifname,
                    kind,
                    result,
                })));
            });
        } else if !want && up {
            let why = match held {
                Some(false) => "taken down by the stop action",
                _ => "failback: the preferred uplink carries the traffic",
            };
            self.tunnel_down(why).await;
            self.dirty = true;
        }
    }

    fn job(&mut self, job: Job) {
        let (tag, ifname, kind, result) = match job {
            Job::TunnelUp(b) => {
                let BroughtUp {
                    tag,
                    ifname,
                    kind,
                    result,
                } = *b;
                (tag, ifname, kind, result)
            }
            Job::TunnelDown { tag } => {
                // Stop actions are answered at the end of the step.
                if let Some(t) = self.tunnel.as_mut().filter(|t| t.p.prober.tag() == tag) {
                    t.downs = t.downs.saturating_sub(1);
                }
                return;
            }
        };
        let Some(t) = self.tunnel.as_mut().filter(|t| t.p.prober.tag() == tag) else {
            // The tunnel was reconfigured meanwhile: this one goes.
            if let Ok((running, _)) = result {
                let nl = self.nl.clone();
                tokio::spawn(async move { tunnel::down(&nl, &ifname, &kind, running).await });
            }
            return;
        };
        t.pending = false;
        match result {
            Ok((running, idx)) => {
                t.running = Some(running);
                t.index = Some(idx);
                t.error = None;
                // Without targets the tunnel is up while its interface is;
                // with them, its probes decide.
                let fault =
                    t.p.targets
                        .is_empty()
                        .then(|| (Health::Up, "up (no probe target)".to_string()));
                t.p.set_fault(fault, Instant::now());
                t.p.last_change = Some(Utc::now());
                let ifname = t.cfg.interface.clone();
                self.events.emit(
                    Severity::Notice,
                    format!("uplinks/tunnel/{ifname}"),
                    format!("tunnel {ifname} is up"),
                    &TunnelUp { interface: &ifname },
                );
                self.dirty = true;
            }
            Err(e) => {
                tracing::warn!("tunnel {}: {e}", t.cfg.interface);
                t.answer(true, Err(ActError::Failed(e.clone())));
                t.next_try = Instant::now() + Duration::from_secs(5);
                if t.error.as_deref() != Some(e.as_str()) {
                    let ifname = t.cfg.interface.clone();
                    t.error = Some(e.clone());
                    t.p.set_fault(Some((Health::Down, e.clone())), Instant::now());
                    self.events.emit(
                        Severity::Error,
                        format!("uplinks/tunnel/{ifname}"),
                        format!("tunnel {ifname} could not be brought up: {e}"),
                        &TunnelDown {
                            interface: &ifname,
                            reason: &e,
                        },
                    );
                }
            }
        }
    }

    async fn tunnel_down(&mut self, reason: &str) {
        let Some(t) = &mut self.tunnel else { return };
        let Some(running) = t.running.take() else {
            return;
        };
        let (nl, ifname, kind) = (self.nl.clone(), t.cfg.interface.clone(), t.cfg.kind.clone());
        let (jobs, tag) = (self.jobs.clone(), t.p.prober.tag());
        t.downs += 1;
        t.going_down = Some(tokio::spawn(async move {
            tunnel::down(&nl, &ifname, &kind, running).await;
            let _ = jobs.send(Job::TunnelDown { tag });
        }));
        t.index = None;
        t.p.set_fault(Some((Health::Dormant, reason.to_string())), Instant::now());
        t.p.last_change = Some(Utc::now());
        let ifname = t.cfg.interface.clone();
        self.events.emit(
            Severity::Notice,
            format!("uplinks/tunnel/{ifname}"),
            format!("tunnel {ifname} is down: {reason}"),
            &TunnelDown {
                interface: &ifname,
                reason,
            },
        );
    }

    /// Makes the kernel's tables follow: each uplink's own table, and the
    /// active table (default routes through the active uplink, management
    /// routes through the tunnel while it is up).
    async fn sync_routes(&mut self) {
        let Some(cfg) = &self.cfg else { return };
        let mut errors: Vec<(String, String)> = Vec::new();
        for u in self.uplinks.values() {
            let Some(idx) = u.index else { continue };
            let mut want: Vec<Route> = Vec::new();
            if u.gw4.is_some() || u.point_to_point {
                want.push(Route::default(false, u.gw4, idx));
            }
            if u.gw6.is_some() {
                want.push(Route::default(true, u.gw6, idx));
            }
            for r in &want {
                if let Err(e) = self.nl.replace(u.table, r).await {
                    errors.push((u.cfg.name.clone(), e));
                }
            }
            let _ = self
                .nl
                .prune(u.table, |d, l| {
                    want.iter().any(|r| r.dst == d && r.len == l)
                })
                .await;
        }
        let active = self.selector.active().and_then(|a| self.uplinks.get(a));
        let mut want: Vec<Route> = Vec::new();
        if let Some(u) = active
            && let Some(idx) = u.index
        {
            if u.gw4.is_some() || u.point_to_point {
                want.push(Route::default(false, u.gw4, idx));
            }
            if u.gw6.is_some() {
                want.push(Route::default(true, u.gw6, idx));
            }
            let tun = self
                .tunnel
                .as_ref()
                .filter(|t| t.running.is_some())
                .and_then(|t| t.index.map(|i| (i, tunnel::endpoint(&t.cfg.kind))));
            for m in &cfg.management_route {
                let Some((dst, len)) = prefix(m) else {
                    continue;
                };
                let gw = if dst.is_ipv4() { u.gw4 } else { u.gw6 };
                want.push(match tun {
                    Some((ti, _)) => Route {
                        dst,
                        len,
                        gateway: None,
                        oif: ti,
                    },
                    None => Route {
                        dst,
                        len,
                        gateway: gw,
                        oif: idx,
                    },
                });
            }
            // The tunnel's own packets stay on the active uplink.
            if let Some((_, Some(ep))) = tun {
                let gw = if ep.is_ipv4() { u.gw4 } else { u.gw6 };
                want.push(Route {
                    dst: ep,
                    len: if ep.is_ipv4() { 32 } else { 128 },
                    gateway: gw,
                    oif: idx,
                });
            }
        }
        let name = active.map(|u| u.cfg.name.clone()).unwrap_or_default();
        for r in &want {
            if let Err(e) = self.nl.replace(cfg.routing.table, r).await {
                errors.push((name.clone(), format!("{}/{}: {e}", r.dst, r.len)));
            }
        }
        if active.is_some()
            && let Err(e) = self
                .nl
                .prune(cfg.routing.table, |d, l| {
                    want.iter().any(|r| r.dst == d && r.len == l)
                })
                .await
        {
            errors.push((name.clone(), e));
        }
        match errors.into_iter().next() {
            Some((u, e)) => self.routing_failed(&u, &e),
            None => self.routing_error = None,
        }
    }

    fn publish(&self) {
        let active = self.selector.active().map(str::to_string);
        let uplinks = self
            .uplinks
            .values()
            .map(|u| {
                let is = active.as_deref() == Some(u.cfg.name.as_str());
                LinkView {
                    admin_down: Some(u.admin_down.is_some()),
                    ..u.p.view(Some(is), u.gw4, u.gw6)
                }
            })
            .collect();
        let tunnel = self.tunnel.as_ref().map(|t| {
            let mut v = t.p.view(Some(t.running.is_some()), None, None);
            v.name = String::new();
            v
        });
        *self.snapshot.write() = Snapshot {
            uplinks,
            tunnel,
            active,
            routing_error: self.routing_error.clone(),
            last_failover: self.last_failover,
            last_failback: self.last_failback,
            failovers: self.failovers,
        };
    }
}
