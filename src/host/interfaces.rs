//! Operational state of the host's links (`ietf-interfaces:interfaces-state`),
//! read from sysfs on demand: the uplinks as an NMS sees them.
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::service::{StatePage, StateProvider, StateQuery};

const LIST: &str = "/ietf-interfaces:interfaces-state/interface";

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

impl StateProvider for Interfaces {
    fn roots(&self) -> Vec<&'static str> {
        vec![LIST]
    }

    fn read(&self, q: &StateQuery) -> StatePage {
        let names = self.names();
        StatePage::from_sorted(
            q,
            names
                .iter()
                .filter(|n| q.wants(n))
                .map(|name| (vec![name.clone()], self.interface(name))),
        )
    }
}

impl Interfaces {
    fn interface(&self, name: &str) -> Value {
        let dir = self.sysfs.join(name);
        let up = read(&dir, "flags")
            .and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok())
            .is_some_and(|f| f & 1 == 1);
        let mut v = json!({
            "name": name,
            "type": if_type(read(&dir, "type").as_deref()),
            "admin-status": if up { "up" } else { "down" },
            "oper-status": oper_status(read(&dir, "operstate").as_deref()),
        });
        if let Some(i) = read(&dir, "ifindex").and_then(|i| i.parse::<i32>().ok()) {
            v["if-index"] = json!(i);
        }
        if let Some(mac) = read(&dir, "address").filter(|m| m.len() == 17) {
            v["phys-address"] = json!(mac);
        }
        if let Some(speed) = read(&dir, "speed")
            .and_then(|s| s.parse::<i64>().ok())
            .filter(|s| *s > 0)
        {
            // gauge64: a string in RFC 7951 JSON.
            v["speed"] = json!((speed as u64 * 1_000_000).to_string());
        }
        let mut stats = json!({"discontinuity-time": crate::host::boot_time()});
        let sdir = dir.join("statistics");
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
            if let Some(n) = read(&sdir, file).and_then(|n| n.parse::<u64>().ok()) {
                // counter64 is a string; counter32 (discards, errors) a number.
                stats[yang] = if yang.ends_with("discards") || yang.ends_with("errors") {
                    json!(n as u32)
                } else {
                    json!(n.to_string())
                };
            }
        }
        v["statistics"] = stats;
        v
    }
}
