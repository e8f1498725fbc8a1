//! Auto-response benchmarks, against the appliance itself in this process:
//! 1. Event to first action: 1,000 events, each matched by a rule whose
//!    action is an SNMP notification; the time from the event to the trap
//!    at a real `snmptrapd`, against the reference of the same event's own
//!    notification (sent by the SNMP face with no rule in between) to the
//!    same snmptrapd in the same run.
//! 2. 1,000 rules (every event kind and filter mix) under 10,000 events a
//!    second for 5 s: the events the rules service saw, missed, and how long
//!    it took to catch up after the last one.
//!
//! Run: cargo bench --bench rules
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lifeline::appliance::{Appliance, Options};
use lifeline::events::{EventKind, Severity};
use parking_lot::Mutex;
use serde_json::{Map, Value, json};

const RULE_TRAP: &str = ".1.3.6.1.4.1.8072.9999.9999.5433.0.32";
const ALERT_TRAP: &str = ".1.3.6.1.4.1.8072.9999.9999.5433.0.13";

fn free_udp() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn factory(agent: u16, trapd: u16, rules: &str) -> String {
    format!(
        r#"<management xmlns="urn:lifeline:params:xml:ns:yang:lifeline-system"><netconf><enabled>false</enabled></netconf><cli><enabled>false</enabled></cli></management>
<system xmlns="urn:ietf:params:xml:ns:yang:ietf-system"><authentication><user><name>admin</name></user></authentication></system>
<snmp xmlns="urn:ietf:params:xml:ns:yang:ietf-snmp"><engine><enabled>true</enabled><listen><name>lo</name><udp><ip>127.0.0.1</ip><port>{agent}</port></udp></listen><version><v2c/></version></engine>
<community><index>public</index><text-name>public</text-name><security-name>public</security-name></community>
<target><name>noc</name><udp><ip>127.0.0.1</ip><port>{trapd}</port></udp><tag>noc</tag><target-params>v2</target-params></target>
<target-params><name>v2</name><v2c><security-name>public</security-name></v2c></target-params>
<notify><name>noc</name><tag>noc</tag><type>trap</type></notify>
<vacm><group><name>all</name><member><security-name>public</security-name><security-model>v2c</security-model></member>
<access><context></context><security-model>any</security-model><security-level>no-auth-no-priv</security-level><read-view>all</read-view><notify-view>all</notify-view></access></group>
<view><name>all</name><include>1</include></view></vacm></snmp>
<auto-response xmlns="urn:lifeline:params:xml:ns:yang:lifeline-auto-response"><boot-delay>0</boot-delay>{rules}</auto-response>"#
    )
}

fn tempdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ll-bench-rules-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

async fn start(tag: &str, factory: String) -> Appliance {
    Appliance::start(Options {
        state_dir: tempdir(tag),
        factory,
        extra_yang: Vec::new(),
        plugins: Vec::new(),
        opener: Arc::new(lifeline::ports::serial::TtyOpener),
    })
    .await
    .unwrap()
}

fn alert(seq: usize, port: &str) -> Map<String, Value> {
    let Value::Object(m) =
        json!({"port": port, "pattern": "crash", "line": format!("mark-{seq}-end")})
    else {
        unreachable!()
    };
    m
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// snmptrapd printing one line per trap; each line timed as it arrives.
struct Trapd {
    child: std::process::Child,
    seen: Arc<Mutex<HashMap<(bool, usize), Instant>>>,
}

impl Drop for Trapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn trapd(port: u16) -> Option<Trapd> {
    let dir = tempdir("trapd");
    let conf = dir.join("snmptrapd.conf");
    std::fs::write(&conf, "authCommunity log public\n").unwrap();
    let mut child = Command::new("snmptrapd")
        .args(["-f", "-C", "-c"])
        .arg(&conf)
        .args(["-Lo", "-On", "-n", "-F", "%v\n"])
        .arg(format!("udp:127.0.0.1:{port}"))
        .env("MIBS", "")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let out = child.stdout.take()?;
    let seen: Arc<Mutex<HashMap<(bool, usize), Instant>>> = Arc::default();
    let s = seen.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            let at = Instant::now();
            let Some(i) = line.find("mark-") else {
                continue;
            };
            let Some(seq) = line[i + 5..].split('-').next().and_then(|n| n.parse().ok()) else {
                continue;
            };
            let rule = line.contains(RULE_TRAP);
            if rule || line.contains(ALERT_TRAP) {
                s.lock().entry((rule, seq)).or_insert(at);
            }
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    Some(Trapd { child, seen })
}

async fn first_action() {
    let trap_port = free_udp();
    let Some(td) = trapd(trap_port) else {
        println!("event to first action: snmptrapd is not installed, skipped");
        return;
    };
    let rule = r#"<rule><name>crash</name><run-as>admin</run-as><trigger><event xmlns:llt="urn:lifeline:params:xml:ns:yang:lifeline-types">llt:port-alert-match</event><filter><name>port</name><value-pattern>router1</value-pattern></filter></trigger>
<action><name>tell</name><snmp-notification><tag>noc</tag></snmp-notification></action></rule>"#;
    let app = start("first", factory(free_udp(), trap_port, rule)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let n = 1000;
    let mut emitted = Vec::with_capacity(n);
    for seq in 0..n {
        emitted.push(Instant::now());
        app.platform.events.publish(
            EventKind::PortAlertMatch,
            "lifeline-ports:port-alert-match",
            Severity::Warning,
            "ports/router1".into(),
            "a line matched".into(),
            alert(seq, "router1"),
        );
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while td.seen.lock().len() < 2 * n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = td.seen.lock().clone();
    let lat = |rule: bool| -> Vec<f64> {
        (0..n)
            .filter_map(|s| {
                seen.get(&(rule, s))
                    .map(|t| (*t - emitted[s]).as_secs_f64() * 1e3)
            })
            .collect()
    };
    let (mut r, mut d) = (lat(true), lat(false));
    println!(
        "event to first action over {n} events (trap at snmptrapd), ms: \
         rule action median {:.3} p99 {:.3} ({} received); the event's own trap median {:.3} p99 {:.3} ({} received)",
        percentile(&mut r, 0.5),
        percentile(&mut r, 0.99),
        r.len(),
        percentile(&mut d, 0.5),
        percentile(&mut d, 0.99),
        d.len()
    );
    println!(
        "  ratio rule / own trap: median {:.2}, p99 {:.2}",
        percentile(&mut r, 0.5) / percentile(&mut d, 0.5),
        percentile(&mut r, 0.99) / percentile(&mut d, 0.99)
    );
    app.shutdown(Duration::from_millis(100)).await;
}

fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = s
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

async fn thousand_rules() {
    // 1,000 rules: 900 on port-alert-match filtered by port (router0..899),
    // 100 on other kinds; one event in a hundred matches a rule (a syslog
    // action to a local UDP sink).
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink_port = sink.local_addr().unwrap().port();
    let mut rules = String::new();
    for i in 0..1000 {
        let trigger = if i < 900 {
            format!(
                r#"<event xmlns:llt="urn:lifeline:params:xml:ns:yang:lifeline-types">llt:port-alert-match</event><filter><name>port</name><value-pattern>router{i}</value-pattern></filter>"#
            )
        } else {
            let kinds = [
                "uplink-down",
                "ups-on-battery",
                "login-failure",
                "outlet-state-change",
            ];
            format!(
                r#"<event xmlns:llt="urn:lifeline:params:xml:ns:yang:lifeline-types">llt:{}</event><source-pattern>^nowhere/</source-pattern>"#,
                kinds[i % kinds.len()]
            )
        };
        rules.push_str(&format!(
            r#"<rule><name>r{i}</name><run-as>admin</run-as><trigger>{trigger}</trigger><rate-limit><max-triggers>1000000</max-triggers></rate-limit>
<action><name>log</name><syslog><server>127.0.0.1</server><port>{sink_port}</port></syslog></action></rule>"#
        ));
    }
    let app = start("thousand", factory(free_udp(), free_udp(), &rules)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let state = |leaf: &str| -> u64 {
        app.platform
            .registry
            .read_all(
                "/lifeline-auto-response:auto-response",
                lifeline::service::state::Select::All,
            )
            .first()
            .and_then(|v| v.get(leaf)?.as_str()?.parse().ok())
            .unwrap_or(0)
    };
    let seen0 = state("events-seen");
    let (rate, secs) = (10_000usize, 5usize);
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut sent = 0usize;
    // Bursts of 100 every 10 ms.
    for tick in 0..(secs * 100) {
        let due = t0 + Duration::from_millis(tick as u64 * 10);
        tokio::time::sleep_until(due.into()).await;
        for _ in 0..rate / 100 {
            let port = if sent.is_multiple_of(100) {
                format!("router{}", sent / 100 % 900)
            } else {
                format!("switch{}", sent % 900)
            };
            app.platform.events.publish(
                EventKind::PortAlertMatch,
                "lifeline-ports:port-alert-match",
                Severity::Warning,
                format!("ports/{port}"),
                "a line matched".into(),
                alert(sent, &port),
            );
            sent += 1;
        }
    }
    let offered = t0.elapsed();
    let last = Instant::now();
    // Every event the bus carried (ours, plus what the rules themselves emit).
    while state("events-seen") - seen0 < sent as u64 && last.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let caught_up = last.elapsed();
    let cpu = cpu_seconds() - cpu0;
    let seen = state("events-seen") - seen0;
    let missed = state("events-missed");
    println!(
        "1,000 rules, {} events in {:.2} s ({:.0}/s offered): seen {} (ratio to offered {:.2}, \
         includes the rules' own events), missed {missed}, caught up {:.1} ms after the last, \
         CPU {:.2} s of {:.2} s ({:.0}% of one core, whole appliance incl. the event source)",
        sent,
        offered.as_secs_f64(),
        sent as f64 / offered.as_secs_f64(),
        seen,
        seen as f64 / sent as f64,
        caught_up.as_secs_f64() * 1e3,
        cpu,
        offered.as_secs_f64(),
        cpu / offered.as_secs_f64() * 100.0
    );
    app.shutdown(Duration::from_millis(100)).await;
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Each part runs in a process of its own (one appliance per process).
    if let Some(i) = args.iter().position(|a| a == "--part") {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        return rt.block_on(async {
            match args[i + 1].as_str() {
                "first" => first_action().await,
                _ => thousand_rules().await,
            }
        });
    }
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    for part in ["first", "thousand"] {
        let status = Command::new(std::env::current_exe().unwrap())
            .args(["--part", part])
            .env("RUST_LOG", "error")
            .status()
            .unwrap();
        assert!(status.success(), "part {part}");
    }
}
