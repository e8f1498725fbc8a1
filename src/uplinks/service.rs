//! The connection manager's service: a commit hands the typed configuration
//! to the manager task (`manager`), which owns the probes, the selector, the
//! routes and the tunnel; the state it publishes after each step is served
//! to every face. The uplinks' up and down actions and the tunnel's start and
//! stop go to the same task, which answers once their change is made.
use std::collections::BTreeSet;
use std::sync::Arc;

use parking_lot::RwLock;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::config::{Config, TunnelKind, Uplinks};
use super::manager::{self, Act, ActError, Msg, Snapshot};
use crate::service::action::handler;
use crate::service::config::quote;
use crate::service::{
    Change, Prepared, Refusal, Registry, Service, StatePage, StateProvider, StateQuery,
};

const UPLINK: &str = "/lifeline-uplinks:uplinks/uplink";
const STATE: &str = "/lifeline-uplinks:uplinks/state";
const TUNNEL: &str = "/lifeline-uplinks:uplinks/tunnel";

pub struct UplinksService {
    tx: mpsc::UnboundedSender<Msg>,
}

impl UplinksService {
    pub fn new(
        events: crate::events::EventBus,
        rt: tokio::runtime::Handle,
        registry: &Registry,
    ) -> UplinksService {
        let snapshot: Arc<RwLock<Snapshot>> = Arc::default();
        registry.provide(Arc::new(State(snapshot.clone())));
        let (tx, rx) = mpsc::unbounded_channel();
        rt.spawn(manager::run(rx, events, snapshot));
        register_actions(&tx, registry);
        UplinksService { tx }
    }
}

/// The uplinks' up and down actions and the tunnel's start and stop.
fn register_actions(tx: &mpsc::UnboundedSender<Msg>, registry: &Registry) {
    for (name, down) in [("up", false), ("down", true)] {
        let tx = tx.clone();
        registry.handle(
            &format!("{UPLINK}/{name}"),
            handler(move |req| {
                let tx = tx.clone();
                async move {
                    let uplink = req.key("uplink", "name").unwrap_or_default().to_string();
                    let act = match down {
                        true => Act::UplinkDown(uplink.clone()),
                        false => Act::UplinkUp(uplink.clone()),
                    };
                    ask(&tx, act, &req.user, uplink_path(&uplink)).await
                }
            }),
        );
    }
    for (name, act) in [("start", Act::TunnelStart), ("stop", Act::TunnelStop)] {
        let tx = tx.clone();
        registry.handle(
            &format!("{TUNNEL}/{name}"),
            handler(move |req| {
                let (tx, act) = (tx.clone(), act.clone());
                async move { ask(&tx, act, &req.user, TUNNEL.to_string()).await }
            }),
        );
    }
}

/// Hands an action to the manager task and waits for its answer; a refusal
/// is about `path`.
async fn ask(
    tx: &mpsc::UnboundedSender<Msg>,
    act: Act,
    user: &str,
    path: String,
) -> Result<Value, Refusal> {
    let (done, answer) = oneshot::channel();
    let msg = Msg::Act {
        act,
        user: user.to_string(),
        done,
    };
    if tx.send(msg).is_err() {
        return Err(Refusal::failed("the connection manager is not running").at(path));
    }
    match answer.await {
        Ok(Ok(())) => Ok(Value::Null),
        Ok(Err(ActError::Missing(why))) => Err(Refusal::missing(why).at(path)),
        Ok(Err(ActError::Failed(why))) => Err(Refusal::failed(why).at(path)),
        Err(_) => {
            Err(Refusal::failed("the connection manager stopped before it answered").at(path))
        }
    }
}

fn uplink_path(name: &str) -> String {
    format!("{UPLINK}[name={}]", quote(name))
}

/// What the model's types cannot say: one owner per interface, the tables in
/// range, keys that decode.
fn check(u: &Uplinks) -> Result<(), Refusal> {
    let mut seen = BTreeSet::new();
    for l in &u.uplink {
        if !seen.insert(l.interface.as_str()) {
            return Err(Refusal::invalid(format!(
                "interface {} is already another uplink's",
                l.interface
            ))
            .at(format!("{}/interface", uplink_path(&l.name))));
        }
    }
    let last = u64::from(u.routing.table) + u.uplink.len() as u64;
    if (253..=255).any(|t| (u64::from(u.routing.table)..=last).contains(&t)) || last > 0xffff_ffef {
        return Err(Refusal::invalid(format!(
            "tables {}..{last} would take a table the kernel reserves (253-255)",
            u.routing.table
        ))
        .at("/lifeline-uplinks:uplinks/routing/table"));
    }
    if let Some(t) = &u.tunnel {
        if seen.contains(t.interface.as_str()) {
            return Err(
                Refusal::invalid(format!("{} is an uplink's interface", t.interface))
                    .at(format!("{TUNNEL}/interface")),
            );
        }
        if let TunnelKind::Wireguard(wg) = &t.kind {
            for a in &wg.address {
                let ok = super::routing::prefix(a)
                    .is_some_and(|(ip, len)| len <= if ip.is_ipv4() { 32 } else { 128 });
                if !ok {
                    return Err(Refusal::invalid(format!(
                        "{a} is not an address with a prefix length"
                    ))
                    .at(format!("{TUNNEL}/wireguard/address")));
                }
            }
            super::tunnel::uapi_set(wg)
                .map_err(|e| Refusal::invalid(e).at(format!("{TUNNEL}/wireguard")))?;
        }
    }
    Ok(())
}

struct Apply {
    tx: mpsc::UnboundedSender<Msg>,
    config: Option<Uplinks>,
}

impl Prepared for Apply {
    fn apply(self: Box<Self>) {
        let _ = self.tx.send(Msg::Configure(self.config.map(Box::new)));
    }
}

impl Service for UplinksService {
    type Config = Config;

    fn name(&self) -> &'static str {
        "uplinks"
    }

    fn owns(&self) -> Vec<&'static str> {
        vec!["/lifeline-uplinks:uplinks"]
    }

    fn prepare(&mut self, config: Config, _: &[Change]) -> Result<Box<dyn Prepared>, Refusal> {
        if let Some(u) = &config.uplinks {
            check(u)?;
        }
        Ok(Box::new(Apply {
            tx: self.tx.clone(),
            config: config.uplinks.filter(|u| !u.uplink.is_empty()),
        }))
    }
}

struct State(Arc<RwLock<Snapshot>>);

impl StateProvider for State {
    fn roots(&self) -> Vec<&'static str> {
        vec![UPLINK, STATE, TUNNEL]
    }

    fn read(&self, q: &StateQuery) -> StatePage {
        let s = self.0.read();
        match q.root.as_str() {
            UPLINK => {
                let mut rows: Vec<(Vec<String>, Value)> = s
                    .uplinks
                    .iter()
                    .filter(|u| q.wants(&u.name))
                    .map(|u| (vec![u.name.clone()], u.json()))
                    .collect();
                rows.sort_by(|a, b| crate::service::state::key_cmp(&a.0, &b.0));
                StatePage::from_sorted(q, rows)
            }
            STATE => StatePage {
                entries: vec![s.state_json()],
                next: None,
            },
            TUNNEL => StatePage {
                entries: s
                    .tunnel
                    .iter()
                    .map(|t| {
                        let mut v = t.json();
                        if let Some(up) = v.as_object_mut().and_then(|o| o.remove("active")) {
                            v["up"] = up;
                        }
                        v
                    })
                    .collect(),
                next: None,
            },
            _ => StatePage::default(),
        }
    }
}

impl manager::LinkView {
    fn json(&self) -> Value {
        let mut v = json!({
            "health": self.health.as_str(),
            "reason": self.reason,
            "probe-statistics": {
                // counter64 is a string in RFC 7951 JSON.
                "sent": self.stats.sent.to_string(),
                "received": self.stats.received.to_string(),
                "consecutive-failures": self.stats.consecutive_failures,
                "loss": self.stats.loss,
            },
        });
        if !self.name.is_empty() {
            v["name"] = json!(self.name);
        }
        if let Some(t) = self.last_change {
            v["last-change"] = json!(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        }
        let us = |d: std::time::Duration| json!(d.as_micros().min(u32::MAX as u128) as u32);
        if let Some(r) = self.stats.rtt_last {
            v["probe-statistics"]["rtt-last"] = us(r);
        }
        if let Some(r) = self.stats.rtt_average {
            v["probe-statistics"]["rtt-average"] = us(r);
        }
        if let Some(a) = self.active {
            v["active"] = json!(a);
        }
        if let Some(g) = self.gateway {
            v["gateway-in-use"] = json!(g.to_string());
        }
        if let Some(g) = self.gateway6 {
            v["gateway6-in-use"] = json!(g.to_string());
        }
        if let Some(d) = self.admin_down {
            v["administratively-down"] = json!(d);
        }
        v
    }
}

impl Snapshot {
    fn state_json(&self) -> Value {
        let mut v = json!({
            "tunnel-up": self.tunnel.as_ref().is_some_and(|t| t.active == Some(true)),
            "failovers": self.failovers,
            "routing": if self.routing_error.is_some() { "failed-over-incomplete" } else { "complete" },
        });
        if let Some(a) = &self.active {
            v["active-uplink"] = json!(a);
        }
        if let Some(e) = &self.routing_error {
            v["routing-error"] = json!(e);
        }
        let t = |t: &chrono::DateTime<chrono::Utc>| {
            json!(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        };
        if let Some(x) = &self.last_failover {
            v["last-failover"] = t(x);
        }
        if let Some(x) = &self.last_failback {
            v["last-failback"] = t(x);
        }
        v
    }
}
