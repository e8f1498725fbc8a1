//! ietf-netconf-monitoring (RFC 6022) state: sessions, locks, schemas, statistics.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use yang5::context::Context;

use super::Datastore;

/// Counters a face bumps as it works; one set per session and one global.
#[derive(Default, Debug)]
pub struct Counters {
    pub in_rpcs: AtomicU32,
    pub in_bad_rpcs: AtomicU32,
    pub out_rpc_errors: AtomicU32,
    pub out_notifications: AtomicU32,
}

impl Counters {
    pub fn bump(c: &AtomicU32) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

pub struct SessionRecord {
    pub user: String,
    pub source_host: Option<String>,
    pub login_time: DateTime<Utc>,
    pub counters: Arc<Counters>,
}

pub struct Monitoring {
    sessions: BTreeMap<u32, SessionRecord>,
    pub capabilities: Vec<String>,
    pub start: DateTime<Utc>,
    pub global: Arc<Counters>,
    pub in_sessions: u32,
    pub in_bad_hellos: u32,
    pub dropped_sessions: u32,
    /// The datastore locks: (session, since) of running, candidate, startup.
    pub locks: [Option<(u32, DateTime<Utc>)>; 3],
}

impl Default for Monitoring {
    fn default() -> Monitoring {
        Monitoring {
            sessions: BTreeMap::new(),
            capabilities: Vec::new(),
            start: Utc::now(),
            global: Arc::default(),
            in_sessions: 0,
            in_bad_hellos: 0,
            dropped_sessions: 0,
            locks: [None; 3],
        }
    }
}

fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Monitoring {
    pub fn add(&mut self, id: u32, record: SessionRecord) {
        self.in_sessions += 1;
        self.sessions.insert(id, record);
    }

    pub fn remove(&mut self, id: u32) {
        self.sessions.remove(&id);
    }

    /// The `netconf-state` container as RFC 7951 JSON.
    pub fn state(&self, ctx: &Context) -> Value {
        let locks: Vec<Value> = [Datastore::Running, Datastore::Candidate, Datastore::Startup]
            .iter()
            .map(|ds| match &self.locks[*ds as usize] {
                Some((holder, since)) => json!({
                    "name": ds.as_str(),
                    "locks": {"global-lock": {"locked-by-session": holder, "locked-time": ts(since)}},
                }),
                None => json!({"name": ds.as_str()}),
            })
            .collect();
        let schemas: Vec<Value> = ctx
            .modules(false)
            .filter_map(|m| {
                Some(json!({
                    "identifier": m.name(),
                    "version": m.revision()?,
                    "format": "yang",
                    "namespace": m.namespace(),
                    "location": ["NETCONF"],
                }))
            })
            .collect();
        let sessions: Vec<Value> = self
            .sessions
            .iter()
            .map(|(id, s)| {
                let mut v = json!({
                    "session-id": id,
                    "transport": "netconf-ssh",
                    "username": s.user,
                    "login-time": ts(&s.login_time),
                });
                if let Some(h) = &s.source_host {
                    v["source-host"] = json!(h);
                }
                counters(&mut v, &s.counters);
                v
            })
            .collect();
        let mut stats = json!({
            "netconf-start-time": ts(&self.start),
            "in-bad-hellos": self.in_bad_hellos,
            "in-sessions": self.in_sessions,
            "dropped-sessions": self.dropped_sessions,
        });
        counters(&mut stats, &self.global);
        json!({
            "capabilities": {"capability": self.capabilities},
            "datastores": {"datastore": locks},
            "schemas": {"schema": schemas},
            "sessions": {"session": sessions},
            "statistics": stats,
        })
    }
}

fn counters(v: &mut Value, c: &Counters) {
    for (name, n) in [
        ("in-rpcs", &c.in_rpcs),
        ("in-bad-rpcs", &c.in_bad_rpcs),
        ("out-rpc-errors", &c.out_rpc_errors),
        ("out-notifications", &c.out_notifications),
    ] {
        v[name] = json!(n.load(Ordering::Relaxed));
    }
}
