//! The checks the rules service runs itself: ping and TCP connect (out of a
//! given uplink), a script's exit status, and the state other services
//! publish (a UPS's status and readings, an uplink's health, the tunnel, an
//! outlet, a port's modem signals), read from the model's live state. Each
//! answers whether it fails and a line saying what it found.
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::config::{Check, Level, TunnelFails, UplinkFails, Ups, UpsCondition};
use crate::service::Registry;
use crate::service::state::Select;
use crate::uplinks::probe::{Method, Prober};

const DEVICE: &str = "/lifeline-power:power/device";
const PORT: &str = "/lifeline-ports:ports/port";
const UPLINK: &str = "/lifeline-uplinks:uplinks/uplink";
const UPLINK_STATE: &str = "/lifeline-uplinks:uplinks/state";

/// What a check needs besides its configuration.
#[derive(Clone)]
pub struct Env {
    pub registry: Arc<Registry>,
    /// Uplink name to interface, from the uplinks configuration.
    pub interfaces: Arc<std::collections::HashMap<String, String>>,
}

/// Runs one check; `was_failing` gives thresholds their hysteresis.
pub async fn run(check: &Check, env: &Env, was_failing: bool) -> (bool, String) {
    let timeout = Duration::from_secs(check.timeout.into());
    if let Some(p) = &check.ping {
        return reach(env, p.host, Method::Icmp, p.uplink.as_deref(), timeout).await;
    }
    if let Some(t) = &check.tcp_connect {
        return reach(
            env,
            t.host,
            Method::Tcp(t.port),
            t.uplink.as_deref(),
            timeout,
        )
        .await;
    }
    if let Some(s) = &check.script {
        return match crate::host::process::run(&s.path, &s.argument, &[], timeout).await {
            Ok(()) => (false, format!("{} exited 0", s.path)),
            Err(e) => (true, e),
        };
    }
    let one = |root: &str, key: &str| {
        env.registry
            .read_all(root, Select::Keys(vec![vec![key.to_string()]]))
            .into_iter()
            .fold(Value::Null, |mut acc, v| {
                merge(&mut acc, v);
                acc
            })
    };
    if let Some(u) = &check.ups {
        return ups(&one(DEVICE, &u.device), u, was_failing);
    }
    if let Some(u) = &check.uplink {
        return uplink(&one(UPLINK, &u.name), &u.name, u.fails_when);
    }
    if let Some(t) = &check.tunnel {
        let s = env
            .registry
            .read_all(UPLINK_STATE, Select::All)
            .into_iter()
            .next()
            .unwrap_or(Value::Null);
        return tunnel(&s, t.fails_when);
    }
    if let Some(o) = &check.outlet {
        return outlet(&one(DEVICE, &o.device), &o.device, &o.outlet, o.fails_when);
    }
    if let Some(s) = &check.signal {
        return signal(
            &one(PORT, &s.port),
            &s.port,
            &s.signal,
            s.fails_when,
            was_failing,
        );
    }
    (false, "nothing to check".into())
}

fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (a, b) if !b.is_null() => *a = b,
        _ => {}
    }
}

/// A ping or TCP connect through the prober the connection manager uses.
async fn reach(
    env: &Env,
    host: IpAddr,
    method: Method,
    uplink: Option<&str>,
    timeout: Duration,
) -> (bool, String) {
    let ifname = match uplink {
        Some(u) => match env.interfaces.get(u) {
            Some(i) => i.clone(),
            None => return (true, format!("uplink {u} has no interface")),
        },
        None => String::new(),
    };
    let what = match method {
        Method::Icmp => format!("ping {host}"),
        Method::Tcp(p) => format!("connect to {host} port {p}"),
    };
    let via = uplink.map(|u| format!(" via {u}")).unwrap_or_default();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut prober = Prober::new(0, &ifname, method, timeout, tx);
    prober.set_targets(vec![host]);
    let started = std::time::Instant::now();
    if let Err(e) = prober.send_round(1) {
        return (true, format!("{what}{via}: {e}"));
    }
    match tokio::time::timeout(timeout, rx.recv()).await {
        Ok(Some(r)) => (
            false,
            format!(
                "{what}{via}: answered in {} ms",
                r.at.duration_since(started).as_millis()
            ),
        ),
        _ => (
            true,
            format!("{what}{via}: no answer within {} s", timeout.as_secs()),
        ),
    }
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A reading against a threshold: once failing, it passes again only past
/// the hysteresis on the good side.
pub fn threshold(reading: f64, limit: f64, hysteresis: f64, below: bool, was: bool) -> bool {
    let margin = if was { hysteresis } else { 0.0 };
    if below {
        reading < limit + margin
    } else {
        reading > limit - margin
    }
}

pub fn ups(dev: &Value, u: &Ups, was_failing: bool) -> (bool, String) {
    let Some(s) = dev.get("ups") else {
        return (true, format!("{}: no UPS status", u.device));
    };
    let flag = |k: &str| s.get(k).and_then(Value::as_bool).unwrap_or(false);
    let status = s.get("status").and_then(Value::as_str).unwrap_or("?");
    let (leaf, below) = match u.condition {
        UpsCondition::OnBattery => {
            let f = flag("on-battery");
            return (f, format!("{}: status {status}", u.device));
        }
        UpsCondition::LowBattery => {
            let f = flag("low-battery");
            return (f, format!("{}: status {status}", u.device));
        }
        UpsCondition::ChargeBelow => ("battery-charge", true),
        UpsCondition::RuntimeBelow => ("runtime", true),
        UpsCondition::LoadAbove => ("load", false),
        UpsCondition::InputVoltageBelow => ("input-voltage", true),
        UpsCondition::InputVoltageAbove => ("input-voltage", false),
    };
    let Some(reading) = s.get(leaf).and_then(num) else {
        return (true, format!("{}: no {leaf} reading", u.device));
    };
    let limit = u.threshold.unwrap_or(0.0);
    let f = threshold(
        reading,
        limit,
        u.hysteresis.unwrap_or(0.0),
        below,
        was_failing,
    );
    let cmp = if below { "below" } else { "above" };
    let word = if f { "is" } else { "is not" };
    (
        f,
        format!("{}: {leaf} {reading} {word} {cmp} {limit}", u.device),
    )
}

pub fn uplink(entry: &Value, name: &str, fails: UplinkFails) -> (bool, String) {
    let health = entry
        .get("health")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let active = entry
        .get("active")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let f = match fails {
        UplinkFails::Down => !matches!(health, "up" | "degraded"),
        UplinkFails::NotUp => health != "up",
        UplinkFails::Active => active,
    };
    let act = if active { ", active" } else { "" };
    (f, format!("uplink {name}: {health}{act}"))
}

pub fn tunnel(state: &Value, fails: TunnelFails) -> (bool, String) {
    let up = state
        .get("tunnel-up")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let f = match fails {
        TunnelFails::Down => !up,
        TunnelFails::Up => up,
    };
    (f, format!("tunnel {}", if up { "up" } else { "down" }))
}

pub fn outlet(dev: &Value, device: &str, id: &str, fails: Level) -> (bool, String) {
    let state = dev
        .get("outlet")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter().find(|o| {
                o.get("id")
                    .and_then(crate::service::config::scalar_text)
                    .as_deref()
                    == Some(id)
            })
        })
        .and_then(|o| o.get("state"))
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let f = match fails {
        Level::Off => state == "off",
        Level::On => state == "on",
    };
    (f, format!("outlet {device}/{id}: {state}"))
}

pub fn signal(port: &Value, name: &str, sig: &str, fails: Level, was: bool) -> (bool, String) {
    let Some(level) = port
        .get("state")
        .and_then(|s| s.get("signals"))
        .and_then(|s| s.get(sig))
        .and_then(Value::as_bool)
    else {
        // No device (unplugged), or one without modem lines: nothing to
        // judge by, so the condition stays as it was.
        return (was, format!("port {name}: {sig} unknown"));
    };
    let f = level == (fails == Level::On);
    let word = if level { "on" } else { "off" };
    (f, format!("port {name}: {sig} {word}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ups_cfg(cond: UpsCondition, threshold: f64, hysteresis: f64) -> Ups {
        Ups {
            device: "ups1".into(),
            condition: cond,
            threshold: Some(threshold),
            hysteresis: Some(hysteresis),
        }
    }

    #[test]
    fn ups_thresholds_have_hysteresis() {
        let dev = |charge: u32| json!({"ups": {"status": "OB", "on-battery": true, "battery-charge": charge}});
        let c = ups_cfg(UpsCondition::ChargeBelow, 50.0, 5.0);
        assert!(!ups(&dev(60), &c, false).0);
        assert!(ups(&dev(49), &c, false).0);
        assert!(
            ups(&dev(52), &c, true).0,
            "inside the hysteresis: still failing"
        );
        assert!(!ups(&dev(56), &c, true).0);
        let v = json!({"ups": {"status": "OL", "input-voltage": "253.5"}});
        assert!(
            ups(
                &v,
                &ups_cfg(UpsCondition::InputVoltageAbove, 250.0, 0.0),
                false
            )
            .0
        );
        assert!(ups(&dev(60), &ups_cfg(UpsCondition::OnBattery, 0.0, 0.0), false).0);
        assert!(ups(&json!({}), &c, false).0, "no status fails");
    }

    #[test]
    fn state_checks() {
        let u = json!({"name": "wan", "health": "degraded", "active": true});
        assert!(!uplink(&u, "wan", UplinkFails::Down).0);
        assert!(uplink(&u, "wan", UplinkFails::NotUp).0);
        assert!(uplink(&u, "wan", UplinkFails::Active).0);
        assert!(tunnel(&json!({"tunnel-up": false}), TunnelFails::Down).0);
        let d = json!({"outlet": [{"id": "1", "state": "on"}, {"id": "2", "state": "off"}]});
        assert!(outlet(&d, "pdu", "2", Level::Off).0);
        assert!(!outlet(&d, "pdu", "1", Level::Off).0);
        let p = json!({"state": {"signals": {"dcd": false}}});
        assert!(signal(&p, "p3", "dcd", Level::Off, false).0);
        assert!(!signal(&json!({}), "p3", "dcd", Level::Off, false).0);
        assert!(
            signal(&json!({}), "p3", "dcd", Level::Off, true).0,
            "unknown keeps it"
        );
    }
}
