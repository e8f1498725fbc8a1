//! The engine's timing, fed a scripted clock.
use super::*;
use crate::events::EventBus;

fn t(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
}

fn rule(json: Value) -> (Rule, u64) {
    let mut base = serde_json::json!({
        "name": "r", "enabled": true, "run-as": "admin", "alarm-severity": "major",
        "reset-timeout": 0, "rate-limit": {"max-triggers": 0, "period": 3600},
        "trigger": {"holdoff": 0},
    });
    merge(&mut base, json);
    let fp = crate::rules::fingerprint(&base.to_string());
    (serde_json::from_value(base).unwrap(), fp)
}

fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (_, Value::Null) => {}
        (a, b) => *a = b,
    }
}

fn action(name: &str, delay: u32, extra: Value) -> Value {
    let mut a = serde_json::json!({
        "name": name, "delay": delay, "repeat-interval": 0, "repeat-count": 0,
        "syslog": {"severity": "warning", "port": 514, "facility": 16},
    });
    merge(&mut a, extra);
    a
}

fn event(kind: EventKind, fields: Value) -> Arc<Event> {
    let bus = EventBus::new(16);
    let Value::Object(m) = fields else { panic!() };
    bus.publish(
        kind,
        "x:y",
        Severity::Warning,
        "test".into(),
        "msg".into(),
        m,
    )
}

fn engine(rules: Vec<(Rule, u64)>) -> Engine {
    let mut e = Engine::new(t(0));
    e.configure(
        rules,
        0,
        Retry {
            interval: 10,
            attempts: 2,
        },
        t(0),
        None,
        t(0),
    );
    e
}

fn runs(out: &[Output]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            Output::Run(j) => Some(format!(
                "{}{}",
                if j.resolve { "~" } else { "" },
                j.action.name
            )),
            _ => None,
        })
        .collect()
}

fn ticks(e: &mut Engine, from: i64, to: i64) -> Vec<String> {
    let mut all = Vec::new();
    for s in from..=to {
        let mut out = Vec::new();
        e.tick(t(s), &mut out);
        all.extend(runs(&out).into_iter().map(|r| format!("{s}:{r}")));
    }
    all
}

fn signal_rule() -> (Rule, u64) {
    rule(serde_json::json!({
        "trigger": {"check": {"interval": 60, "timeout": 5,
            "signal": {"port": "p3", "signal": "dcd", "fails-when": "off"}}},
        "action": [action("trap", 0, Value::Null), action("sms", 30, Value::Null)],
        "resolve-action": [action("clear", 0, Value::Null)],
    }))
}

fn dcd(state: &str) -> Arc<Event> {
    event(
        EventKind::PortSignalChange,
        serde_json::json!({"port": "p3", "signal": "dcd", "state": state}),
    )
}

#[test]
fn escalation_runs_the_delayed_action_only_if_the_condition_lasts() {
    let mut e = engine(vec![signal_rule()]);
    let out = e.event(&dcd("off"), t(1));
    assert_eq!(runs(&out), ["trap"]);
    assert!(out.iter().any(
        |o| matches!(o, Output::Raise { key, .. } if key.type_id.ends_with("rule-condition"))
    ));
    assert_eq!(ticks(&mut e, 2, 40), ["31:sms"]);
    let out = e.event(&dcd("on"), t(41));
    assert_eq!(runs(&out), ["~clear"]);
    assert!(out.iter().any(|o| matches!(o, Output::Clear { .. })));
    // A short drop: the SMS never goes.
    let out = e.event(&dcd("off"), t(50));
    assert_eq!(runs(&out), ["trap"]);
    e.event(&dcd("on"), t(60));
    assert!(ticks(&mut e, 61, 120).is_empty());
    assert_eq!(e.view("r", t(120)).unwrap().trigger_count, 2);
}

#[test]
fn holdoff_needs_the_condition_to_last() {
    let (mut r, fp) = signal_rule();
    r.trigger.holdoff = 5;
    let mut e = engine(vec![(r, fp)]);
    assert!(runs(&e.event(&dcd("off"), t(1))).is_empty());
    assert_eq!(e.phase("r"), Some(Phase::HoldingOff));
    e.event(&dcd("on"), t(3));
    assert!(ticks(&mut e, 3, 10).is_empty());
    e.event(&dcd("off"), t(20));
    assert_eq!(ticks(&mut e, 21, 26), ["25:trap"]);
}

#[test]
fn rate_limit_stops_a_flapping_condition() {
    let (mut r, fp) = signal_rule();
    r.rate_limit.max_triggers = 2;
    let mut e = engine(vec![(r, fp)]);
    let mut traps = 0;
    for i in 0..10 {
        traps += runs(&e.event(&dcd("off"), t(i * 10))).len();
        e.event(&dcd("on"), t(i * 10 + 5));
    }
    assert_eq!(traps, 2);
    let v = e.view("r", t(100)).unwrap();
    assert_eq!((v.trigger_count, v.suppressed), (2, 8));
    // An hour later it may trigger again.
    assert_eq!(runs(&e.event(&dcd("off"), t(3700))), ["trap"]);
}

#[test]
fn a_condition_that_outlasts_the_rate_limit_triggers_again_when_the_period_allows() {
    let (mut r, fp) = signal_rule();
    r.rate_limit = crate::rules::config::RateLimit {
        max_triggers: 1,
        period: 100,
    };
    let mut e = engine(vec![(r, fp)]);
    assert_eq!(runs(&e.event(&dcd("off"), t(0))), ["trap"]);
    e.event(&dcd("on"), t(5));
    assert!(runs(&e.event(&dcd("off"), t(10))).is_empty());
    assert_eq!(e.phase("r"), Some(Phase::RateLimited));
    // Still off when the first trigger leaves the period: it triggers again.
    let at: Vec<String> = ticks(&mut e, 11, 105)
        .into_iter()
        .filter(|r| r.ends_with(":trap"))
        .collect();
    assert_eq!(at, ["100:trap"]);
}

#[test]
fn repeats_and_retries() {
    let (r, fp) = rule(serde_json::json!({
        "trigger": {"event": "lifeline-types:uplink-down"},
        "action": [action("nag", 0, serde_json::json!({"repeat-interval": 10, "repeat-count": 3}))],
    }));
    let mut e = engine(vec![(r, fp)]);
    let out = e.event(
        &event(EventKind::UplinkDown, serde_json::json!({"uplink": "wan"})),
        t(0),
    );
    assert_eq!(runs(&out), ["nag"]);
    assert_eq!(ticks(&mut e, 1, 60), ["10:nag", "20:nag"]);
    // A failure raises action-failed and retries (twice), success clears it.
    let Output::Run(job) = out
        .into_iter()
        .find(|o| matches!(o, Output::Run(_)))
        .unwrap()
    else {
        unreachable!()
    };
    let out = e.action_done(&job, Outcome::Failed("smtp down".into()), t(61));
    assert!(
        matches!(&out[0], Output::Raise { key, .. } if key.type_id.ends_with("action-failed") && key.qualifier == "nag")
    );
    assert_eq!(ticks(&mut e, 62, 75), ["71:nag"]);
    let retry = Job {
        attempt: 1,
        ..job.clone()
    };
    e.action_done(&retry, Outcome::Failed("smtp down".into()), t(72));
    let last = Job {
        attempt: 2,
        ..job.clone()
    };
    assert_eq!(ticks(&mut e, 73, 85), ["82:nag"]);
    assert!(
        e.action_done(&last, Outcome::Failed("smtp down".into()), t(83))
            .iter()
            .all(|o| !matches!(o, Output::Run(_)))
    );
    assert!(ticks(&mut e, 84, 200).is_empty(), "no retry past attempts");
    let out = e.action_done(&job, Outcome::Ok, t(201));
    assert!(matches!(&out[0], Output::Clear { .. }));
    // Denied: an alarm, no retry.
    let out = e.action_done(&job, Outcome::Denied("nacm".into()), t(202));
    assert!(matches!(&out[0], Output::Raise { key, .. } if key.type_id.ends_with("action-denied")));
    assert!(ticks(&mut e, 203, 300).is_empty());
}

#[test]
fn opposite_event_of_the_same_object_resolves() {
    let (r, fp) = rule(serde_json::json!({
        "trigger": {"event": "lifeline-types:uplink-down"},
        "action": [action("a", 0, Value::Null)],
        "resolve-action": [action("b", 0, Value::Null)],
    }));
    let mut e = engine(vec![(r, fp)]);
    e.event(
        &event(EventKind::UplinkDown, serde_json::json!({"uplink": "wan"})),
        t(1),
    );
    let other = e.event(
        &event(EventKind::UplinkUp, serde_json::json!({"uplink": "lte"})),
        t(2),
    );
    assert!(runs(&other).is_empty());
    let back = e.event(
        &event(EventKind::UplinkUp, serde_json::json!({"uplink": "wan"})),
        t(3),
    );
    assert_eq!(runs(&back), ["~b"]);
}

#[test]
fn pulses_and_reset_timeout() {
    let (r, fp) = rule(serde_json::json!({
        "trigger": {"check": {"interval": 60, "timeout": 5,
            "console-pattern": {"port": "router", "alert-pattern": "crash"}}},
        "action": [action("cycle", 0, Value::Null), action("later", 5, Value::Null)],
    }));
    let mut e = engine(vec![(r, fp)]);
    let m = event(
        EventKind::PortAlertMatch,
        serde_json::json!({"port": "router", "pattern": "crash"}),
    );
    assert_eq!(runs(&e.event(&m, t(1))), ["cycle"]);
    assert_eq!(e.phase("r"), Some(Phase::Resolved));
    assert!(
        ticks(&mut e, 2, 20).is_empty(),
        "a pulse has no delayed actions"
    );
    let (mut r, fp) = rule(serde_json::json!({
        "trigger": {"check": {"interval": 60, "timeout": 5,
            "console-pattern": {"port": "router", "alert-pattern": "crash"}}},
        "action": [action("cycle", 0, Value::Null), action("later", 5, Value::Null)],
    }));
    r.reset_timeout = 10;
    let mut e = engine(vec![(r, fp + 1)]);
    e.event(&m, t(1));
    e.event(&m, t(8));
    assert_eq!(ticks(&mut e, 2, 30), ["6:later"]);
    assert_eq!(e.phase("r"), Some(Phase::Resolved));
    assert_eq!(e.view("r", t(30)).unwrap().last_resolved, Some(t(18)));
}

#[test]
fn login_failures_in_a_window() {
    let (r, fp) = rule(serde_json::json!({
        "trigger": {"check": {"interval": 60, "timeout": 5,
            "login-failures": {"count": 3, "window": 10, "username-pattern": "ad.*"}}},
        "action": [action("a", 0, Value::Null)],
    }));
    let mut e = engine(vec![(r, fp)]);
    let f = |u: &str| event(EventKind::LoginFailure, serde_json::json!({"username": u}));
    e.event(&f("admin"), t(1));
    e.event(&f("bob"), t(2));
    e.event(&f("admin"), t(3));
    assert!(
        runs(&e.event(&f("adm"), t(20))).is_empty(),
        "the first two fell out"
    );
    e.event(&f("admin"), t(21));
    assert_eq!(runs(&e.event(&f("admin"), t(22))), ["a"]);
    ticks(&mut e, 23, 40);
    assert_eq!(e.phase("r"), Some(Phase::Resolved));
}

#[test]
fn boot_delay_and_disable_window() {
    let (mut r, fp) = signal_rule();
    r.disable_window = vec![
        serde_json::from_value(serde_json::json!({"name": "w", "start": "00:10", "end": "00:20"}))
            .unwrap(),
    ];
    let mut e = Engine::new(t(0));
    let start = DateTime::from_timestamp(1_800_000_000 - 1_800_000_000 % 86_400, 0).unwrap();
    let at = |m: i64| start + Duration::minutes(m);
    e.configure(vec![(r, fp)], 60, Retry::default(), at(0), None, at(0));
    assert!(
        runs(&e.event(&dcd("off"), at(0) + Duration::seconds(30))).is_empty(),
        "boot delay"
    );
    e.event(&dcd("on"), at(2));
    assert!(
        runs(&e.event(&dcd("off"), at(12))).is_empty(),
        "in the window"
    );
    assert!(
        e.view("r", at(12)).unwrap().phase.is_none(),
        "shown as disabled"
    );
    let mut out = Vec::new();
    e.tick(at(20), &mut out);
    assert_eq!(runs(&out), ["trap"], "triggers when the window ends");
}

#[test]
fn restart_keeps_state_and_runs_a_pending_action_once() {
    let (r, fp) = signal_rule();
    let mut e = engine(vec![(r.clone(), fp)]);
    e.event(&dcd("off"), t(1));
    assert_eq!(ticks(&mut e, 2, 10), Vec::<String>::new());
    let saved: BTreeMap<String, Saved> =
        serde_json::from_str(&serde_json::to_string(&e.saved()).unwrap()).unwrap();
    // Restarted at 20 with a 60 s boot delay: the SMS still goes at 31, once.
    let mut e2 = Engine::new(t(20));
    let out = e2.configure(
        vec![(r.clone(), fp)],
        60,
        Retry::default(),
        t(20),
        Some(saved.clone()),
        t(20),
    );
    assert!(runs(&out).is_empty());
    assert_eq!(e2.phase("r"), Some(Phase::Triggered));
    assert_eq!(ticks(&mut e2, 20, 100), ["31:sms"]);
    // A changed rule starts afresh and clears nothing it did not raise.
    let mut e3 = Engine::new(t(20));
    e3.configure(
        vec![(r, fp + 1)],
        0,
        Retry::default(),
        t(20),
        Some(saved),
        t(20),
    );
    assert_eq!(e3.phase("r"), Some(Phase::Idle));
}

#[test]
fn filters_severity_and_source() {
    let (r, fp) = rule(serde_json::json!({
        "trigger": {"event": "lifeline-types:outlet-state-change", "source-pattern": "^power/",
            "filter": [{"name": "state", "value-pattern": "off"}]},
        "action": [action("a", 0, Value::Null)],
    }));
    let mut e = engine(vec![(r, fp)]);
    let ev = |state: &str| {
        event(
            EventKind::OutletStateChange,
            serde_json::json!({"device": "pdu", "outlet": "1", "state": state}),
        )
    };
    // The source is "test": no match.
    assert!(runs(&e.event(&ev("off"), t(1))).is_empty());
    let (r, fp) = rule(serde_json::json!({
        "trigger": {"event": "lifeline-types:outlet-state-change",
            "filter": [{"name": "state", "value-pattern": "of"}]},
        "action": [action("a", 0, Value::Null)],
    }));
    let mut e = engine(vec![(r, fp)]);
    assert!(
        runs(&e.event(&ev("off"), t(1))).is_empty(),
        "patterns match whole values"
    );
}

fn crash_rule() -> (Rule, u64) {
    rule(serde_json::json!({
        "trigger": {"check": {"interval": 60, "timeout": 5,
            "console-pattern": {"port": "router", "alert-pattern": "crash"}}},
        "action": [action("cycle", 0, Value::Null)],
    }))
}

fn crash() -> Arc<Event> {
    event(
        EventKind::PortAlertMatch,
        serde_json::json!({"port": "router", "pattern": "crash"}),
    )
}

#[test]
fn a_pulse_the_rate_limit_or_a_window_stops_is_gone_not_kept() {
    let (mut r, fp) = crash_rule();
    r.rate_limit = crate::rules::config::RateLimit {
        max_triggers: 1,
        period: 100,
    };
    let mut e = engine(vec![(r, fp)]);
    let mut ran = 0;
    for s in 1..10 {
        ran += runs(&e.event(&crash(), t(s))).len();
    }
    assert_eq!(ran, 1);
    assert_eq!(e.view("r", t(10)).unwrap().suppressed, 8);
    assert!(
        ticks(&mut e, 10, 200).is_empty(),
        "no late run of a suppressed pulse"
    );
    // Inside a disable window: dropped, not run when the window ends.
    let (mut r, fp) = crash_rule();
    r.disable_window = vec![
        serde_json::from_value(serde_json::json!({"name": "w", "start": "00:00", "end": "00:10"}))
            .unwrap(),
    ];
    let mut e = Engine::new(t(0));
    let start = DateTime::from_timestamp(1_800_000_000 - 1_800_000_000 % 86_400, 0).unwrap();
    e.configure(vec![(r, fp)], 0, Retry::default(), start, None, start);
    assert!(runs(&e.event(&crash(), start + Duration::minutes(5))).is_empty());
    let mut out = Vec::new();
    e.tick(start + Duration::minutes(11), &mut out);
    assert!(runs(&out).is_empty());
}

#[test]
fn a_rule_is_not_set_off_by_its_own_events() {
    let (r, fp) = rule(serde_json::json!({
        "trigger": {"event": "lifeline-types:rule-triggered"},
        "action": [action("a", 0, Value::Null)],
    }));
    let mut e = engine(vec![(r, fp)]);
    let bus = EventBus::new(4);
    let own = bus.publish(
        EventKind::RuleTriggered,
        "x:y",
        Severity::Notice,
        "rules/r".into(),
        "m".into(),
        Map::new(),
    );
    assert!(runs(&e.event(&own, t(1))).is_empty());
    let other = bus.publish(
        EventKind::RuleTriggered,
        "x:y",
        Severity::Notice,
        "rules/q".into(),
        "m".into(),
        Map::new(),
    );
    assert_eq!(runs(&e.event(&other, t(2))), ["a"]);
}

#[test]
fn a_resolve_retry_does_not_undo_a_new_trigger() {
    let (r, fp) = rule(serde_json::json!({
        "trigger": {"event": "lifeline-types:uplink-down"},
        "action": [action("take", 0, Value::Null)],
        "resolve-action": [action("giveback", 0, Value::Null)],
    }));
    let mut e = engine(vec![(r, fp)]);
    let down = event(EventKind::UplinkDown, serde_json::json!({"uplink": "wan"}));
    let up = event(EventKind::UplinkUp, serde_json::json!({"uplink": "wan"}));
    e.event(&down, t(1));
    let out = e.event(&up, t(2));
    let Some(Output::Run(job)) = out.into_iter().find(|o| matches!(o, Output::Run(_))) else {
        panic!()
    };
    e.action_done(&job, Outcome::Failed("busy".into()), t(3));
    e.event(&down, t(4));
    assert!(!ticks(&mut e, 5, 30).iter().any(|r| r.contains("giveback")));
}
