//! Operational state of the host's links (`ietf-interfaces:interfaces-state`),
//! read from sysfs on demand: the uplinks as an NMS sees them.
use std::fs;
use std::path::{Path, PathBuf};

use crate::service::{CommitView, NoChange, Prepared, Refusal, Service, StateEntries, StateQuery};

const ROOT: &str = "/ietf-interfaces:interfaces-state";

pub struct Interfaces {
    sysfs: PathBuf,
}

impl Interfaces {
    pub fn new() -> Interfaces {
        Interfaces {
            sysfs: PathBuf::from("/sys/class/net"),
        }
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.sysfs)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        names
    }
}

impl Default for Interfaces {
    fn default() -> Self {
        Interfaces::new()
    }
}

fn read(dir: &Path, file: &str) -> Option<String> {
    fs::read_to_string(dir.join(file))
        .ok()
        .map(|s| s.trim().to_string())
}

/// The IANA ifType of a Linux ARPHRD_* link type.
fn if_type(arphrd: Option<&str>) -> &'static str {
    match arphrd {
        Some("1") => "iana-if-type:ethernetCsmacd",
        Some("772") => "iana-if-type:softwareLoopback",
        Some("512") => "iana-if-type:ppp",
        Some("768") | Some("769") | Some("776") | Some("778") | Some("823") => {
            "iana-if-type:tunnel"
        }
        Some("801") => "iana-if-type:ieee80211",
        _ => "iana-if-type:other",
    }
}

fn oper_status(s: Option<&str>) -> &'static str {
    match s {
        Some("up") => "up",
        Some("down") => "down",
        Some("testing") => "testing",
        Some("dormant") => "dormant",
        Some("notpresent") => "not-present",
        Some("lowerlayerdown") => "lower-layer-down",
        _ => "unknown",
    }
}

impl Service for Interfaces {
    fn name(&self) -> &str {
        "interfaces"
    }

    fn prefixes(&self) -> Vec<String> {
        Vec::new()
    }

    fn prepare(&mut self, _view: &CommitView<'_>) -> Result<Box<dyn Prepared>, Refusal> {
        Ok(Box::new(NoChange))
    }

    fn state_roots(&self) -> Vec<String> {
        vec![ROOT.into()]
    }

    fn state(&self, q: &StateQuery) -> StateEntries {
        let mut out = Vec::new();
        let after = q.after.as_ref().and_then(|k| k.first()).cloned();
        let names = self.names();
        let todo = names
            .iter()
            .filter(|n| after.as_ref().is_none_or(|a| *n > a))
            .take(q.limit.unwrap_or(usize::MAX));
        for name in todo {
            if name.contains('\'') {
                continue;
            }
            let dir = self.sysfs.join(name);
            let base = format!("{ROOT}/interface[name='{name}']");
            let mut leaf = |p: &str, v: String| out.push((format!("{base}/{p}"), Some(v)));
            leaf("type", if_type(read(&dir, "type").as_deref()).into());
            leaf(
                "oper-status",
                oper_status(read(&dir, "operstate").as_deref()).into(),
            );
            let up = read(&dir, "flags")
                .and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok())
                .is_some_and(|f| f & 1 == 1);
            leaf("admin-status", if up { "up" } else { "down" }.into());
            if let Some(i) = read(&dir, "ifindex") {
                leaf("if-index", i);
            }
            if let Some(mac) = read(&dir, "address").filter(|m| m.len() == 17) {
                leaf("phys-address", mac);
            }
            if let Some(speed) = read(&dir, "speed")
                .and_then(|s| s.parse::<i64>().ok())
                .filter(|s| *s > 0)
            {
                leaf("speed", (speed as u64 * 1_000_000).to_string());
            }
            leaf("statistics/discontinuity-time", crate::host::boot_time());
            let stats = dir.join("statistics");
            for (yang, file) in [
                ("in-octets", "rx_bytes"),
                ("in-unicast-pkts", "rx_packets"),
                ("in-multicast-pkts", "multicast"),
                ("in-discards", "rx_dropped"),
                ("in-errors", "rx_errors"),
                ("out-octets", "tx_bytes"),
                ("out-unicast-pkts", "tx_packets"),
                ("out-discards", "tx_dropped"),
                ("out-errors", "tx_errors"),
            ] {
                if let Some(v) = read(&stats, file) {
                    leaf(&format!("statistics/{yang}"), v);
                }
            }
        }
        out
    }
}
