//! The power service: a commit starts, restarts and stops device tasks; the
//! devices' state (outlets they report even when unconfigured, UPS data, and
//! the outlets beside the console ports they feed) is served to every face;
//! the outlet actions run on the device's task and answer with its outcome.
use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;
use serde_json::{Value, json};

use super::config::{self, Config};
use super::device::{self, Device};
use super::{DriverError, Op, OutletState};
use crate::datastore::Handle;
use crate::service::action::handler;
use crate::service::config::quote;
use crate::service::{
    Change, Prepared, Refusal, Registry, Service, StatePage, StateProvider, StateQuery,
};

const DEVICE: &str = "/lifeline-power:power/device";
const PORT: &str = "/lifeline-ports:ports/port";

type Devices = Arc<RwLock<BTreeMap<String, Arc<Device>>>>;

pub struct PowerService {
    devices: Devices,
    ds: Handle,
    rt: tokio::runtime::Handle,
}

impl PowerService {
    pub fn new(ds: Handle, rt: tokio::runtime::Handle, registry: &Registry) -> PowerService {
        let devices: Devices = Arc::default();
        registry.provide(Arc::new(DeviceState(devices.clone())));
        registry.provide(Arc::new(PortOutlets {
            devices: devices.clone(),
            ds: ds.clone(),
        }));
        for (op, name) in [(Op::On, "on"), (Op::Off, "off"), (Op::Cycle, "cycle")] {
            let d = devices.clone();
            registry.handle(
                &format!("{DEVICE}/outlet/{name}"),
                handler(move |req| {
                    let d = d.clone();
                    async move {
                        let dev = req.key("device", "name").unwrap_or_default().to_string();
                        let outlet = req.key("outlet", "id").unwrap_or_default().to_string();
                        switch(&d, &dev, &outlet, op).await
                    }
                }),
            );
        }
        PowerService { devices, ds, rt }
    }

    /// The running devices (the console's power menu lists their outlets).
    pub fn devices(&self) -> Devices {
        self.devices.clone()
    }
}

fn device_path(name: &str) -> String {
    format!("{DEVICE}[name={}]", quote(name))
}

/// Runs an outlet operation and says how it went, as the model's action does.
async fn switch(devices: &Devices, dev: &str, outlet: &str, op: Op) -> Result<Value, Refusal> {
    let path = format!("{}/outlet[id={}]", device_path(dev), quote(outlet));
    let Some(d) = devices.read().get(dev).cloned() else {
        return Err(
            Refusal::missing(format!("there is no power device {dev}")).at(device_path(dev))
        );
    };
    if !d.config.enabled {
        return Err(Refusal::failed(format!("{dev} is disabled"))
            .at(device_path(dev))
            .tagged("refused"));
    }
    {
        let s = d.state.read();
        let known = s.reading.outlets.contains_key(outlet)
            || d.config.outlet.iter().any(|o| o.id == outlet);
        if s.reachable == Some(true) && !known {
            return Err(Refusal::missing(format!("{dev} has no outlet {outlet}")).at(path));
        }
    }
    match d.switch(outlet, op).await {
        Ok(state) => Ok(json!({ "state": state })),
        Err(e) => {
            let tag = e.tag();
            let reason = match &e {
                DriverError::Invalid(_) => crate::service::Reason::Invalid,
                _ => crate::service::Reason::Failed,
            };
            Err(Refusal::new(
                reason,
                format!("{dev} outlet {outlet}: {} {e}", op.as_str()),
            )
            .at(path)
            .tagged(tag))
        }
    }
}

struct Apply {
    devices: Devices,
    start: Vec<config::Device>,
    stop: Vec<String>,
    events: crate::events::EventBus,
    rt: tokio::runtime::Handle,
}

impl Prepared for Apply {
    fn apply(self: Box<Self>) {
        let _rt = self.rt.enter();
        let mut devices = self.devices.write();
        for name in &self.stop {
            if let Some(d) = devices.remove(name) {
                d.stop();
            }
        }
        for cfg in self.start {
            let name = cfg.name.clone();
            let d = Arc::new(if cfg.enabled {
                Device::start(cfg, self.events.clone())
            } else {
                Device::idle(cfg)
            });
            if let Some(old) = devices.insert(name, d) {
                old.stop();
            }
        }
    }
}

impl Service for PowerService {
    type Config = Config;

    fn name(&self) -> &'static str {
        "power"
    }

    fn owns(&self) -> Vec<&'static str> {
        vec!["/lifeline-power:power"]
    }

    fn prepare(&mut self, config: Config, _: &[Change]) -> Result<Box<dyn Prepared>, Refusal> {
        let wanted = config.devices();
        for d in &wanted {
            if let config::Driver::SnmpPdu(s) = &d.driver {
                super::snmp_pdu::Profile::of(s)
                    .map_err(|e| Refusal::invalid(e.to_string()).at(device_path(&d.name)))?;
                super::snmp_pdu::Manager::new(s)
                    .map_err(|e| Refusal::invalid(e.to_string()).at(device_path(&d.name)))?;
            }
            if let config::Driver::Nut(n) = &d.driver
                && n.username.is_some() != n.password.is_some()
            {
                return Err(Refusal::invalid(
                    "a NUT username needs its password, and the other way round",
                )
                .at(format!("{}/nut", device_path(&d.name))));
            }
        }
        let running = self.devices.read();
        let mut start = Vec::new();
        let stop: Vec<String> = running
            .keys()
            .filter(|n| !wanted.iter().any(|d| &d.name == *n))
            .cloned()
            .collect();
        for d in wanted {
            // A changed device starts again with its new configuration; a
            // disabled one keeps its place, idle (its actions say why).
            if running.get(&d.name).is_none_or(|r| r.config != d) {
                start.push(d);
            }
        }
        drop(running);
        Ok(Box::new(Apply {
            devices: self.devices.clone(),
            start,
            stop,
            events: self.ds.events.clone(),
            rt: self.rt.clone(),
        }))
    }
}

/// The devices' live state.
struct DeviceState(Devices);

fn device_entry(d: &Device) -> Value {
    let s = d.state.read();
    let mut v = json!({ "name": d.config.name });
    if let Some(r) = s.reachable {
        v["reachable"] = json!(r);
    }
    if let Some(e) = &s.last_error {
        v["last-error"] = json!(e);
    }
    if let Some(t) = s.last_poll {
        v["last-poll"] = json!(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    let outlets: Vec<Value> = device::outlets(&d.config, &s)
        .into_iter()
        .map(|(id, o)| {
            let mut e = json!({
                "id": id,
                "state": o.state,
                "switchable": o.switchable,
                "off-time": d.config.cycle_delay(&id),
            });
            if let Some(desc) = o.description {
                e["device-description"] = json!(desc);
            }
            e
        })
        .collect();
    if !outlets.is_empty() {
        v["outlet"] = Value::Array(outlets);
    }
    if let Some(u) = &s.reading.ups {
        let mut ups = json!({
            "status": u.status,
            "on-battery": u.has("OB"),
            "low-battery": u.has("LB"),
        });
        if let Some(c) = u.charge {
            ups["battery-charge"] = json!(c);
        }
        if let Some(r) = u.runtime {
            ups["runtime"] = json!(r);
        }
        if let Some(l) = u.load {
            ups["load"] = json!(l);
        }
        // decimal64 is a string in RFC 7951 JSON.
        if let Some(iv) = u.input_voltage {
            ups["input-voltage"] = json!(format!("{iv:.1}"));
        }
        if let Some(ov) = u.output_voltage {
            ups["output-voltage"] = json!(format!("{ov:.1}"));
        }
        v["ups"] = ups;
    }
    v
}

impl StateProvider for DeviceState {
    fn roots(&self) -> Vec<&'static str> {
        vec![DEVICE]
    }

    fn read(&self, q: &StateQuery) -> StatePage {
        let devices: Vec<Arc<Device>> = self.0.read().values().cloned().collect();
        StatePage::from_sorted(
            q,
            devices
                .iter()
                .filter(|d| q.wants(&d.config.name))
                .map(|d| (vec![d.config.name.clone()], device_entry(d))),
        )
    }
}

/// The state of the outlets beside the console ports they feed.
struct PortOutlets {
    devices: Devices,
    ds: Handle,
}

impl StateProvider for PortOutlets {
    fn roots(&self) -> Vec<&'static str> {
        vec![PORT]
    }

    fn read(&self, q: &StateQuery) -> StatePage {
        let (doc, _) = self.ds.running();
        let Some(ports) = doc
            .get("/lifeline-ports:ports/port")
            .and_then(|p| p.as_array())
        else {
            return StatePage::default();
        };
        let devices = self.devices.read();
        let state_of = |dev: &str, outlet: &str| -> OutletState {
            devices
                .get(dev)
                .and_then(|d| d.state.read().reading.outlets.get(outlet).map(|o| o.state))
                .unwrap_or_default()
        };
        let mut rows: Vec<(Vec<String>, Value)> = ports
            .iter()
            .filter_map(|p| {
                let name = p.get("name")?.as_str()?.to_string();
                let links = p.get("power-outlet")?.as_array()?;
                let outlets: Vec<Value> = links
                    .iter()
                    .filter_map(|l| {
                        let (dev, outlet) = (l.get("device")?.as_str()?, l.get("outlet")?.as_str()?);
                        Some(json!({"device": dev, "outlet": outlet, "state": state_of(dev, outlet)}))
                    })
                    .collect();
                (!outlets.is_empty() && q.wants(&name))
                    .then(|| (vec![name.clone()], json!({"name": name, "power-outlet": outlets})))
            })
            .collect();
        rows.sort_by(|a, b| crate::service::state::key_cmp(&a.0, &b.0));
        StatePage::from_sorted(q, rows)
    }
}
