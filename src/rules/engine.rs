//! The rule engine, sans-IO: fed events, check results, action outcomes and
//! the clock, it keeps each rule's condition and phase and answers with what
//! to do ([`Output`]): actions to run, alarms to raise or clear, events to
//! emit. The service around it does the I/O; the state it keeps is what a
//! restart restores ([`Saved`]), so no action already run is run again.
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Duration, Timelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::alarms::{AlarmSeverity, Key};
use super::config::{Action, Level, Retry, Rule};
use crate::events::{Event, EventKind, Severity};

/// What set a rule off: the event (or the check) with its fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerCtx {
    /// The event kind or the check's kind.
    pub kind: String,
    pub source: String,
    pub message: String,
    pub severity: Severity,
    pub fields: Map<String, Value>,
    pub details: String,
}

impl TriggerCtx {
    pub fn of_event(e: &Event) -> TriggerCtx {
        TriggerCtx {
            kind: e.kind.as_str().to_string(),
            source: e.source.clone(),
            message: e.message.clone(),
            severity: e.severity,
            fields: e.fields.clone(),
            details: e.details(),
        }
    }

    /// What a check found, for `rule`.
    pub fn check(rule: &str, kind: &str, detail: String) -> TriggerCtx {
        TriggerCtx {
            kind: kind.to_string(),
            source: format!("rules/{rule}"),
            message: detail.clone(),
            severity: Severity::Warning,
            fields: Map::new(),
            details: detail,
        }
    }

    fn field(&self, name: &str) -> Option<String> {
        self.fields
            .get(name)
            .and_then(crate::service::config::scalar_text)
    }
}

/// An action to run now.
#[derive(Debug, Clone)]
pub struct Job {
    pub rule: String,
    pub run_as: String,
    pub action: Arc<Action>,
    pub resolve: bool,
    pub index: usize,
    pub ctx: Arc<TriggerCtx>,
    /// The rule's configuration epoch: outcomes of an older one are dropped.
    pub epoch: u64,
    pub attempt: u8,
}

#[derive(Debug, Clone)]
pub enum Output {
    Run(Job),
    Raise {
        key: Key,
        severity: AlarmSeverity,
        text: String,
    },
    Clear {
        key: Key,
        text: String,
    },
    Triggered {
        rule: String,
        ctx: Arc<TriggerCtx>,
    },
    Resolved {
        rule: String,
        details: String,
    },
}

/// How an action went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Ok,
    Failed(String),
    Denied(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Idle,
    HoldingOff,
    Triggered,
    Resolved,
    RateLimited,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActionStats {
    pub runs: u64,
    pub failures: u64,
    pub last_run: Option<DateTime<Utc>>,
    pub last_result: Option<Outcome>,
    /// The alarm type raised for it (`action-failed`, `action-denied`).
    pub alarm: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub resolve: bool,
    pub index: usize,
    pub due: DateTime<Utc>,
    /// Runs so far of a repeating action.
    pub runs: u32,
    pub attempt: u8,
    /// A retry runs once, whatever the action's repeats.
    pub retry: bool,
}

/// A rule's state, as persisted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    pub fingerprint: u64,
    pub phase: Phase,
    pub cond: bool,
    pub since: Option<DateTime<Utc>>,
    pub last_match: Option<DateTime<Utc>>,
    pub ctx: Option<TriggerCtx>,
    pub pending: Vec<Pending>,
    pub actions: Vec<ActionStats>,
    pub resolve_actions: Vec<ActionStats>,
    pub trigger_count: u64,
    pub suppressed: u64,
    pub last_triggered: Option<DateTime<Utc>>,
    pub last_resolved: Option<DateTime<Utc>>,
    pub triggers: VecDeque<DateTime<Utc>>,
    pub logins: VecDeque<DateTime<Utc>>,
    pub last_check: Option<String>,
}

impl Saved {
    fn fresh(fingerprint: u64, rule: &Rule) -> Saved {
        Saved {
            fingerprint,
            phase: Phase::Idle,
            cond: false,
            since: None,
            last_match: None,
            ctx: None,
            pending: Vec::new(),
            actions: vec![ActionStats::default(); rule.action.len()],
            resolve_actions: vec![ActionStats::default(); rule.resolve_action.len()],
            trigger_count: 0,
            suppressed: 0,
            last_triggered: None,
            last_resolved: None,
            triggers: VecDeque::new(),
            logins: VecDeque::new(),
            last_check: None,
        }
    }
}

/// An event kind and the one that ends its condition for the same object.
struct Opposite {
    kind: EventKind,
    opposite: EventKind,
    keys: &'static [&'static str],
    /// For kinds that are their own opposite: the field whose other value
    /// ends the condition.
    flip: Option<&'static str>,
}

const OPPOSITES: &[Opposite] = {
    use EventKind::*;
    const fn o(
        kind: EventKind,
        opposite: EventKind,
        keys: &'static [&'static str],
        flip: Option<&'static str>,
    ) -> Opposite {
        Opposite {
            kind,
            opposite,
            keys,
            flip,
        }
    }
    &[
        o(PortDeviceGone, PortDeviceBack, &["port"], None),
        o(
            PowerDeviceUnreachable,
            PowerDeviceReachable,
            &["device"],
            None,
        ),
        o(UpsOnBattery, UpsOnLine, &["device"], None),
        o(UpsLowBattery, UpsOnLine, &["device"], None),
        o(UplinkDown, UplinkUp, &["uplink"], None),
        o(UplinkFailover, UplinkFailback, &[], None),
        o(TunnelDown, TunnelUp, &[], None),
        o(TunnelUp, TunnelDown, &[], None),
        o(
            PortSignalChange,
            PortSignalChange,
            &["port", "signal"],
            Some("state"),
        ),
        o(
            OutletStateChange,
            OutletStateChange,
            &["device", "outlet"],
            Some("state"),
        ),
        o(
            UplinkDegraded,
            UplinkDegraded,
            &["uplink"],
            Some("degraded"),
        ),
    ]
};

/// How a rule's condition is decided.
enum Matcher {
    Event {
        kind: EventKind,
        opposite: Option<&'static Opposite>,
    },
    ConsolePattern {
        port: String,
        pattern: String,
    },
    Signal {
        port: String,
        signal: String,
        fails: Level,
    },
    LoginFailures,
    /// The service runs the check and reports results.
    Polled,
}

struct RuleRt {
    cfg: Arc<Rule>,
    actions: Vec<Arc<Action>>,
    resolve_actions: Vec<Arc<Action>>,
    matcher: Matcher,
    epoch: u64,
    s: Saved,
}

impl RuleRt {
    fn pulse(&self) -> bool {
        let no_opposite = match &self.matcher {
            Matcher::Event { opposite, .. } => opposite.is_none(),
            Matcher::ConsolePattern { .. } => true,
            _ => false,
        };
        no_opposite && self.cfg.reset_timeout == 0
    }

    fn stats(&mut self, resolve: bool, index: usize) -> Option<&mut ActionStats> {
        if resolve {
            self.s.resolve_actions.get_mut(index)
        } else {
            self.s.actions.get_mut(index)
        }
    }
}

/// The rule-condition alarm of a rule.
pub fn rule_resource(rule: &str) -> String {
    format!(
        "/lifeline-auto-response:auto-response/rule[name={}]",
        crate::service::config::quote(rule)
    )
}

/// Per field: its value to the rules that want it.
type FieldIndex = Vec<(String, HashMap<String, Vec<String>>)>;

pub struct Engine {
    rules: BTreeMap<String, RuleRt>,
    /// Rules that look at every event of a kind.
    by_kind: HashMap<EventKind, Arc<Vec<String>>>,
    /// Rules that want one value of one field of a kind (a literal filter):
    /// an event finds them by its value, without trying every rule.
    by_value: HashMap<EventKind, FieldIndex>,
    boot_until: DateTime<Utc>,
    retry: Retry,
    /// The local time's offset from UTC, for disable windows.
    pub utc_offset_minutes: i32,
    next_epoch: u64,
    dirty: bool,
}

impl Engine {
    pub fn new(started: DateTime<Utc>) -> Engine {
        Engine {
            rules: BTreeMap::new(),
            by_kind: HashMap::new(),
            by_value: HashMap::new(),
            boot_until: started,
            retry: Retry::default(),
            utc_offset_minutes: 0,
            next_epoch: 1,
            dirty: false,
        }
    }

    /// Whether persistable state changed since the last call.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Takes a new configuration. A rule whose configuration did not change
    /// keeps its state; one restored from `saved` (at boot) does too when
    /// its fingerprint matches. Alarms of rules that went or changed clear.
    pub fn configure(
        &mut self,
        rules: Vec<(Rule, u64)>,
        boot_delay: u32,
        retry: Retry,
        started: DateTime<Utc>,
        saved: Option<BTreeMap<String, Saved>>,
        now: DateTime<Utc>,
    ) -> Vec<Output> {
        let mut out = Vec::new();
        self.retry = retry;
        self.boot_until = started + Duration::seconds(boot_delay.into());
        let mut old = std::mem::take(&mut self.rules);
        let mut saved = saved.unwrap_or_default();
        for (rule, fp) in rules {
            let name = rule.name.clone();
            let kept = match old.remove(&name) {
                Some(rt) if rt.s.fingerprint == fp => Some((rt.s, rt.epoch)),
                Some(rt) => {
                    clear_rule_alarms(&name, &rt, "the rule was changed", &mut out);
                    None
                }
                None => saved
                    .remove(&name)
                    .filter(|s| s.fingerprint == fp)
                    .map(|s| {
                        let e = self.next_epoch;
                        self.next_epoch += 1;
                        (s, e)
                    }),
            };
            let (s, epoch) = kept.unwrap_or_else(|| {
                let e = self.next_epoch;
                self.next_epoch += 1;
                (Saved::fresh(fp, &rule), e)
            });
            let rt = RuleRt {
                matcher: matcher(&rule),
                actions: rule.action.iter().cloned().map(Arc::new).collect(),
                resolve_actions: rule.resolve_action.iter().cloned().map(Arc::new).collect(),
                cfg: Arc::new(rule),
                epoch,
                s,
            };
            self.rules.insert(name, rt);
        }
        for (name, rt) in old {
            clear_rule_alarms(&name, &rt, "the rule was removed", &mut out);
        }
        self.index();
        // A disabled rule drops what it was doing.
        let disabled: Vec<String> = self
            .rules
            .iter()
            .filter(|(_, r)| !r.cfg.enabled && r.s.phase != Phase::Idle)
            .map(|(n, _)| n.clone())
            .collect();
        for name in disabled {
            if let Some(rt) = self.rules.get_mut(&name) {
                clear_rule_alarms(&name, rt, "the rule was disabled", &mut out);
                rt.s.phase = Phase::Idle;
                rt.s.cond = false;
                rt.s.pending.clear();
            }
        }
        self.dirty = true;
        self.tick(now, &mut out);
        out
    }

    /// Builds the indexes an event finds its rules by.
    fn index(&mut self) {
        let mut scan: HashMap<EventKind, Vec<String>> = HashMap::new();
        let mut by_value: HashMap<EventKind, FieldIndex> = HashMap::new();
        let mut keyed = |kind: EventKind, field: &str, value: &str, name: &str| {
            let fields = by_value.entry(kind).or_default();
            let i = match fields.iter().position(|(f, _)| f == field) {
                Some(i) => i,
                None => {
                    fields.push((field.to_string(), HashMap::new()));
                    fields.len() - 1
                }
            };
            fields[i]
                .1
                .entry(value.to_string())
                .or_default()
                .push(name.to_string());
        };
        for (name, rt) in &self.rules {
            if !rt.cfg.enabled {
                continue;
            }
            match &rt.matcher {
                Matcher::Event { kind, opposite } => {
                    // A kind that is its own opposite must be found by the
                    // fields its resolving event shares.
                    let usable = |f: &super::config::Filter| match opposite {
                        Some(o) if o.opposite == *kind => o.keys.contains(&f.name.as_str()),
                        _ => true,
                    };
                    let literal = rt
                        .cfg
                        .trigger
                        .filter
                        .iter()
                        .filter(|f| usable(f))
                        .find_map(|f| Some((f.name.as_str(), f.value.literal()?)));
                    match literal {
                        Some((field, value)) => keyed(*kind, field, &value, name),
                        None => scan.entry(*kind).or_default().push(name.clone()),
                    }
                    if let Some(o) = opposite.filter(|o| o.opposite != *kind) {
                        scan.entry(o.opposite).or_default().push(name.clone());
                    }
                }
                Matcher::ConsolePattern { port, .. } => {
                    keyed(EventKind::PortAlertMatch, "port", port, name)
                }
                Matcher::Signal { port, .. } => {
                    keyed(EventKind::PortSignalChange, "port", port, name)
                }
                Matcher::LoginFailures => scan
                    .entry(EventKind::LoginFailure)
                    .or_default()
                    .push(name.clone()),
                Matcher::Polled => {}
            }
        }
        self.by_kind = scan.into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
        self.by_value = by_value;
    }

    /// Every rule's state, to persist.
    pub fn saved(&self) -> BTreeMap<String, Saved> {
        self.rules
            .iter()
            .map(|(n, r)| (n.clone(), r.s.clone()))
            .collect()
    }

    /// The rules whose condition an event of this kind may change.
    pub fn interested(&self, kind: EventKind) -> bool {
        self.by_kind.contains_key(&kind) || self.by_value.contains_key(&kind)
    }

    pub fn event(&mut self, e: &Event, now: DateTime<Utc>) -> Vec<Output> {
        let mut out = Vec::new();
        let scan = self.by_kind.get(&e.kind).cloned().unwrap_or_default();
        let mut names: Vec<String> = Vec::new();
        for (field, values) in self.by_value.get(&e.kind).into_iter().flatten() {
            if let Some(hit) = e.text(field).and_then(|v| values.get(&v)) {
                names.extend(hit.iter().cloned());
            }
        }
        let booting = now < self.boot_until;
        for name in scan.iter().chain(&names) {
            let name = name.clone();
            // A rule's own events and alarms never set it off again.
            if e.source.strip_prefix("rules/") == Some(name.as_str())
                || e.text("resource")
                    .is_some_and(|r| r == rule_resource(&name))
            {
                continue;
            }
            let Some(rt) = self.rules.get(&name) else {
                continue;
            };
            let decision = match &rt.matcher {
                Matcher::Event { kind, opposite } => {
                    let ends = opposite.is_some_and(|o| {
                        rt.s.cond && e.kind == o.opposite && ends_condition(o, rt.s.ctx.as_ref(), e)
                    });
                    if ends {
                        Some(false)
                    } else if e.kind == *kind && event_matches(&rt.cfg, e) {
                        Some(true)
                    } else {
                        None
                    }
                }
                Matcher::ConsolePattern { port, pattern } => (e.text("port").as_deref()
                    == Some(port)
                    && e.text("pattern").as_deref() == Some(pattern))
                .then_some(true),
                Matcher::Signal {
                    port,
                    signal,
                    fails,
                } => {
                    if e.text("port").as_deref() == Some(port)
                        && e.text("signal").as_deref() == Some(signal)
                    {
                        let on = e.text("state").as_deref() == Some("on");
                        Some(on == (*fails == Level::On))
                    } else {
                        None
                    }
                }
                Matcher::LoginFailures => self.login_failure(&name, e, now),
                Matcher::Polled => None,
            };
            match decision {
                Some(true) if booting => {}
                Some(c) => {
                    let ctx = c.then(|| TriggerCtx::of_event(e));
                    self.set_cond(&name, c, ctx, now, &mut out);
                }
                None => {}
            }
        }
        out
    }

    /// Counts a failed login for a login-failures rule; `Some(true)` once
    /// enough fall in its window.
    fn login_failure(&mut self, name: &str, e: &Event, now: DateTime<Utc>) -> Option<bool> {
        let rt = self.rules.get_mut(name)?;
        let lf = rt.cfg.trigger.check.as_ref()?.login_failures.as_ref()?;
        let user = e.text("username").unwrap_or_default();
        if !lf.username.as_ref().is_none_or(|p| p.is_match(&user)) {
            return None;
        }
        let (window, count) = (lf.window, lf.count);
        rt.s.logins.push_back(now);
        prune_before(&mut rt.s.logins, now - Duration::seconds(window.into()));
        // Only the newest `count` decide; a brute force must not grow it.
        while rt.s.logins.len() > count as usize {
            rt.s.logins.pop_front();
        }
        self.dirty = true;
        (rt.s.logins.len() as u32 >= count).then_some(true)
    }

    /// The result of a check the service ran for `rule`.
    pub fn check_result(
        &mut self,
        rule: &str,
        failing: bool,
        detail: String,
        now: DateTime<Utc>,
    ) -> Vec<Output> {
        let mut out = Vec::new();
        let Some(rt) = self.rules.get_mut(rule) else {
            return out;
        };
        if !rt.cfg.enabled {
            return out;
        }
        if rt.s.last_check.as_deref() != Some(detail.as_str()) {
            rt.s.last_check = Some(detail.clone());
            self.dirty = true;
        }
        if failing && now < self.boot_until {
            return out;
        }
        let kind = rt
            .cfg
            .trigger
            .check
            .as_ref()
            .map_or("check", |c| c.kind())
            .to_string();
        let ctx = failing.then(|| TriggerCtx::check(rule, &kind, detail));
        self.set_cond(rule, failing, ctx, now, &mut out);
        out
    }

    /// An action finished.
    pub fn action_done(&mut self, job: &Job, outcome: Outcome, now: DateTime<Utc>) -> Vec<Output> {
        let mut out = Vec::new();
        let retry = self.retry;
        let Some(rt) = self.rules.get_mut(&job.rule) else {
            return out;
        };
        if rt.epoch != job.epoch {
            return out;
        }
        // A pulse resolves at once: its actions are retried all the same. A
        // resolve action is not retried once the rule triggered again.
        let triggered = rt.s.phase == Phase::Triggered || rt.pulse();
        let relevant = if job.resolve {
            rt.s.phase != Phase::Triggered
        } else {
            triggered
        };
        let resource = rule_resource(&job.rule);
        let Some(st) = rt.stats(job.resolve, job.index) else {
            return out;
        };
        let name = job.action.name.clone();
        match &outcome {
            Outcome::Ok => {
                if let Some(ty) = st.alarm.take() {
                    out.push(Output::Clear {
                        key: Key::ours(&resource, &ty, &name),
                        text: format!("action {name} succeeded"),
                    });
                }
            }
            // A late failure of an action whose rule has resolved since
            // is counted, not alarmed: the resolve cleared its alarms.
            Outcome::Failed(_) | Outcome::Denied(_) if !relevant => {
                st.failures += 1;
            }
            Outcome::Failed(msg) | Outcome::Denied(msg) => {
                st.failures += 1;
                let ty = if matches!(outcome, Outcome::Denied(_)) {
                    "action-denied"
                } else {
                    "action-failed"
                };
                if let Some(prev) = st.alarm.replace(ty.to_string()).filter(|p| p != ty) {
                    out.push(Output::Clear {
                        key: Key::ours(&resource, &prev, &name),
                        text: String::new(),
                    });
                }
                out.push(Output::Raise {
                    key: Key::ours(&resource, ty, &name),
                    severity: AlarmSeverity::Major,
                    text: format!("action {name} of rule {}: {msg}", job.rule),
                });
                let again = matches!(outcome, Outcome::Failed(_))
                    && job.attempt < retry.attempts
                    && relevant;
                if again {
                    rt.s.pending.push(Pending {
                        resolve: job.resolve,
                        index: job.index,
                        due: now + Duration::seconds(retry.interval.into()),
                        runs: 0,
                        attempt: job.attempt + 1,
                        retry: true,
                    });
                }
            }
        }
        if let Some(st) = rt.stats(job.resolve, job.index) {
            st.last_result = Some(outcome);
        }
        self.dirty = true;
        out
    }

    /// Moves time on: hold-offs that ran out, reset timeouts, due actions,
    /// login windows, the end of a disable window or of the boot delay.
    pub fn tick(&mut self, now: DateTime<Utc>, out: &mut Vec<Output>) {
        let names: Vec<String> = self.rules.keys().cloned().collect();
        for name in names {
            let Some(rt) = self.rules.get_mut(&name) else {
                continue;
            };
            if !rt.cfg.enabled {
                continue;
            }
            let lf = rt
                .cfg
                .trigger
                .check
                .as_ref()
                .and_then(|c| c.login_failures.as_ref())
                .map(|l| (l.window, l.count));
            if let Some((window, count)) = lf.filter(|_| !rt.s.logins.is_empty()) {
                prune_before(&mut rt.s.logins, now - Duration::seconds(window.into()));
                if rt.s.cond && (rt.s.logins.len() as u32) < count {
                    self.set_cond(&name, false, None, now, out);
                }
            }
            let Some(rt) = self.rules.get(&name) else {
                continue;
            };
            let reset = rt.cfg.reset_timeout;
            if rt.s.cond
                && reset > 0
                && rt
                    .s
                    .last_match
                    .is_some_and(|m| m + Duration::seconds(reset.into()) <= now)
            {
                self.set_cond(&name, false, None, now, out);
            }
            self.evaluate(&name, now, out);
            self.run_due(&name, now, out);
        }
    }

    /// When `tick` has something to do next, at the latest one second away
    /// (disable windows and the boot delay end on their own).
    pub fn next_deadline(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let mut next = now + Duration::seconds(1);
        for rt in self.rules.values() {
            let mut consider = |t: DateTime<Utc>| {
                if t < next {
                    next = t.max(now);
                }
            };
            for p in &rt.s.pending {
                consider(p.due);
            }
            if rt.s.phase == Phase::HoldingOff
                && let Some(s) = rt.s.since
            {
                consider(s + Duration::seconds(rt.cfg.trigger.holdoff.into()));
            }
            if rt.s.cond
                && rt.cfg.reset_timeout > 0
                && let Some(m) = rt.s.last_match
            {
                consider(m + Duration::seconds(rt.cfg.reset_timeout.into()));
            }
        }
        next
    }

    fn in_window(&self, rt: &RuleRt, now: DateTime<Utc>) -> bool {
        if rt.cfg.disable_window.is_empty() {
            return false;
        }
        let local = now + Duration::minutes(self.utc_offset_minutes.into());
        let m = (local.hour() * 60 + local.minute()) as u16;
        rt.cfg.disable_window.iter().any(|w| w.contains(m))
    }

    fn set_cond(
        &mut self,
        name: &str,
        cond: bool,
        ctx: Option<TriggerCtx>,
        now: DateTime<Utc>,
        out: &mut Vec<Output>,
    ) {
        let Some(rt) = self.rules.get_mut(name) else {
            return;
        };
        if cond {
            rt.s.last_match = Some(now);
            // Only a reset timeout reads it: a chatty trigger that already
            // holds changes nothing worth a write.
            if rt.cfg.reset_timeout > 0 {
                self.dirty = true;
            }
        }
        if cond == rt.s.cond {
            return;
        }
        rt.s.cond = cond;
        self.dirty = true;
        if cond {
            rt.s.since = Some(now);
            rt.s.ctx = ctx;
            self.evaluate(name, now, out);
        } else {
            match rt.s.phase {
                Phase::Triggered => self.resolve(name, now, out),
                Phase::HoldingOff | Phase::RateLimited => {
                    rt.s.phase = if rt.s.last_resolved.is_some() {
                        Phase::Resolved
                    } else {
                        Phase::Idle
                    };
                }
                Phase::Idle | Phase::Resolved => {}
            }
        }
    }

    /// Triggers a rule whose condition holds, once it is allowed to.
    fn evaluate(&mut self, name: &str, now: DateTime<Utc>, out: &mut Vec<Output>) {
        let Some(rt) = self.rules.get(name) else {
            return;
        };
        // A condition that outlasts its rate limit triggers again once the
        // period has room (a device still dead an hour later is cycled again).
        let limited = rt.s.phase == Phase::RateLimited && {
            let limit = rt.cfg.rate_limit;
            let cutoff = now - Duration::seconds(limit.period.into());
            rt.s.triggers.iter().filter(|t| **t > cutoff).count() as u32 >= limit.max_triggers
        };
        if !rt.s.cond || rt.s.phase == Phase::Triggered || limited {
            return;
        }
        let pulse = rt.pulse();
        if now < self.boot_until || self.in_window(rt, now) {
            // A pulse that may not trigger now is gone, not kept for later.
            if pulse {
                self.drop_pulse(name);
            }
            return;
        }
        // A pulse has nothing to hold: it is over as it happens.
        let holdoff = Duration::seconds(rt.cfg.trigger.holdoff.into());
        if !pulse && rt.s.since.is_some_and(|s| now < s + holdoff) {
            if rt.s.phase != Phase::HoldingOff {
                let rt = self.rules.get_mut(name).expect("rule");
                rt.s.phase = Phase::HoldingOff;
                self.dirty = true;
            }
            return;
        }
        self.trigger(name, now, out);
    }

    /// Ends a pulse's condition without acting on it.
    fn drop_pulse(&mut self, name: &str) {
        if let Some(rt) = self.rules.get_mut(name) {
            rt.s.cond = false;
            if rt.s.phase != Phase::Triggered {
                rt.s.phase = if rt.s.last_resolved.is_some() {
                    Phase::Resolved
                } else {
                    Phase::Idle
                };
            }
            self.dirty = true;
        }
    }

    fn trigger(&mut self, name: &str, now: DateTime<Utc>, out: &mut Vec<Output>) {
        let Some(rt) = self.rules.get_mut(name) else {
            return;
        };
        self.dirty = true;
        let limit = rt.cfg.rate_limit;
        if limit.max_triggers > 0 {
            prune_before(
                &mut rt.s.triggers,
                now - Duration::seconds(limit.period.into()),
            );
            if rt.s.triggers.len() as u32 >= limit.max_triggers {
                rt.s.suppressed += 1;
                if rt.pulse() {
                    self.drop_pulse(name);
                } else {
                    rt.s.phase = Phase::RateLimited;
                }
                return;
            }
            rt.s.triggers.push_back(now);
        }
        rt.s.phase = Phase::Triggered;
        rt.s.trigger_count += 1;
        rt.s.last_triggered = Some(now);
        let ctx = Arc::new(
            rt.s.ctx
                .clone()
                .unwrap_or_else(|| TriggerCtx::check(name, "check", String::new())),
        );
        let what = if ctx.message.is_empty() {
            ctx.kind.clone()
        } else {
            format!("{}: {}", ctx.kind, ctx.message)
        };
        out.push(Output::Raise {
            key: Key::ours(rule_resource(name), "rule-condition", ""),
            severity: rt.cfg.alarm_severity,
            text: format!("rule {name} triggered by {what}"),
        });
        out.push(Output::Triggered {
            rule: name.to_string(),
            ctx,
        });
        // A retry of a resolve action would undo the new trigger.
        rt.s.pending.clear();
        for (i, a) in rt.cfg.action.iter().enumerate() {
            rt.s.pending.push(Pending {
                resolve: false,
                index: i,
                due: now + Duration::seconds(a.delay.into()),
                runs: 0,
                attempt: 0,
                retry: false,
            });
        }
        self.run_due(name, now, out);
        let pulse = self.rules.get(name).is_some_and(|r| r.pulse());
        if pulse {
            self.set_cond(name, false, None, now, out);
        }
    }

    fn resolve(&mut self, name: &str, now: DateTime<Utc>, out: &mut Vec<Output>) {
        let Some(rt) = self.rules.get_mut(name) else {
            return;
        };
        self.dirty = true;
        clear_rule_alarms(name, rt, "the condition cleared", out);
        for st in
            rt.s.actions
                .iter_mut()
                .chain(rt.s.resolve_actions.iter_mut())
        {
            st.alarm = None;
        }
        rt.s.phase = Phase::Resolved;
        rt.s.last_resolved = Some(now);
        rt.s.pending.retain(|p| p.resolve);
        out.push(Output::Resolved {
            rule: name.to_string(),
            details: rt.s.last_check.clone().unwrap_or_default(),
        });
        let ctx = Arc::new(
            rt.s.ctx
                .clone()
                .unwrap_or_else(|| TriggerCtx::check(name, "check", String::new())),
        );
        for (i, a) in rt.resolve_actions.iter().enumerate() {
            if let Some(st) = rt.s.resolve_actions.get_mut(i) {
                st.runs += 1;
                st.last_run = Some(now);
            }
            out.push(Output::Run(Job {
                rule: name.to_string(),
                run_as: rt.cfg.run_as.clone(),
                action: a.clone(),
                resolve: true,
                index: i,
                ctx: ctx.clone(),
                epoch: rt.epoch,
                attempt: 0,
            }));
        }
    }

    /// Runs the rule's actions that are due (not inside a disable window).
    fn run_due(&mut self, name: &str, now: DateTime<Utc>, out: &mut Vec<Output>) {
        let Some(rt) = self.rules.get(name) else {
            return;
        };
        if !rt.s.pending.iter().any(|p| p.due <= now) || self.in_window(rt, now) {
            return;
        }
        let rt = self.rules.get_mut(name).expect("rule");
        self.dirty = true;
        let ctx = Arc::new(
            rt.s.ctx
                .clone()
                .unwrap_or_else(|| TriggerCtx::check(name, "check", String::new())),
        );
        let mut keep = Vec::new();
        for mut p in std::mem::take(&mut rt.s.pending) {
            if p.due > now {
                keep.push(p);
                continue;
            }
            let list = if p.resolve {
                &rt.resolve_actions
            } else {
                &rt.actions
            };
            let Some(action) = list.get(p.index).cloned() else {
                continue;
            };
            out.push(Output::Run(Job {
                rule: name.to_string(),
                run_as: rt.cfg.run_as.clone(),
                action: action.clone(),
                resolve: p.resolve,
                index: p.index,
                ctx: ctx.clone(),
                epoch: rt.epoch,
                attempt: p.attempt,
            }));
            if let Some(st) = rt.stats(p.resolve, p.index) {
                st.runs += 1;
                st.last_run = Some(now);
            }
            if p.retry || p.resolve {
                continue;
            }
            p.runs += 1;
            let more = action.repeat_interval > 0
                && (action.repeat_count == 0 || p.runs < action.repeat_count);
            if more {
                let step = Duration::seconds(action.repeat_interval.into());
                p.due = (p.due + step).max(now);
                keep.push(p);
            }
        }
        rt.s.pending = keep;
    }

    /// The state leaves of one rule, for the state provider.
    pub fn view(&self, name: &str, now: DateTime<Utc>) -> Option<RuleView> {
        let rt = self.rules.get(name)?;
        let idle = matches!(rt.s.phase, Phase::Idle | Phase::Resolved);
        let disabled =
            !rt.cfg.enabled || idle && (now < self.boot_until || self.in_window(rt, now));
        let next = |resolve: bool, i: usize| {
            rt.s.pending
                .iter()
                .filter(|p| p.resolve == resolve && p.index == i)
                .map(|p| p.due)
                .min()
        };
        let actions = |resolve: bool, list: &[ActionStats]| {
            list.iter()
                .enumerate()
                .map(|(i, st)| (st.clone(), next(resolve, i)))
                .collect()
        };
        Some(RuleView {
            phase: if disabled { None } else { Some(rt.s.phase) },
            trigger_count: rt.s.trigger_count,
            suppressed: rt.s.suppressed,
            last_triggered: rt.s.last_triggered,
            last_resolved: rt.s.last_resolved,
            last_check: rt.s.last_check.clone(),
            actions: actions(false, &rt.s.actions),
            resolve_actions: actions(true, &rt.s.resolve_actions),
        })
    }

    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.rules.keys()
    }

    /// The configuration of a rule.
    pub fn rule(&self, name: &str) -> Option<&Arc<Rule>> {
        self.rules.get(name).map(|r| &r.cfg)
    }

    /// The rule's configuration epoch.
    pub fn epoch(&self, name: &str) -> Option<u64> {
        self.rules.get(name).map(|r| r.epoch)
    }

    /// Whether the rule's actions are fired (its state says triggered).
    pub fn phase(&self, name: &str) -> Option<Phase> {
        self.rules.get(name).map(|r| r.s.phase)
    }
}

/// A rule's state as the model shows it; `phase` `None` is `disabled`.
pub struct RuleView {
    pub phase: Option<Phase>,
    pub trigger_count: u64,
    pub suppressed: u64,
    pub last_triggered: Option<DateTime<Utc>>,
    pub last_resolved: Option<DateTime<Utc>>,
    pub last_check: Option<String>,
    pub actions: Vec<(ActionStats, Option<DateTime<Utc>>)>,
    pub resolve_actions: Vec<(ActionStats, Option<DateTime<Utc>>)>,
}

fn clear_rule_alarms(name: &str, rt: &RuleRt, why: &str, out: &mut Vec<Output>) {
    let resource = rule_resource(name);
    if rt.s.phase == Phase::Triggered {
        out.push(Output::Clear {
            key: Key::ours(&resource, "rule-condition", ""),
            text: format!("rule {name}: {why}"),
        });
    }
    let all =
        rt.s.actions
            .iter()
            .zip(&rt.cfg.action)
            .chain(rt.s.resolve_actions.iter().zip(&rt.cfg.resolve_action));
    for (st, a) in all {
        if let Some(ty) = &st.alarm {
            out.push(Output::Clear {
                key: Key::ours(&resource, ty, &a.name),
                text: format!("rule {name}: {why}"),
            });
        }
    }
}

fn matcher(rule: &Rule) -> Matcher {
    if let Some(c) = &rule.trigger.check {
        if let Some(p) = &c.console_pattern {
            return Matcher::ConsolePattern {
                port: p.port.clone(),
                pattern: p.alert_pattern.clone(),
            };
        }
        if let Some(s) = &c.signal {
            return Matcher::Signal {
                port: s.port.clone(),
                signal: s.signal.clone(),
                fails: s.fails_when,
            };
        }
        if c.login_failures.is_some() {
            return Matcher::LoginFailures;
        }
        return Matcher::Polled;
    }
    match rule.trigger.event.as_deref().and_then(EventKind::parse) {
        Some(kind) => Matcher::Event {
            kind,
            opposite: OPPOSITES.iter().find(|o| o.kind == kind),
        },
        None => Matcher::Polled,
    }
}

fn event_matches(rule: &Rule, e: &Event) -> bool {
    let t = &rule.trigger;
    t.min_severity.is_none_or(|m| e.severity <= m)
        && t.source_pattern
            .as_ref()
            .is_none_or(|p| p.0.is_match(&e.source))
        && t.filter
            .iter()
            .all(|f| e.text(&f.name).is_some_and(|v| f.value.is_match(&v)))
}

/// Whether `e` (of the opposite kind) ends the condition that `ctx` set.
fn ends_condition(o: &Opposite, ctx: Option<&TriggerCtx>, e: &Event) -> bool {
    let Some(ctx) = ctx else {
        return true;
    };
    let same = o
        .keys
        .iter()
        .all(|k| ctx.field(k) == e.text(k) || ctx.field(k).is_none());
    same && o.flip.is_none_or(|f| ctx.field(f) != e.text(f))
}

fn prune_before(q: &mut VecDeque<DateTime<Utc>>, cutoff: DateTime<Utc>) {
    while q.front().is_some_and(|t| *t <= cutoff) {
        q.pop_front();
    }
}

#[cfg(test)]
mod tests;
