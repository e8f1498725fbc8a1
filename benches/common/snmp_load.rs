//! The compiled SNMP load generator the benchmarks share: a window of GETs in
//! flight on one UDP socket (v2c, or v3 authPriv SHA/AES after discovery), and
//! net-snmp's snmpbulkwalk timed.
#![allow(dead_code)]
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lifeline::snmp::ber::{Oid, Value};
use lifeline::snmp::message::{self, FLAG_PRIV, FLAG_REPORTABLE, Pdu, PduType};
use lifeline::snmp::seal::{Seal, User, seal};
use lifeline::snmp::security::Level;
use lifeline::snmp::usm::{AuthProto, PrivProto};

pub const WINDOW: usize = 32;
pub const SECONDS: f64 = 4.0;
pub const SYS_DESCR: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 1, 0];

pub fn free_udp() -> u16 {
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

fn get_pdu(id: i32, oid: &[u32]) -> Pdu {
    Pdu {
        kind: PduType::Get,
        request_id: id,
        error_status: 0,
        error_index: 0,
        varbinds: vec![(Oid(oid.to_vec()), Value::Null)],
    }
}

fn v3_request(v3: &V3, id: i32, salt: u64, oid: &[u32]) -> Vec<u8> {
    let scoped = message::encode_scoped(&v3.engine, b"", &get_pdu(id, oid));
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

/// GETs of `oid` answered per second with WINDOW in flight for SECONDS.
pub fn load(to: SocketAddr, v3: bool, oid: &[u32]) -> f64 {
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
                v3_request(e, id, salt, oid)
            }
            None => message::encode_community(message::V2C, b"public", &get_pdu(id, oid)),
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

/// Objects per second of net-snmp's snmpbulkwalk of a subtree (best of three).
pub fn bulkwalk(to: SocketAddr, root: &str) -> (f64, usize) {
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
                root,
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

pub fn wait_answer(to: SocketAddr) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 65536];
    for _ in 0..100 {
        let _ = sock.send_to(
            &message::encode_community(message::V2C, b"public", &get_pdu(1, SYS_DESCR)),
            to,
        );
        if sock.recv_from(&mut buf).is_ok() {
            return;
        }
    }
    panic!("{to} never answered");
}

pub struct Kill(pub Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Objects per second of a compiled GETBULK walk (v2c, 50 repetitions) of a
/// subtree, walked again and again for `seconds`: the agent's steady rate,
/// without a client process's start-up in it. Also the objects of one walk.
pub fn bulk_rate(to: SocketAddr, root: &[u32], seconds: f64) -> (f64, usize) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = vec![0u8; 65536];
    let start = Instant::now();
    let (mut total, mut per_walk, mut id) = (0usize, 0usize, 1i32);
    while start.elapsed().as_secs_f64() < seconds {
        let mut cursor = Oid(root.to_vec());
        let mut n = 0;
        'walk: loop {
            id += 1;
            let pdu = Pdu {
                kind: PduType::GetBulk,
                request_id: id,
                error_status: 0,
                error_index: 50,
                varbinds: vec![(cursor.clone(), Value::Null)],
            };
            sock.send_to(
                &message::encode_community(message::V2C, b"public", &pdu),
                to,
            )
            .unwrap();
            let Ok((len, _)) = sock.recv_from(&mut buf) else {
                continue; // lost: ask again
            };
            let Ok(message::Message::Community(c)) = message::decode(&buf[..len]) else {
                continue;
            };
            if c.pdu.request_id != id || c.pdu.varbinds.is_empty() {
                continue;
            }
            for (oid, v) in &c.pdu.varbinds {
                if !oid.0.starts_with(root) || matches!(v, Value::EndOfMibView) {
                    break 'walk;
                }
                n += 1;
                cursor = oid.clone();
            }
        }
        total += n;
        per_walk = n;
    }
    (total as f64 / start.elapsed().as_secs_f64(), per_walk)
}
