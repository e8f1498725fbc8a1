//! SNMP agent benchmark: lifelined against net-snmp's snmpd on this machine, in
//! one run, under the same compiled load generator (a window of requests in
//! flight on one UDP socket). Prints ratios (lifelined / snmpd):
//!   GET/s v2c, GET/s v3 authPriv (SHA + AES), and objects/s of a full
//!   snmpbulkwalk (net-snmp's tool, each agent's whole tree).
//! Run: cargo bench --bench snmp
#[path = "common/snmp_load.rs"]
mod snmp_load;

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use lifeline::snmp::usm::{self, AuthProto};
use snmp_load::{Kill, SECONDS, SYS_DESCR, WINDOW, bulkwalk, free_udp, load, wait_answer};

const PORTS: u32 = 240;
const ENGINE_HEX: &str = "80:00:1f:88:04:62:65:6e:63:68";

fn snmpd(dir: &Path, port: u16) -> Kill {
    let conf = dir.join("snmpd.conf");
    std::fs::write(
        &conf,
        format!(
            "agentAddress udp:127.0.0.1:{port}\nrocommunity public 127.0.0.1\n\
             createUser admin SHA adminadmin AES adminadmin\nrouser admin priv\n\
             [snmp] persistentDir {}\n",
            dir.display()
        ),
    )
    .unwrap();
    let child = Command::new("snmpd")
        .args(["-f", "-C", "-c"])
        .arg(&conf)
        .args(["-I", "-smux", "-Lf", "/dev/null", "-p"])
        .arg(dir.join("snmpd.pid"))
        .env("SNMP_PERSISTENT_DIR", dir)
        .env("MIBS", "")
        .stdout(Stdio::null())
        .spawn()
        .expect("snmpd");
    Kill(child)
}

fn lifelined(dir: &Path, port: u16, netconf: u16) -> Kill {
    let key = usm::to_hex(&AuthProto::Sha1.localize(
        &AuthProto::Sha1.password_to_key(b"adminadmin"),
        &usm::parse_hex(ENGINE_HEX).unwrap(),
    ));
    // Console ports (disabled, so nothing is opened) give the tree about as
    // many objects as snmpd's, for the walk.
    let ports: String = (1..=PORTS)
        .map(|n| {
            format!(
                "<port><name>port{n:03}</name><number>{n}</number><label>rack {n}</label>\
                 <enabled>false</enabled><device>/dev/ttyBENCH{n}</device></port>"
            )
        })
        .collect();
    let factory = format!(
        r#"<system xmlns="urn:ietf:params:xml:ns:yang:ietf-system"><authentication><user><name>admin</name><password>$0$admin</password></user></authentication></system>
<management xmlns="urn:lifeline:params:xml:ns:yang:lifeline-system"><netconf><endpoint><name>lo</name><address>127.0.0.1</address><port>{netconf}</port></endpoint></netconf></management>
<snmp xmlns="urn:ietf:params:xml:ns:yang:ietf-snmp"><engine><enabled>true</enabled><listen><name>lo</name><udp><ip>127.0.0.1</ip><port>{port}</port></udp></listen><version><v2c/><v3/></version><engine-id>{ENGINE_HEX}</engine-id></engine>
<community><index>public</index><text-name>public</text-name><security-name>public</security-name></community>
<usm><local><user><name>admin</name><auth><sha><key>{key}</key></sha></auth><priv><aes><key>{key}</key></aes></priv></user></local></usm>
<vacm><group><name>all</name><member><security-name>public</security-name><security-model>v2c</security-model></member><member><security-name>admin</security-name><security-model>usm</security-model></member>
<access><context></context><security-model>any</security-model><security-level>no-auth-no-priv</security-level><read-view>all</read-view></access></group>
<view><name>all</name><include>1</include></view></vacm></snmp>
<ports xmlns="urn:lifeline:params:xml:ns:yang:lifeline-ports">{ports}</ports>"#
    );
    let path = dir.join("factory.xml");
    std::fs::write(&path, factory).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_lifelined"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--factory-config")
        .arg(&path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("lifelined");
    Kill(child)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary
    // without it, and a benchmark is no test.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("ll-bench-snmp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (p_ll, p_ref) = (free_udp(), free_udp());
    let netconf = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _ll = lifelined(&dir, p_ll, netconf);
    let _ref = snmpd(&dir, p_ref);
    let (ll, rf): (SocketAddr, SocketAddr) = (
        format!("127.0.0.1:{p_ll}").parse().unwrap(),
        format!("127.0.0.1:{p_ref}").parse().unwrap(),
    );
    wait_answer(ll);
    wait_answer(rf);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "SNMP benchmark: lifelined vs net-snmp snmpd, {cpus} CPUs, window {WINDOW}, {SECONDS} s per run"
    );
    let mut rows = Vec::new();
    for (name, v3) in [("GET/s v2c", false), ("GET/s v3 authPriv SHA/AES", true)] {
        // Alternate the two agents and keep each one's best run.
        let mut best = (0.0f64, 0.0f64);
        for _ in 0..2 {
            best.0 = best.0.max(load(ll, v3, SYS_DESCR));
            best.1 = best.1.max(load(rf, v3, SYS_DESCR));
        }
        rows.push((name.to_string(), best.0, best.1));
    }
    let (wl, nl) = bulkwalk(ll, ".1");
    let (wr, nr) = bulkwalk(rf, ".1");
    rows.push((format!("bulkwalk objects/s ({nl} vs {nr} objects)"), wl, wr));
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<48} {:>12} {:>12} {:>7}",
        "", "lifelined", "snmpd", "ratio"
    )
    .unwrap();
    for (name, a, b) in rows {
        writeln!(out, "{name:<48} {a:>12.0} {b:>12.0} {:>7.2}", a / b).unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
