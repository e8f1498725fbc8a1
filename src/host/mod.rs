//! The host the appliance runs on, as the model shows it.
pub mod interfaces;
pub mod process;
pub mod resources;
pub mod syslog;

/// When the host booted, as a YANG date-and-time (counters restart then).
pub fn boot_time() -> String {
    let uptime = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    let boot = chrono::Utc::now() - chrono::Duration::milliseconds((uptime * 1000.0) as i64);
    boot.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The host's name as the kernel knows it (syslog's HOSTNAME field).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "-".into())
}
