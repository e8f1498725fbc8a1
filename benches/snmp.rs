//! SNMP agent benchmark: lifelined against net-snmp's snmpd on this machine, in
//! one run, under the same compiled load generator (a window of requests in
//! flight on one UDP socket). Prints ratios (lifelined / snmpd):
//!   GET/s v2c, GET/s v3 authPriv (SHA + AES), and objects/s of a full
//!   snmpbulkwalk (net-snmp's tool, each agent's whole tree).
//! Run: cargo bench --bench snmp
use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lifeline::northbound::snmp::agent::{Seal, seal};
use lifeline::northbound::snmp::ber::{Oid, Value};
use lifeline::northbound::snmp::config::{Level, User};
use lifeline::northbound::snmp::message::{self, FLAG_PRIV, FLAG_REPORTABLE, Pdu, PduType};
use lifeline::northbound::snmp::usm::{self, AuthProto, PrivProto};

const WINDOW: usize = 32;
const SECONDS: f64 = 4.0;
const SYS_DESCR: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 1, 0];
const PORTS: u32 = 240;
const ENGINE_HEX: &str = "80:00:1f:88:04:62:65:6e:63:68";

fn free_udp() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A client's view of a v3 engine.
struct V3 {
    engine: Vec<u8>,
    boots: u32,
    time: u32,
    key: Vec<u8>,
}

fn get_pdu(id: i32) -> Pdu {
    Pdu {
        kind: PduType::Get,
        request_id: id,
        error_status: 0,
        error_index: 0,
        varbinds: vec![(Oid(SYS_DESCR.to_vec()), Value::Null)],
    }
}

fn v3_request(v3: &V3, id: i32, salt: u64) -> Vec<u8> {
    let scoped = message::encode_scoped(&v3.engine, b"", &get_pdu(id));
    let user = User {
        name: "admin".into(),
        auth: Some((AuthProto::Sha1, v3.key.clone())),
        privacy: Some((PrivProto::Aes128, v3.key.clone())),
    };
    let s = Seal {
        user: &user,
        level: Level::AuthPriv,
        msg_id: id,
        flags: FLAG_REPORTABLE,
        engine: &v3.engine,
        boots: v3.boots,
        time: v3.time,
        salt: salt.to_be_bytes(),
    };
    seal(&s, &scoped)
}

/// The id a response answers: the request-id (v2c) or msgID (v3).
fn answer_id(b: &[u8]) -> Option<i32> {
    match message::decode(b).ok()? {
        message::Message::Community(c) if c.pdu.error_status == 0 => Some(c.pdu.request_id),
        message::Message::V3(m) if m.flags & FLAG_PRIV != 0 => Some(m.msg_id),
        _ => None,
    }
}

/// RFC 3414 discovery: the engine's ID, boots and time, then the keys.
fn discover(sock: &UdpSocket, to: SocketAddr) -> V3 {
    sock.send_to(&message::discovery_probe(1), to).unwrap();
    let mut buf = [0u8; 65536];
    let (n, _) = sock.recv_from(&mut buf).expect("discovery report");
    let Ok(message::Message::V3(m)) = message::decode(&buf[..n]) else {
        panic!("discovery: not a v3 report")
    };
    let ku = AuthProto::Sha1.password_to_key(b"adminadmin");
    V3 {
        engine: m.usm.engine_id.to_vec(),
        boots: m.usm.boots as u32,
        time: m.usm.time as u32,
        key: AuthProto::Sha1.localize(&ku, m.usm.engine_id),
    }
}

/// Requests answered per second with WINDOW in flight for SECONDS.
fn load(to: SocketAddr, v3: bool) -> f64 {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let eng = v3.then(|| discover(&sock, to));
    let mut next_id = 1000i32;
    let mut salt = 1u64;
    let mut request = |id: i32| -> Vec<u8> {
        match &eng {
            Some(e) => {
                salt += 1;
                v3_request(e, id, salt)
            }
            None => message::encode_community(message::V2C, b"public", &get_pdu(id)),
        }
    };
    for _ in 0..WINDOW {
        next_id += 1;
        sock.send_to(&request(next_id), to).unwrap();
    }
    let mut buf = [0u8; 65536];
    let start = Instant::now();
    let mut answered = 0u64;
    let mut timeouts = 0;
    while start.elapsed().as_secs_f64() < SECONDS {
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => {
                if answer_id(&buf[..n]).is_some() {
                    answered += 1;
                }
                next_id += 1;
                sock.send_to(&request(next_id), to).unwrap();
            }
            Err(_) => {
                // Lost datagrams: refill the window.
                timeouts += 1;
                for _ in 0..WINDOW {
                    next_id += 1;
                    sock.send_to(&request(next_id), to).unwrap();
                }
            }
        }
    }
    if timeouts > 0 {
        eprintln!("  ({timeouts} timeouts against {to})");
    }
    answered as f64 / start.elapsed().as_secs_f64()
}

/// Objects per second of net-snmp's snmpbulkwalk over the agent's whole tree.
fn bulkwalk(to: SocketAddr) -> (f64, usize) {
    let run = || {
        let start = Instant::now();
        let out = Command::new("snmpbulkwalk")
            .args([
                "-v2c",
                "-c",
                "public",
                "-On",
                "-Cr50",
                "-t",
                "5",
                &to.to_string(),
                ".1",
            ])
            .stderr(Stdio::null())
            .output()
            .expect("snmpbulkwalk");
        let n = out.stdout.iter().filter(|b| **b == b'\n').count();
        (n as f64 / start.elapsed().as_secs_f64(), n)
    };
    (0..3)
        .map(|_| run())
        .fold((0.0, 0), |a, b| if b.0 > a.0 { b } else { a })
}

fn wait_answer(to: SocketAddr) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 65536];
    for _ in 0..100 {
        let _ = sock.send_to(
            &message::encode_community(message::V2C, b"public", &get_pdu(1)),
            to,
        );
        if sock.recv_from(&mut buf).is_ok() {
            return;
        }
    }
    panic!("{to} never answered");
}

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

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
            best.0 = best.0.max(load(ll, v3));
            best.1 = best.1.max(load(rf, v3));
        }
        rows.push((name.to_string(), best.0, best.1));
    }
    let (wl, nl) = bulkwalk(ll);
    let (wr, nr) = bulkwalk(rf);
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
