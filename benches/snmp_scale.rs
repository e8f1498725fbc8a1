//! How the SNMP agent scales with the size of the state behind it: the same
//! GETs and walks with 10,000 rows from a provider against 100 rows. The rows
//! are interfaces (ifTable and ifXTable), from a provider
//! that stands in for the host's. Each appliance runs in a process of its own
//! (this binary, run with --serve), under the compiled load generator.
//! Run: cargo bench --bench snmp_scale
#[path = "common/snmp_load.rs"]
mod snmp_load;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;

use lifeline::appliance::{Appliance, Options};
use lifeline::service::{StatePage, StateProvider, StateQuery};
use snmp_load::{Kill, bulk_rate, bulkwalk, free_udp, load, wait_answer};

const IF_DESCR_1: &[u32] = &[1, 3, 6, 1, 2, 1, 2, 2, 1, 2, 1];

/// `rows` interfaces, as the host's provider would give them.
struct Interfaces(usize);

impl StateProvider for Interfaces {
    fn roots(&self) -> Vec<&'static str> {
        vec!["/ietf-interfaces:interfaces-state/interface"]
    }

    fn read(&self, q: &StateQuery) -> StatePage {
        StatePage::from_sorted(
            q,
            (0..self.0).map(|i| format!("if{i:05}")).filter(|n| q.wants(n)).map(|n| {
                let i: i32 = n[2..].parse().unwrap();
                let c = |k: u64| (k * 1000 + i as u64).to_string();
                (
                    vec![n.clone()],
                    serde_json::json!({
                        "name": n, "type": "iana-if-type:ethernetCsmacd", "if-index": i + 1,
                        "admin-status": "up", "oper-status": "up",
                        "phys-address": "02:00:00:00:00:01", "speed": "1000000000",
                        "statistics": {
                            "discontinuity-time": "2026-12-02T00:00:00Z",
                            "in-octets": c(1), "in-unicast-pkts": c(2), "in-multicast-pkts": c(3),
                            "in-discards": 0, "in-errors": 0, "out-octets": c(4),
                            "out-unicast-pkts": c(5), "out-discards": 0, "out-errors": 0,
                        }
                    }),
                )
            }),
        )
    }
}

fn serve(rows: usize, port: u16) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let dir = std::env::temp_dir().join(format!("ll-scale-{}", std::process::id()));
        let factory = format!(
            r#"<management xmlns="urn:lifeline:params:xml:ns:yang:lifeline-system"><netconf><enabled>false</enabled></netconf><cli><enabled>false</enabled></cli></management>
<snmp xmlns="urn:ietf:params:xml:ns:yang:ietf-snmp"><engine><enabled>true</enabled><listen><name>lo</name><udp><ip>127.0.0.1</ip><port>{port}</port></udp></listen><version><v2c/></version></engine>
<community><index>public</index><text-name>public</text-name><security-name>public</security-name></community>
<vacm><group><name>all</name><member><security-name>public</security-name><security-model>v2c</security-model></member>
<access><context></context><security-model>any</security-model><security-level>no-auth-no-priv</security-level><read-view>all</read-view></access></group>
<view><name>all</name><include>1</include></view></vacm></snmp>"#
        );
        let _app = Appliance::start(Options {
            state_dir: dir.clone(),
            factory,
            extra_yang: Vec::new(),
            plugins: vec![Box::new(move |p| {
                p.registry.replace(Arc::new(Interfaces(rows)));
                Vec::new()
            })],
            opener: Arc::new(lifeline::ports::serial::TtyOpener),
        })
        .await
        .unwrap();
        // Until the parent kills us.
        std::future::pending::<()>().await;
    });
}

fn spawn(rows: usize) -> (Kill, SocketAddr) {
    let port = free_udp();
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--serve", &rows.to_string(), &port.to_string()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_answer(addr);
    (Kill(child), addr)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        return serve(args[i + 1].parse().unwrap(), args[i + 2].parse().unwrap());
    }
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    let (_small, small) = spawn(100);
    let (_big, big) = spawn(10_000);
    println!("SNMP scaling: 10,000 provider rows against 100 (ratio big / small; 1.0 is flat)");
    let mut rows = Vec::new();
    for (name, oid) in [
        ("GET/s sysDescr.0", snmp_load::SYS_DESCR),
        ("GET/s ifDescr.1 (a row of the table)", IF_DESCR_1),
    ] {
        let mut best = (0.0f64, 0.0f64);
        for _ in 0..2 {
            best.0 = best.0.max(load(small, false, oid));
            best.1 = best.1.max(load(big, false, oid));
        }
        rows.push((name.to_string(), best.0, best.1));
    }
    let if_mib = [1, 3, 6, 1, 2, 1, 2];
    let (ws, ns) = bulk_rate(small, &if_mib, 6.0);
    let (wb, nb) = bulk_rate(big, &if_mib, 6.0);
    rows.push((
        format!("GETBULK walk objects/s of ifTable ({ns} vs {nb} objects)"),
        ws,
        wb,
    ));
    let (ws, ns) = bulkwalk(small, ".1.3.6.1.2.1.2");
    let (wb, nb) = bulkwalk(big, ".1.3.6.1.2.1.2");
    rows.push((
        format!("snmpbulkwalk objects/s of ifTable ({ns} vs {nb} objects)"),
        ws,
        wb,
    ));
    println!(
        "{:<52} {:>12} {:>12} {:>7}",
        "", "100 rows", "10,000 rows", "ratio"
    );
    for (name, a, b) in rows {
        println!("{name:<52} {a:>12.0} {b:>12.0} {:>7.2}", b / a);
    }
}
