//! The test-only YANG module and service shared by the platform's tests: a
//! list with typed configuration, state from a provider, an action, and an
//! event of its own.
#![allow(dead_code)]
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use lifeline::appliance::Plugin;
use lifeline::events::{EventKind, Payload, Severity};
use lifeline::service::action::{handler, output};
use lifeline::service::{Change, Prepared, Refusal, Service, StatePage, StateProvider, StateQuery};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

pub const NS: &str = "urn:lifeline:params:xml:ns:yang:lifeline-test";

pub const MODULE: &str = r#"module lifeline-test {
  yang-version 1.1;
  namespace "urn:lifeline:params:xml:ns:yang:lifeline-test";
  prefix ltest;
  import lifeline-types { prefix llt; }
  description "A module for the platform's tests.";
  revision 2026-12-02 { description "Initial."; }
  container widgets {
    description "Widgets.";
    list widget {
      key "name";
      description "A widget.";
      leaf name { type string; description "Its name."; }
      leaf size {
        type enumeration { enum small; enum large; }
        default "small";
        description "Its size.";
      }
      leaf limit { type uint32; default "10"; description "At most 255 in this code."; }
      leaf pokes { type uint64; config false; description "How often it was poked."; }
      action poke {
        description "Pokes it.";
        input { leaf times { type uint8; default "1"; description "How often."; } }
        output { leaf total { type uint64; description "Pokes so far."; } }
      }
    }
  }
  notification widget-poked {
    description "A widget was poked.";
    uses llt:event-header;
    leaf widget { type string; description "Which."; }
    leaf total { type uint64; description "Pokes so far."; }
  }
}
"#;

#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub enum Size {
    Small,
    Large,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Widget {
    pub name: String,
    pub size: Size,
    /// Narrower than the YANG type on purpose: 256 and more cannot convert.
    pub limit: u8,
}

#[derive(Deserialize, Default)]
struct Widgets {
    #[serde(default)]
    widget: Vec<Widget>,
}

#[derive(Deserialize)]
struct Config {
    #[serde(rename = "lifeline-test:widgets", default)]
    widgets: Widgets,
}

#[derive(Serialize)]
pub struct Poked {
    pub widget: String,
    pub total: String,
}

impl Payload for Poked {
    const KIND: EventKind = EventKind::Other;
    const NOTIFICATION: &'static str = "lifeline-test:widget-poked";
}

/// What the test sees of the service.
#[derive(Default)]
pub struct Probe {
    pub refuse: AtomicBool,
    pub applied: Mutex<Vec<Vec<Widget>>>,
    pub changes: Mutex<Vec<String>>,
    /// Rows the provider visited (a read must not walk what it does not return).
    pub visited: AtomicUsize,
    pub pokes: Mutex<BTreeMap<String, u64>>,
}

struct Widgetry(Arc<Probe>);

struct Apply(Arc<Probe>, Vec<Widget>);

impl Prepared for Apply {
    fn apply(self: Box<Self>) {
        self.0.applied.lock().push(self.1);
    }
}

impl Service for Widgetry {
    type Config = Config;

    fn name(&self) -> &'static str {
        "widgets"
    }

    fn owns(&self) -> Vec<&'static str> {
        vec!["/lifeline-test:widgets"]
    }

    fn prepare(&mut self, c: Config, changes: &[Change]) -> Result<Box<dyn Prepared>, Refusal> {
        if self.0.refuse.load(Ordering::SeqCst) {
            return Err(Refusal::invalid("refused for the test"));
        }
        self.0
            .changes
            .lock()
            .extend(changes.iter().map(|c| c.path.clone()));
        Ok(Box::new(Apply(self.0.clone(), c.widgets.widget)))
    }
}

struct Rows(Arc<Probe>, usize);

impl StateProvider for Rows {
    fn roots(&self) -> Vec<&'static str> {
        vec!["/lifeline-test:widgets/widget"]
    }

    fn read(&self, q: &StateQuery) -> StatePage {
        let pokes = self.0.pokes.lock().clone();
        let names = (0..self.1).map(|i| format!("w{i:05}"));
        StatePage::from_sorted(
            q,
            names.filter(|n| q.wants(n)).map(|n| {
                self.0.visited.fetch_add(1, Ordering::SeqCst);
                let total = pokes.get(&n).copied().unwrap_or(0);
                (
                    vec![n.clone()],
                    serde_json::json!({"name": n, "pokes": total.to_string()}),
                )
            }),
        )
    }
}

/// The test module's service, provider and action, as a plugin.
pub fn plugin(probe: Arc<Probe>, rows: usize) -> Plugin {
    Box::new(move |p| {
        p.registry.provide(Arc::new(Rows(probe.clone(), rows)));
        let (pr, events) = (probe.clone(), p.events.clone());
        p.registry.handle(
            "/lifeline-test:widgets/widget/poke",
            handler(move |req| {
                let (pr, events) = (pr.clone(), events.clone());
                async move {
                    let name = req.key("widget", "name").unwrap_or_default().to_string();
                    #[derive(Deserialize)]
                    struct In {
                        times: u8,
                    }
                    let In { times } = req.input()?;
                    let total = {
                        let mut p = pr.pokes.lock();
                        let t = p.entry(name.clone()).or_default();
                        *t += u64::from(times);
                        *t
                    };
                    events.emit(
                        Severity::Notice,
                        format!("widgets/{name}"),
                        format!("{name} poked"),
                        &Poked {
                            widget: name.clone(),
                            total: total.to_string(),
                        },
                    );
                    output(serde_json::json!({ "total": total.to_string() }))
                }
            }),
        );
        vec![Box::new(Widgetry(probe)) as Box<dyn lifeline::service::AnyService>]
    })
}
