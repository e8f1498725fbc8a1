//! The demo's simulated power devices, on loopback: a UPS served by a small
//! upsd (the NUT protocol) and a PDU behind a small powermand (the Powerman
//! protocol), so the demo exercises the real drivers. The PDU's plugs tell
//! whoever listens (the simulated routers) when their power goes and comes.
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::nut::{quote, tokens};

/// Told when a plug is switched: (plug, on).
pub type PlugWatch = Arc<dyn Fn(&str, bool) + Send + Sync>;

/// A PDU behind a powermand: plugs by node name, all on at start.
pub struct PowermanSim {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl PowermanSim {
    pub async fn start(
        at: SocketAddr,
        nodes: &[String],
        watch: PlugWatch,
    ) -> std::io::Result<PowermanSim> {
        let l = TcpListener::bind(at).await?;
        let addr = l.local_addr()?;
        let plugs: Arc<Mutex<BTreeMap<String, bool>>> = Arc::new(Mutex::new(
            nodes.iter().map(|n| (n.clone(), true)).collect(),
        ));
        let task = tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                tokio::spawn(powerman_session(s, plugs.clone(), watch.clone()));
            }
        });
        Ok(PowermanSim { addr, task })
    }
}

impl Drop for PowermanSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn powerman_session(
    s: TcpStream,
    plugs: Arc<Mutex<BTreeMap<String, bool>>>,
    watch: PlugWatch,
) {
    let (rd, mut wr) = s.into_split();
    let mut lines = BufReader::new(rd).lines();
    if wr
        .write_all(b"001 2.3.27 (lifeline demo)\r\npowerman> ")
        .await
        .is_err()
    {
        return;
    }
    let mut expand = false;
    while let Ok(Some(line)) = lines.next_line().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        let mut out = String::new();
        match words.as_slice() {
            ["exprange"] => {
                expand = !expand;
                out.push_str(if expand {
                    "105 Hostrange expansion ON\r\n"
                } else {
                    "105 Hostrange expansion OFF\r\n"
                });
            }
            ["status"] | ["status", _] => {
                let p = plugs.lock();
                let wanted = words.get(1);
                for (n, on) in p
                    .iter()
                    .filter(|(n, _)| wanted.is_none_or(|w| *w == n.as_str()))
                {
                    out.push_str(&format!("303 {n}: {}\r\n", if *on { "on" } else { "off" }));
                }
                if !expand {
                    out.clear();
                    let on: Vec<&str> = p
                        .iter()
                        .filter(|(_, o)| **o)
                        .map(|(n, _)| n.as_str())
                        .collect();
                    let off: Vec<&str> = p
                        .iter()
                        .filter(|(_, o)| !**o)
                        .map(|(n, _)| n.as_str())
                        .collect();
                    out.push_str(&format!(
                        "302 on:      {}\r\n302 off:     {}\r\n302 unknown: \r\n",
                        on.join(","),
                        off.join(",")
                    ));
                }
                out.push_str("103 Query complete\r\n");
            }
            [verb @ ("on" | "off" | "cycle" | "reset"), node] => {
                let known = plugs.lock().contains_key(*node);
                if !known {
                    out.push_str(&format!("209 No such nodes: {node}\r\n"));
                } else {
                    let set = |on: bool| {
                        plugs.lock().insert(node.to_string(), on);
                        watch(node, on);
                    };
                    match *verb {
                        "on" => set(true),
                        "off" => set(false),
                        _ => {
                            set(false);
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            set(true);
                        }
                    }
                    out.push_str("102 Command completed successfully\r\n");
                }
            }
            ["quit"] => {
                let _ = wr.write_all(b"101 Goodbye\r\n").await;
                return;
            }
            _ => out.push_str("201 Unknown command\r\n"),
        }
        out.push_str("powerman> ");
        if wr.write_all(out.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// A UPS served by a small upsd: its variables, on line power, going on
/// battery for a minute every `period` (the demo's power cut).
pub struct NutSim {
    pub addr: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

type Vars = Arc<Mutex<BTreeMap<String, String>>>;

impl NutSim {
    pub async fn start(
        at: SocketAddr,
        ups: &str,
        user: &str,
        password: &str,
        period: Duration,
    ) -> std::io::Result<NutSim> {
        let l = TcpListener::bind(at).await?;
        let addr = l.local_addr()?;
        let vars: Vars = Arc::new(Mutex::new(
            [
                ("device.type", "ups"),
                ("device.mfr", "lifeline"),
                ("device.model", "Demo UPS"),
                ("ups.status", "OL"),
                ("battery.charge", "100"),
                ("battery.runtime", "1800"),
                ("ups.load", "23"),
                ("input.voltage", "230.0"),
                ("output.voltage", "230.0"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ));
        let (ups, user, password) = (ups.to_string(), user.to_string(), password.to_string());
        let v = vars.clone();
        let serve = tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                tokio::spawn(nut_session(
                    s,
                    v.clone(),
                    ups.clone(),
                    user.clone(),
                    password.clone(),
                ));
            }
        });
        let cut = tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                for (k, val) in [
                    ("ups.status", "OB"),
                    ("battery.charge", "80"),
                    ("input.voltage", "0.0"),
                ] {
                    vars.lock().insert(k.into(), val.into());
                }
                tokio::time::sleep(Duration::from_secs(60)).await;
                for (k, val) in [
                    ("ups.status", "OL"),
                    ("battery.charge", "100"),
                    ("input.voltage", "230.0"),
                ] {
                    vars.lock().insert(k.into(), val.into());
                }
            }
        });
        Ok(NutSim {
            addr,
            tasks: vec![serve, cut],
        })
    }
}

impl Drop for NutSim {
    fn drop(&mut self) {
        self.tasks.iter().for_each(|t| t.abort());
    }
}

async fn nut_session(s: TcpStream, vars: Vars, ups: String, user: String, password: String) {
    let (rd, mut wr) = s.into_split();
    let mut lines = BufReader::new(rd).lines();
    let (mut given_user, mut logged_in) = (None::<String>, false);
    while let Ok(Some(line)) = lines.next_line().await {
        let Ok(t) = tokens(&line) else {
            let _ = wr.write_all(b"ERR INVALID-ARGUMENT\n").await;
            continue;
        };
        let w: Vec<&str> = t.iter().map(String::as_str).collect();
        let unknown = |u: &str| u != ups;
        let out = match w.as_slice() {
            ["LIST", "VAR", u] if !unknown(u) => {
                let mut o = format!("BEGIN LIST VAR {u}\n");
                for (k, v) in vars.lock().iter() {
                    o.push_str(&format!("VAR {u} {k} {}\n", quote(v)));
                }
                o.push_str(&format!("END LIST VAR {u}\n"));
                o
            }
            ["LIST", "CMD", u] if !unknown(u) => format!("BEGIN LIST CMD {u}\nEND LIST CMD {u}\n"),
            ["GET", "VAR", u, k] if !unknown(u) => match vars.lock().get(*k) {
                Some(v) => format!("VAR {u} {k} {}\n", quote(v)),
                None => "ERR VAR-NOT-SUPPORTED\n".into(),
            },
            ["LIST", _, _] | ["GET", "VAR", _, _] => "ERR UNKNOWN-UPS\n".into(),
            ["USERNAME", u] => {
                given_user = Some(u.to_string());
                "OK\n".into()
            }
            ["PASSWORD", p] => {
                logged_in = given_user.as_deref() == Some(user.as_str()) && *p == password;
                if logged_in {
                    "OK\n".into()
                } else {
                    "ERR ACCESS-DENIED\n".into()
                }
            }
            ["SET", "TRACKING", "ON"] => "OK\n".into(),
            ["INSTCMD", ..] if !logged_in => "ERR USERNAME-REQUIRED\n".into(),
            ["INSTCMD", ..] => "ERR CMD-NOT-SUPPORTED\n".into(),
            ["LOGOUT"] => {
                let _ = wr.write_all(b"OK Goodbye\n").await;
                return;
            }
            _ => "ERR UNKNOWN-COMMAND\n".into(),
        };
        if wr.write_all(out.as_bytes()).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::power::{OutletState, nut, powerman};

    #[tokio::test]
    async fn the_real_clients_drive_the_simulators() {
        let seen: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
        let s2 = seen.clone();
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let pm = PowermanSim::start(
            any,
            &["t0".into(), "t1".into()],
            Arc::new(move |n, on| s2.lock().push((n.into(), on))),
        )
        .await
        .unwrap();
        let io = Box::new(TcpStream::connect(pm.addr).await.unwrap());
        let mut c = powerman::Client::start(io, Duration::from_secs(5))
            .await
            .unwrap();
        c.switch("off", "t1").await.unwrap();
        assert_eq!(c.status().await.unwrap()["t1"], OutletState::Off);
        assert!(c.switch("on", "t9").await.is_err());
        assert_eq!(*seen.lock(), vec![("t1".to_string(), false)]);

        let ups = NutSim::start(any, "ups1", "admin", "secret", Duration::from_secs(3600))
            .await
            .unwrap();
        let io = Box::new(TcpStream::connect(ups.addr).await.unwrap());
        let mut n = nut::Client::new(io, Duration::from_secs(5));
        n.login("admin", "secret").await.unwrap();
        let vars = n.vars("ups1").await.unwrap();
        assert!(vars.contains(&("ups.status".into(), "OL".into())));
        assert!(n.vars("nope").await.is_err());
    }
}
