//! ietf-netconf-monitoring (RFC 6022) state: sessions, locks, schemas, statistics.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, SecondsFormat, Utc};
use yang5::context::Context;

use super::Datastore;
use super::tree::Tree;

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

    pub(super) fn add_state(
        &self,
        op: &mut Tree,
        ctx: &'static Context,
        locks: &[Option<(u32, DateTime<Utc>)>; 3],
    ) {
        let base = "/ietf-netconf-monitoring:netconf-state";
        let mut set = |path: String, value: Option<&str>| {
            if let Err(e) = op.new_path(&path, value, false) {
                tracing::warn!("monitoring state {path}: {e}");
            }
        };
        for cap in &self.capabilities {
            set(format!("{base}/capabilities/capability"), Some(cap));
        }
        for ds in [Datastore::Running, Datastore::Candidate, Datastore::Startup] {
            let dpath = format!("{base}/datastores/datastore[name='{}']", ds.as_str());
            match &locks[ds as usize] {
                Some((holder, since)) => {
                    set(
                        format!("{dpath}/locks/global-lock/locked-by-session"),
                        Some(&holder.to_string()),
                    );
                    set(
                        format!("{dpath}/locks/global-lock/locked-time"),
                        Some(&ts(since)),
                    );
                }
                None => set(dpath, None),
            }
        }
        for m in ctx.modules(false) {
            let Some(rev) = m.revision() else { continue };
            let spath = format!(
                "{base}/schemas/schema[identifier='{}'][version='{rev}'][format='ietf-netconf-monitoring:yang']",
                m.name()
            );
            set(format!("{spath}/namespace"), Some(m.namespace()));
            set(format!("{spath}/location"), Some("NETCONF"));
        }
        for (id, s) in &self.sessions {
            let p = format!("{base}/sessions/session[session-id='{id}']");
            set(
                format!("{p}/transport"),
                Some("ietf-netconf-monitoring:netconf-ssh"),
            );
            set(format!("{p}/username"), Some(&s.user));
            if let Some(h) = &s.source_host {
                set(format!("{p}/source-host"), Some(h));
            }
            set(format!("{p}/login-time"), Some(&ts(&s.login_time)));
            counters(&mut set, &p, &s.counters);
        }
        let st = format!("{base}/statistics");
        set(format!("{st}/netconf-start-time"), Some(&ts(&self.start)));
        set(
            format!("{st}/in-bad-hellos"),
            Some(&self.in_bad_hellos.to_string()),
        );
        set(
            format!("{st}/in-sessions"),
            Some(&self.in_sessions.to_string()),
        );
        set(
            format!("{st}/dropped-sessions"),
            Some(&self.dropped_sessions.to_string()),
        );
        counters(&mut set, &st, &self.global);
    }
}

fn counters(set: &mut impl FnMut(String, Option<&str>), base: &str, c: &Counters) {
    for (name, v) in [
        ("in-rpcs", &c.in_rpcs),
        ("in-bad-rpcs", &c.in_bad_rpcs),
        ("out-rpc-errors", &c.out_rpc_errors),
        ("out-notifications", &c.out_notifications),
    ] {
        set(
            format!("{base}/{name}"),
            Some(&v.load(Ordering::Relaxed).to_string()),
        );
    }
}
