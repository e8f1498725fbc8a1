//! The rules service: one task owns the engine and the alarm list, fed by
//! the bus, by its checks, by the outcomes of the actions it starts and by
//! the clock. Its state (alarms, each rule's phase, pending actions, counts)
//! is written atomically after every change, and an action starts only once
//! the state saying it started is on disk: a restart neither loses an alarm
//! nor runs an action twice.
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{Notify as Wake, mpsc, watch};

use super::actions::{self, Ctx};
use super::alarms::{self, AlarmList, Filter, Key, OperatorState};
use super::builtin;
use super::checks;
use super::config::{AlarmControl, AutoResponse, Config, Retry, Rule};
use super::engine::{Engine, Job, Outcome, Output, Phase, Saved};
use crate::events::{Event, EventBus, EventKind};
use crate::service::action::{ActionRequest, handler, output};
use crate::service::config::quote;
use crate::service::{
    Change, Platform, Prepared, Refusal, Service, StatePage, StateProvider, StateQuery,
};

const TOP: &str = "/lifeline-auto-response:auto-response";
const RULE: &str = "/lifeline-auto-response:auto-response/rule";
const ALARM_LIST: &str = "/ietf-alarms:alarms/alarm-list";
const ALARM: &str = "/ietf-alarms:alarms/alarm-list/alarm";
const SHELVED: &str = "/ietf-alarms:alarms/shelved-alarms";
const SHELVED_ALARM: &str = "/ietf-alarms:alarms/shelved-alarms/shelved-alarm";
const SUMMARY: &str = "/ietf-alarms:alarms/summary";
const INVENTORY: &str = "/ietf-alarms:alarms/alarm-inventory/alarm-type";
const FILE: &str = "auto-response.json";
/// How often raised built-in alarms are held against the live state.
const RECONCILE: Duration = Duration::from_secs(10);

/// The engine and the alarm list, shared by the task, the state providers
/// and the alarm actions.
struct Core {
    engine: Engine,
    alarms: AlarmList,
    /// Events looked at, and missed by falling behind the bus.
    seen: u64,
    missed: u64,
}

#[derive(Serialize, Deserialize, Default)]
struct Persisted {
    alarms: AlarmList,
    rules: BTreeMap<String, Saved>,
}

/// What a commit hands the task.
struct Applied {
    auto: Option<AutoResponse>,
    control: AlarmControl,
    interfaces: HashMap<String, String>,
}

enum Msg {
    Config(Box<Applied>),
    Check {
        rule: String,
        epoch: u64,
        failing: bool,
        detail: String,
    },
    Done(Box<Job>, Outcome),
}

pub struct RulesService {
    tx: mpsc::UnboundedSender<Msg>,
}

/// Writes the state file after changes, coalesced; `durable` says how far
/// it got, so an action can wait for the record that it started.
#[derive(Clone)]
struct Writer {
    wanted: Arc<watch::Sender<u64>>,
    durable: watch::Receiver<u64>,
}

impl Writer {
    fn start(core: Arc<Mutex<Core>>, path: PathBuf) -> Writer {
        let (wanted, mut want_rx) = watch::channel(0u64);
        let (done_tx, durable) = watch::channel(0u64);
        tokio::spawn(async move {
            loop {
                if want_rx.changed().await.is_err() {
                    return;
                }
                let generation = *want_rx.borrow_and_update();
                let text = {
                    let c = core.lock();
                    serde_json::to_vec(&Persisted {
                        alarms: c.alarms.clone(),
                        rules: c.engine.saved(),
                    })
                };
                let text = match text {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::error!("auto-response state: {e}");
                        let _ = done_tx.send(generation);
                        continue;
                    }
                };
                let p = path.clone();
                let r = tokio::task::spawn_blocking(move || {
                    crate::datastore::persist::write_atomic(&p, &text)
                })
                .await;
                match r {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::error!("writing {}: {e}", path.display()),
                    Err(e) => tracing::error!("writing {}: {e}", path.display()),
                }
                // Even a failed write lets actions go: refusing to act because
                // the disk is full would be worse than a repeat after a crash.
                let _ = done_tx.send(generation);
            }
        });
        Writer {
            wanted: Arc::new(wanted),
            durable,
        }
    }

    /// Asks for a write; returns the generation to wait for.
    fn mark(&self) -> u64 {
        let mut g = 0;
        self.wanted.send_modify(|v| {
            *v += 1;
            g = *v;
        });
        g
    }

    async fn wait(&self, generation: u64) {
        let mut rx = self.durable.clone();
        let _ = rx.wait_for(|d| *d >= generation).await;
    }
}

impl RulesService {
    pub fn new(platform: &Platform, state_dir: &std::path::Path) -> RulesService {
        let path = state_dir.join(FILE);
        let persisted: Persisted = std::fs::read(&path)
            .ok()
            .and_then(|b| {
                serde_json::from_slice(&b)
                    .map_err(|e| tracing::error!("{}: {e}; starting afresh", path.display()))
                    .ok()
            })
            .unwrap_or_default();
        let started = Utc::now();
        let core = Arc::new(Mutex::new(Core {
            engine: Engine::new(started),
            alarms: persisted.alarms,
            seen: 0,
            missed: 0,
        }));
        let writer = Writer::start(core.clone(), path);
        let (tx, rx) = mpsc::unbounded_channel();
        let reg = &platform.registry;
        reg.provide(Arc::new(State(core.clone())));
        register_actions(platform, &core, &writer);
        let task = Task {
            core,
            writer,
            tx: tx.clone(),
            ctx: Ctx {
                ds: platform.ds.clone(),
                events: platform.events.clone(),
                mailer: None,
                modem: None,
            },
            events: platform.events.clone(),
            env: checks::Env {
                registry: reg.clone(),
                interfaces: Arc::default(),
            },
            started,
            saved: Some(persisted.rules),
            checks: Vec::new(),
            pokes: HashMap::new(),
            wakes: Vec::new(),
            deadline: None,
            reconciled: std::time::Instant::now(),
            boot_poked: false,
            boot_until: started,
            sms: None,
        };
        let rx_events = platform.events.subscribe();
        let shutdown = platform.shutdown.clone();
        platform.rt.spawn(task.run(rx, rx_events, shutdown));
        RulesService { tx }
    }
}

struct Task {
    core: Arc<Mutex<Core>>,
    writer: Writer,
    tx: mpsc::UnboundedSender<Msg>,
    ctx: Ctx,
    events: EventBus,
    env: checks::Env,
    started: DateTime<Utc>,
    saved: Option<BTreeMap<String, Saved>>,
    checks: Vec<tokio::task::JoinHandle<()>>,
    /// Polled checks to run again at once when an event of a kind arrives.
    pokes: HashMap<EventKind, Vec<Arc<Wake>>>,
    /// Every polled check's wake-up.
    wakes: Vec<Arc<Wake>>,
    /// When the engine next has something to do, while nothing changed.
    deadline: Option<DateTime<Utc>>,
    /// When the built-in alarms were last held against the live state.
    reconciled: std::time::Instant,
    boot_poked: bool,
    boot_until: DateTime<Utc>,
    sms: Option<super::config::Sms>,
}

impl Task {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Msg>,
        mut bus: tokio::sync::broadcast::Receiver<Arc<Event>>,
        shutdown: crate::shutdown::Shutdown,
    ) {
        // The shutdown waits for the last write of the state.
        let _running = shutdown.running();
        loop {
            // Recomputed only when the engine changed or the clock ran: an
            // event no rule wants costs no walk over the rules.
            let deadline = match self.deadline {
                Some(d) => d,
                None => *self
                    .deadline
                    .insert(self.core.lock().engine.next_deadline(Utc::now())),
            };
            let sleep = (deadline - Utc::now()).to_std().unwrap_or_default();
            let mut out = Vec::new();
            tokio::select! {
                biased;
                _ = shutdown.started() => {
                    self.writer.wait(self.writer.mark()).await;
                    return;
                }
                // Time first: a steady stream of events must not starve the
                // delayed actions, hold-offs and timeouts.
                _ = tokio::time::sleep(sleep) => {
                    self.deadline = None;
                    let now = Utc::now();
                    self.core.lock().engine.tick(now, &mut out);
                    if self.reconciled.elapsed() >= RECONCILE {
                        self.reconciled = std::time::Instant::now();
                        self.reconcile();
                    }
                    if !self.boot_poked && now >= self.boot_until {
                        // Checks whose failures the boot delay ignored run now.
                        self.boot_poked = true;
                        for w in &self.wakes {
                            w.notify_one();
                        }
                    }
                }
                m = rx.recv() => match m {
                    Some(m) => self.message(m, &mut out),
                    None => return,
                },
                e = bus.recv() => match e {
                    Ok(e) => self.event(&e, &mut out),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        self.core.lock().missed += n;
                        tracing::warn!("auto-response fell behind the bus: {n} events missed");
                    }
                    Err(_) => return,
                },
            }
            self.outputs(out);
        }
    }

    fn message(&mut self, m: Msg, out: &mut Vec<Output>) {
        let now = Utc::now();
        match m {
            Msg::Config(a) => self.configure(*a, out),
            Msg::Check {
                rule,
                epoch,
                failing,
                detail,
            } => {
                if self.checks_epoch(&rule) == Some(epoch) {
                    out.extend(
                        self.core
                            .lock()
                            .engine
                            .check_result(&rule, failing, detail, now),
                    );
                }
            }
            Msg::Done(job, outcome) => {
                if let Outcome::Failed(e) | Outcome::Denied(e) = &outcome {
                    tracing::warn!("rule {} action {}: {e}", job.rule, job.action.name);
                }
                out.extend(self.core.lock().engine.action_done(&job, outcome, now));
            }
        }
    }

    fn checks_epoch(&self, rule: &str) -> Option<u64> {
        self.core.lock().engine.epoch(rule)
    }

    fn configure(&mut self, a: Applied, out: &mut Vec<Output>) {
        let now = Utc::now();
        let (rules, boot_delay, retry) = match &a.auto {
            Some(ar) => (
                ar.rule
                    .iter()
                    .map(|r| {
                        // The description does not change what a rule does.
                        let what = Rule {
                            description: None,
                            ..r.clone()
                        };
                        (r.clone(), super::fingerprint(&format!("{what:?}")))
                    })
                    .collect(),
                ar.boot_delay,
                ar.action_retry,
            ),
            None => (Vec::new(), 60, Retry::default()),
        };
        self.ctx.mailer = a
            .auto
            .as_ref()
            .and_then(|ar| ar.email.as_ref())
            .and_then(|e| match super::email::Mailer::new(e) {
                Ok(m) => Some(Arc::new(m)),
                Err(err) => {
                    tracing::error!("e-mail: {err}");
                    None
                }
            });
        // The modem is kept while its settings are: it serialises the sends
        // on its line and remembers a PIN the SIM refused.
        let sms = a.auto.as_ref().and_then(|ar| ar.sms.clone());
        if sms != self.sms {
            self.ctx.modem = sms.as_ref().map(|s| {
                super::sms::Modem::new(
                    PathBuf::from(&s.device),
                    s.speed,
                    s.pin.clone(),
                    Duration::from_secs(s.timeout.into()),
                )
            });
            self.sms = sms;
        }
        self.boot_until = self.started + chrono::Duration::seconds(boot_delay.into());
        self.env.interfaces = Arc::new(a.interfaces);
        let changed = {
            let mut c = self.core.lock();
            let before = action_names(&c);
            c.alarms.set_control(a.control, now);
            c.engine.utc_offset_minutes = chrono::Local::now().offset().local_minus_utc() / 60;
            let saved = self.saved.take();
            out.extend(
                c.engine
                    .configure(rules, boot_delay, retry, self.started, saved, now),
            );
            action_names(&c) != before
        };
        if changed {
            self.events.publish(
                EventKind::Other,
                "ietf-alarms:alarm-inventory-changed",
                crate::events::Severity::Info,
                "alarms".into(),
                "the alarm inventory changed (the rules' actions)".into(),
                Default::default(),
            );
        }
        self.start_checks();
    }

    /// One task per polled check of an enabled rule.
    fn start_checks(&mut self) {
        for h in self.checks.drain(..) {
            h.abort();
        }
        self.pokes.clear();
        self.wakes.clear();
        let c = self.core.lock();
        let names: Vec<String> = c.engine.names().cloned().collect();
        for name in names {
            let (Some(rule), Some(epoch)) = (c.engine.rule(&name).cloned(), c.engine.epoch(&name))
            else {
                continue;
            };
            let Some(check) = rule.trigger.check.clone().filter(|c| c.polled()) else {
                continue;
            };
            if !rule.enabled {
                continue;
            }
            let wake = Arc::new(Wake::new());
            for k in poke_kinds(&check) {
                self.pokes.entry(*k).or_default().push(wake.clone());
            }
            self.wakes.push(wake.clone());
            let (tx, env) = (self.tx.clone(), self.env.clone());
            let mut failing = c.engine.phase(&name) == Some(Phase::Triggered);
            self.checks.push(tokio::spawn(async move {
                let interval = Duration::from_secs(check.interval.into());
                loop {
                    let (f, detail) = checks::run(&check, &env, failing).await;
                    failing = f;
                    let m = Msg::Check {
                        rule: name.clone(),
                        epoch,
                        failing: f,
                        detail,
                    };
                    if tx.send(m).is_err() {
                        return;
                    }
                    let _ = tokio::time::timeout(interval, wake.notified()).await;
                }
            }));
        }
    }

    /// Clears the built-in alarms whose fault the live state shows gone (a
    /// device back while lifelined was down, an event missed).
    fn reconcile(&mut self) {
        let builtin: Vec<Key> = {
            let c = self.core.lock();
            c.alarms
                .raised()
                .into_iter()
                .filter(|k| {
                    builtin::TYPES.iter().any(|t| {
                        k.type_id == format!("{}:{}", alarms::MODULE, t.id)
                            && !t.resource.starts_with("/lifeline-auto-response:")
                    })
                })
                .collect()
        };
        let healed: Vec<Key> = builtin
            .into_iter()
            .filter(|k| builtin::healed(k, &self.env.registry))
            .collect();
        if healed.is_empty() {
            return;
        }
        let now = Utc::now();
        let notes: Vec<alarms::Notify> = {
            let mut c = self.core.lock();
            healed
                .iter()
                .filter_map(|k| {
                    c.alarms
                        .clear(k, "cleared: the live state shows the fault gone", now)
                })
                .collect()
        };
        self.writer.mark();
        for n in notes {
            emit_alarm(&self.events, &n);
        }
    }

    fn event(&mut self, e: &Arc<Event>, out: &mut Vec<Output>) {
        let now = Utc::now();
        let mut notes = Vec::new();
        {
            let mut c = self.core.lock();
            c.seen += 1;
            for ch in builtin::changes(e) {
                let n = match ch {
                    builtin::Change::Raise(k, sev) => c.alarms.raise(&k, sev, &e.message, now),
                    builtin::Change::Clear(k) => c.alarms.clear(&k, &e.message, now),
                };
                if let Some(n) = n {
                    notes.push(n);
                }
            }
            if c.engine.interested(e.kind) {
                out.extend(c.engine.event(e, now));
            }
        }
        if !notes.is_empty() {
            self.writer.mark();
        }
        for n in notes {
            emit_alarm(&self.events, &n);
        }
        if let Some(ws) = self.pokes.get(&e.kind) {
            for w in ws {
                w.notify_one();
            }
        }
    }

    fn outputs(&mut self, out: Vec<Output>) {
        let now = Utc::now();
        let mut jobs = Vec::new();
        let mut notes = Vec::new();
        let dirty = {
            let mut c = self.core.lock();
            for o in out {
                match o {
                    Output::Run(j) => jobs.push(j),
                    Output::Raise {
                        key,
                        severity,
                        text,
                    } => notes.extend(c.alarms.raise(&key, severity, &text, now)),
                    Output::Clear { key, text } => notes.extend(c.alarms.clear(&key, &text, now)),
                    Output::Triggered { rule, ctx } => {
                        self.events.emit(
                            ctx.severity,
                            format!("rules/{rule}"),
                            format!("rule {rule} triggered by {}", ctx.kind),
                            &RuleTriggered {
                                rule: &rule,
                                trigger: &ctx.kind,
                                details: &ctx.details,
                            },
                        );
                    }
                    Output::Resolved { rule, details } => {
                        self.events.emit(
                            crate::events::Severity::Notice,
                            format!("rules/{rule}"),
                            format!("rule {rule} resolved"),
                            &RuleResolved {
                                rule: &rule,
                                details: &details,
                            },
                        );
                    }
                }
            }
            c.engine.take_dirty()
        };
        if dirty {
            self.deadline = None;
        }
        let generation =
            (dirty || !notes.is_empty() || !jobs.is_empty()).then(|| self.writer.mark());
        for n in notes {
            emit_alarm(&self.events, &n);
        }
        for job in jobs {
            let (ctx, tx, writer) = (self.ctx.clone(), self.tx.clone(), self.writer.clone());
            // An action that changes something waits until the record that
            // it ran is on disk, so a crash cannot make it run twice; a
            // notification goes at once (sent twice after a crash is harmless,
            // late is not).
            let notifies = job.action.snmp.is_some() || job.action.syslog.is_some();
            let generation = if notifies { 0 } else { generation.unwrap_or(0) };
            tokio::spawn(async move {
                writer.wait(generation).await;
                let outcome = actions::run(&job, &ctx).await;
                let _ = tx.send(Msg::Done(Box::new(job), outcome));
            });
        }
    }
}

/// The events that make a polled check run again at once.
fn poke_kinds(c: &super::config::Check) -> &'static [EventKind] {
    use EventKind::*;
    if c.ups.is_some() || c.outlet.is_some() {
        &[
            UpsOnBattery,
            UpsOnLine,
            UpsLowBattery,
            OutletStateChange,
            PowerDeviceReachable,
            PowerDeviceUnreachable,
        ]
    } else if c.uplink.is_some() || c.tunnel.is_some() {
        &[
            UplinkDown,
            UplinkUp,
            UplinkDegraded,
            UplinkFailover,
            UplinkFailback,
            TunnelUp,
            TunnelDown,
        ]
    } else if c.signal.is_some() {
        &[PortDeviceGone, PortDeviceBack]
    } else {
        &[]
    }
}

#[derive(Serialize)]
struct RuleTriggered<'a> {
    rule: &'a str,
    trigger: &'a str,
    details: &'a str,
}
crate::payload!(
    RuleTriggered,
    RuleTriggered,
    "lifeline-auto-response:rule-triggered"
);

#[derive(Serialize)]
struct RuleResolved<'a> {
    rule: &'a str,
    details: &'a str,
}
crate::payload!(
    RuleResolved,
    RuleResolved,
    "lifeline-auto-response:rule-resolved"
);

fn emit_alarm(events: &EventBus, n: &alarms::Notify) {
    let (kind, sev) = match n.severity {
        Some(s) => (EventKind::AlarmRaised, s.event_severity()),
        None => (EventKind::AlarmCleared, crate::events::Severity::Notice),
    };
    events.publish(
        kind,
        "ietf-alarms:alarm-notification",
        sev,
        "alarms".into(),
        n.text.clone(),
        n.fields(),
    );
}

struct Apply {
    tx: mpsc::UnboundedSender<Msg>,
    applied: Applied,
}

impl Prepared for Apply {
    fn apply(self: Box<Self>) {
        let _ = self.tx.send(Msg::Config(Box::new(self.applied)));
    }
}

fn rule_path(name: &str) -> String {
    format!("{RULE}[name={}]", quote(name))
}

/// What the model's types cannot say.
fn check(ar: &AutoResponse) -> Result<(), Refusal> {
    for r in &ar.rule {
        check_rule(ar, r)?;
    }
    Ok(())
}

fn check_rule(ar: &AutoResponse, r: &Rule) -> Result<(), Refusal> {
    let at = |tail: &str| format!("{}/{tail}", rule_path(&r.name));
    if let Some(k) = &r.trigger.event
        && EventKind::parse(k).is_none()
    {
        return Err(
            Refusal::invalid(format!("{k} is not an event kind lifeline raises"))
                .at(at("trigger/event")),
        );
    }
    if r.trigger.event.is_none() && r.trigger.check.is_none() {
        return Err(Refusal::invalid("the rule has no trigger").at(at("trigger")));
    }
    let lists = [("action", &r.action), ("resolve-action", &r.resolve_action)];
    for (list, actions) in lists {
        for a in actions {
            let ap = |leaf: &str| at(&format!("{list}[name={}]/{leaf}", quote(&a.name)));
            if a.email.is_some() && ar.email.is_none() {
                return Err(Refusal::invalid(
                    "an e-mail action needs auto-response/email (the SMTP server)",
                )
                .at(ap("email")));
            }
            if a.sms.is_some() && ar.sms.is_none() {
                return Err(
                    Refusal::invalid("an SMS action needs auto-response/sms (the modem)")
                        .at(ap("sms")),
                );
            }
            if a.repeat_count > 1 && a.repeat_interval == 0 {
                return Err(Refusal::invalid(
                    "repeat-count needs a repeat-interval to space the runs",
                )
                .at(ap("repeat-interval")));
            }
        }
    }
    Ok(())
}

impl Service for RulesService {
    type Config = Config;

    fn name(&self) -> &'static str {
        "auto-response"
    }

    fn owns(&self) -> Vec<&'static str> {
        vec![
            "/lifeline-auto-response:auto-response",
            "/ietf-alarms:alarms",
        ]
    }

    fn watches(&self) -> Vec<&'static str> {
        vec!["/lifeline-uplinks:uplinks"]
    }

    fn prepare(&mut self, config: Config, _: &[Change]) -> Result<Box<dyn Prepared>, Refusal> {
        if let Some(ar) = &config.auto_response {
            check(ar)?;
            if let Some(e) = &ar.email {
                super::email::Mailer::new(e).map_err(|err| {
                    Refusal::invalid(err.to_string())
                        .at("/lifeline-auto-response:auto-response/email")
                })?;
            }
        }
        let control = config
            .alarms
            .as_ref()
            .map(|a| a.control())
            .unwrap_or_default();
        let interfaces = config
            .uplinks
            .iter()
            .flat_map(|u| &u.uplink)
            .map(|u| (u.name.clone(), u.interface.clone()))
            .collect();
        Ok(Box::new(Apply {
            tx: self.tx.clone(),
            applied: Applied {
                auto: config.auto_response,
                control,
                interfaces,
            },
        }))
    }
}

// ----- state -----

struct State(Arc<Mutex<Core>>);

fn stamp(t: &DateTime<Utc>) -> Value {
    json!(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn rule_json(c: &Core, name: &str, now: DateTime<Utc>) -> Option<Value> {
    let v = c.engine.view(name, now)?;
    let rule = c.engine.rule(name)?;
    let state = match v.phase {
        None => "disabled",
        Some(Phase::Idle) => "idle",
        Some(Phase::HoldingOff) => "holding-off",
        Some(Phase::Triggered) => "triggered",
        Some(Phase::Resolved) => "resolved",
        Some(Phase::RateLimited) => "rate-limited",
    };
    let mut e = json!({
        "name": name,
        "state": state,
        "trigger-count": v.trigger_count.to_string(),
        "suppressed-count": v.suppressed.to_string(),
    });
    if let Some(t) = &v.last_triggered {
        e["last-triggered"] = stamp(t);
    }
    if let Some(t) = &v.last_resolved {
        e["last-resolved"] = stamp(t);
    }
    if let Some(c) = &v.last_check {
        e["last-check"] = json!(c);
    }
    let actions =
        |list: &[super::config::Action],
         stats: &[(super::engine::ActionStats, Option<DateTime<Utc>>)]| {
            list.iter()
                .zip(stats)
                .map(|(a, (st, next))| {
                    let mut x = json!({
                        "name": a.name,
                        "runs": st.runs.to_string(),
                        "failures": st.failures.to_string(),
                    });
                    if let Some(t) = &st.last_run {
                        x["last-run"] = stamp(t);
                    }
                    match &st.last_result {
                        Some(Outcome::Ok) => x["last-result"] = json!("ok"),
                        Some(Outcome::Failed(m)) => {
                            x["last-result"] = json!("failed");
                            x["last-error"] = json!(m);
                        }
                        Some(Outcome::Denied(m)) => {
                            x["last-result"] = json!("denied");
                            x["last-error"] = json!(m);
                        }
                        None => {}
                    }
                    if let Some(t) = next {
                        x["next-run"] = stamp(t);
                    }
                    x
                })
                .collect::<Vec<Value>>()
        };
    let a = actions(&rule.action, &v.actions);
    if !a.is_empty() {
        e["action"] = json!(a);
    }
    let r = actions(&rule.resolve_action, &v.resolve_actions);
    if !r.is_empty() {
        e["resolve-action"] = json!(r);
    }
    Some(e)
}

impl StateProvider for State {
    fn roots(&self) -> Vec<&'static str> {
        vec![
            TOP,
            RULE,
            ALARM_LIST,
            ALARM,
            SHELVED,
            SHELVED_ALARM,
            SUMMARY,
            INVENTORY,
        ]
    }

    fn read(&self, q: &StateQuery) -> StatePage {
        let c = self.0.lock();
        let now = Utc::now();
        let one = |v: Value| StatePage {
            entries: vec![v],
            next: None,
        };
        match q.root.as_str() {
            RULE => {
                let rows = c
                    .engine
                    .names()
                    .filter(|n| q.wants(n))
                    .filter_map(|n| Some((vec![n.clone()], rule_json(&c, n, now)?)))
                    .collect::<Vec<_>>();
                StatePage::from_sorted(q, rows)
            }
            TOP => one(json!({
                "events-seen": c.seen.to_string(),
                "events-missed": c.missed.to_string(),
            })),
            ALARM_LIST => one(c.alarms.alarm_list_json()),
            SHELVED => one(c.alarms.shelved_json()),
            SUMMARY => one(c.alarms.summary_json()),
            ALARM => StatePage::from_sorted(q, sorted(c.alarms.rows(false))),
            SHELVED_ALARM => StatePage::from_sorted(q, sorted(c.alarms.rows(true))),
            INVENTORY => StatePage::from_sorted(q, sorted(inventory(&c))),
            _ => StatePage::default(),
        }
    }
}

/// The action names the rules use: the qualifiers of the action alarms.
fn action_names(c: &Core) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for n in c.engine.names() {
        if let Some(r) = c.engine.rule(n) {
            names.extend(
                r.action
                    .iter()
                    .chain(&r.resolve_action)
                    .map(|a| a.name.clone()),
            );
        }
    }
    names
}

/// Rows in the order reads page by (`key_cmp`).
fn sorted(mut rows: Vec<(Vec<String>, Value)>) -> Vec<(Vec<String>, Value)> {
    rows.sort_by(|a, b| crate::service::state::key_cmp(&a.0, &b.0));
    rows
}

/// The alarm inventory: every type with an empty qualifier, and the action
/// alarms once per action name the rules use.
fn inventory(c: &Core) -> Vec<(Vec<String>, Value)> {
    let names = action_names(c);
    let mut rows = Vec::new();
    for t in builtin::TYPES {
        let id = format!("{}:{}", alarms::MODULE, t.id);
        let action = matches!(t.id, "action-failed" | "action-denied");
        let quals: Vec<String> = if action {
            names.iter().cloned().collect()
        } else {
            vec![String::new()]
        };
        for q in quals {
            rows.push((
                vec![id.clone(), q.clone()],
                json!({
                    "alarm-type-id": id,
                    "alarm-type-qualifier": q,
                    "resource": [t.resource],
                    "will-clear": t.will_clear,
                    "severity-level": t.severity.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                    "description": t.description,
                }),
            ));
        }
    }
    rows
}

// ----- the ietf-alarms actions -----

fn alarm_key(req: &ActionRequest, list: &str) -> Result<Key, Refusal> {
    let k = |n: &str| {
        req.key(list, n)
            .map(str::to_string)
            .ok_or_else(|| Refusal::invalid(format!("the action needs the alarm's {n}")))
    };
    Ok(Key {
        resource: k("resource")?,
        type_id: k("alarm-type-id")?,
        qualifier: k("alarm-type-qualifier").unwrap_or_default(),
    })
}

fn register_actions(platform: &Platform, core: &Arc<Mutex<Core>>, writer: &Writer) {
    let reg = &platform.registry;
    let (c, w, ev) = (core.clone(), writer.clone(), platform.events.clone());
    reg.handle(
        &format!("{ALARM}/set-operator-state"),
        handler(move |req| {
            let (c, w, events) = (c.clone(), w.clone(), ev.clone());
            async move {
                #[derive(Deserialize)]
                struct In {
                    state: String,
                    text: Option<String>,
                }
                let key = alarm_key(&req, "alarm")?;
                let input: In = req.input()?;
                let state = OperatorState::parse(&input.state).ok_or_else(|| {
                    Refusal::invalid(format!("{} is not an operator state", input.state))
                })?;
                let change = c
                    .lock()
                    .alarms
                    .set_operator_state(&key, state, input.text, &req.user, Utc::now())
                    .ok_or_else(|| Refusal::missing("no such alarm in the alarm list"))?;
                w.wait(w.mark()).await;
                // The alarm's operator-action notification, nested in its
                // entry (a YANG 1.1 notification in a list).
                let mut op = json!({
                    "time": alarms::stamp(&change.time),
                    "operator": change.operator,
                    "state": change.state.as_str(),
                });
                if let Some(t) = &change.text {
                    op["text"] = json!(t);
                }
                let Value::Object(fields) = json!({"alarm-list": {"alarm": [{
                    "resource": key.resource,
                    "alarm-type-id": key.type_id,
                    "alarm-type-qualifier": key.qualifier,
                    "operator-action": op,
                }]}}) else {
                    unreachable!()
                };
                events.publish(
                    EventKind::Other,
                    "ietf-alarms:alarms",
                    crate::events::Severity::Info,
                    "alarms".into(),
                    format!(
                        "{} set {} of {} to {}",
                        req.user, key.type_id, key.resource, input.state
                    ),
                    fields,
                );
                Ok(json!({}))
            }
        }),
    );
    for shelved in [false, true] {
        let (c, w) = (core.clone(), writer.clone());
        let path = if shelved {
            format!("{SHELVED}/purge-shelved-alarms")
        } else {
            format!("{ALARM_LIST}/purge-alarms")
        };
        reg.handle(
            &path,
            handler(move |req| {
                let (c, w) = (c.clone(), w.clone());
                async move {
                    let f: Filter = req.input()?;
                    let n = c.lock().alarms.purge(&f, shelved, Utc::now());
                    w.wait(w.mark()).await;
                    output(json!({ "purged-alarms": n }))
                }
            }),
        );
        let (c, w) = (core.clone(), writer.clone());
        let path = if shelved {
            format!("{SHELVED}/compress-shelved-alarms")
        } else {
            format!("{ALARM_LIST}/compress-alarms")
        };
        reg.handle(
            &path,
            handler(move |req| {
                let (c, w) = (c.clone(), w.clone());
                async move {
                    let s = |k: &str| req.input.get(k).and_then(Value::as_str).map(str::to_string);
                    let n = c.lock().alarms.compress(
                        s("resource").as_deref(),
                        s("alarm-type-id").as_deref(),
                        s("alarm-type-qualifier").as_deref(),
                        shelved,
                    );
                    w.wait(w.mark()).await;
                    output(json!({ "compressed-alarms": n }))
                }
            }),
        );
    }
}
