//! The host's processors, memory and storage (`lifeline-host:host-resources`),
//! read from /proc and statvfs on demand; processor load is sampled in the
//! background so a read can give the last minute's average at once.
use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use crate::service::{StatePage, StateProvider, StateQuery};

const ROOT: &str = "/lifeline-host:host-resources";
/// Samples kept: one every 5 s, a minute's worth.
const SAMPLES: usize = 13;

/// Per CPU: (busy, total) jiffies.
type Sample = Vec<(u64, u64)>;

pub struct HostResources {
    samples: Arc<Mutex<VecDeque<Sample>>>,
}

fn cpu_times() -> Sample {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    stat.lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .map(|l| {
            let v: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            let total: u64 = v.iter().take(8).sum();
            // idle + iowait are not busy.
            let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
            (total - idle.min(total), total)
        })
        .collect()
}

impl HostResources {
    pub fn new(rt: &tokio::runtime::Handle) -> HostResources {
        let samples = Arc::new(Mutex::new(VecDeque::from([cpu_times()])));
        let weak = Arc::downgrade(&samples);
        rt.spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let Some(s) = weak.upgrade() else { return };
                let mut s = s.lock();
                if s.len() == SAMPLES {
                    s.pop_front();
                }
                s.push_back(cpu_times());
            }
        });
        HostResources { samples }
    }

    /// Each CPU's load in percent since the oldest sample (about a minute).
    fn loads(&self) -> Vec<u64> {
        let now = cpu_times();
        let s = self.samples.lock();
        let Some(old) = s.front() else {
            return Vec::new();
        };
        now.iter()
            .enumerate()
            .map(|(i, (busy, total))| {
                let (b0, t0) = old.get(i).copied().unwrap_or((0, 0));
                let dt = total.saturating_sub(t0);
                (busy.saturating_sub(b0) * 100).checked_div(dt).unwrap_or(0)
            })
            .collect()
    }
}

fn meminfo() -> Vec<(String, u64)> {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.to_string(), v.split_whitespace().next()?.parse().ok()?))
        })
        .collect()
}

/// Mounted local file systems: (mount point, block size, blocks, used blocks).
fn filesystems() -> Vec<(String, u64, u64, u64)> {
    const REAL: &[&str] = &[
        "ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "f2fs", "overlay", "zfs",
    ];
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for l in mounts.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let (Some(dev), Some(dir), Some(fs)) = (f.first(), f.get(1), f.get(2)) else {
            continue;
        };
        if !REAL.contains(fs) || seen.contains(dev) {
            continue;
        }
        seen.push(*dev);
        let dir = dir.replace("\\040", " ");
        let Ok(c) = std::ffi::CString::new(dir.clone()) else {
            continue;
        };
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
            continue;
        }
        let bsize = st.f_frsize as u64;
        let blocks = st.f_blocks as u64;
        out.push((dir, bsize, blocks, blocks.saturating_sub(st.f_bfree as u64)));
    }
    out
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

impl StateProvider for HostResources {
    fn roots(&self) -> Vec<&'static str> {
        vec![ROOT]
    }

    fn read(&self, _q: &StateQuery) -> StatePage {
        let uptime = std::fs::read_to_string("/proc/uptime")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
            .unwrap_or(0.0);
        let procs = std::fs::read_dir("/proc")
            .map(|d| {
                d.flatten()
                    .filter(|e| {
                        e.file_name()
                            .to_string_lossy()
                            .bytes()
                            .all(|b| b.is_ascii_digit())
                    })
                    .count()
            })
            .unwrap_or(0);
        let mem = meminfo();
        let get = |k: &str| mem.iter().find(|(n, _)| n == k).map_or(0, |(_, v)| *v);
        let model = cpu_model();
        let processors: Vec<Value> = self
            .loads()
            .iter()
            .enumerate()
            .map(|(i, load)| json!({"index": i + 1, "description": model, "load": load.min(&100)}))
            .collect();
        let mut storage = vec![
            (
                "ram",
                "Physical memory".to_string(),
                1024,
                get("MemTotal"),
                get("MemTotal") - get("MemAvailable").min(get("MemTotal")),
            ),
            (
                "virtual-memory",
                "Swap space".to_string(),
                1024,
                get("SwapTotal"),
                get("SwapTotal") - get("SwapFree").min(get("SwapTotal")),
            ),
        ];
        for (dir, bsize, blocks, used) in filesystems() {
            storage.push(("fixed-disk", dir, bsize, blocks, used));
        }
        let storage: Vec<Value> = storage
            .into_iter()
            .enumerate()
            .map(|(i, (kind, descr, unit, size, used))| {
                // uint64 is a string in RFC 7951 JSON.
                json!({"index": i + 1, "kind": kind, "description": descr,
                       "allocation-unit": unit, "size": size.to_string(), "used": used.to_string()})
            })
            .collect();
        StatePage {
            entries: vec![json!({
                "uptime": format!("{uptime:.2}"),
                "current-time": chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
                "processes": procs,
                "memory-size": get("MemTotal").to_string(),
                "processor": processors,
                "storage": storage,
            })],
            next: None,
        }
    }
}
