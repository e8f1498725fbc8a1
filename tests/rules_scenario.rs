//! Auto-response end to end, with real peers and time scaled down to seconds:
//! a console port's DCD drops (a fake device the test drives), a rule's
//! signal check sees it, its actions send an SNMP trap to a real snmptrapd and
//! an SMS through a modem the test plays on a pty, its resolve action sends
//! the clearing trap, and the alarm list and the rule's state leaves say what
//! happened. Then the modem is down: the SMS action fails, raises its
//! action-failed alarm and is retried, and the rule still resolves.
//! Two more keep mended bugs mended: a refused SIM PIN is not entered again
//! after an unrelated commit, and an action that fails after its rule
//! resolved leaves no alarm raised.
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use lifeline::appliance::{Appliance, Options};
use lifeline::datastore::{Face, Filter, Handle};
use lifeline::ports::serial::{self, Device, Opener, Settings, Signals, Tty};
use serde_json::Value;

const OID_RULE_NOTIFICATION: &str = ".1.3.6.1.4.1.8072.9999.9999.5433.0.32";
const OID_COLD_START: &str = ".1.3.6.1.6.3.1.1.5.1";
const RULE: &str = "dcd";
const NUMBER: &str = "+15551234567";

// ----- the console port's fake device: a pty for data, modem lines by the test -----

struct FakeOpener(Arc<Mutex<Signals>>);

struct FakeDevice {
    tty: Tty,
    signals: Arc<Mutex<Signals>>,
}

impl Opener for FakeOpener {
    fn open(&self, path: &Path, s: &Settings) -> std::io::Result<Arc<dyn Device>> {
        let tty = Tty::open(path)?;
        tty.configure(s)?;
        Ok(Arc::new(FakeDevice {
            tty,
            signals: self.0.clone(),
        }))
    }
}

impl Device for FakeDevice {
    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<std::io::Result<usize>> {
        self.tty.poll_read(cx, buf)
    }
    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.tty.poll_write(cx, buf)
    }
    fn configure(&self, s: &Settings) -> std::io::Result<()> {
        self.tty.configure(s)
    }
    fn set_break(&self, _on: bool) -> std::io::Result<()> {
        Ok(())
    }
    fn signals(&self) -> std::io::Result<Signals> {
        Ok(*self.signals.lock().unwrap())
    }
    fn set_outputs(&self, dtr: Option<bool>, rts: Option<bool>) -> std::io::Result<()> {
        let mut s = self.signals.lock().unwrap();
        if let Some(d) = dtr {
            s.dtr = d;
        }
        if let Some(r) = rts {
            s.rts = r;
        }
        Ok(())
    }
    fn purge(&self, _rx: bool, _tx: bool) -> std::io::Result<()> {
        Ok(())
    }
}

/// A pty pair: the master, and the slave's path. The slave stays open in the
/// test too, so the master never sees a hang-up when the appliance closes it.
fn pty() -> (OwnedFd, OwnedFd, PathBuf) {
    lifeline::ports::sim::pty_pair().expect("a pty pair")
}

fn free_tcp() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn free_udp() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "ll-rules-scenario-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

// ----- snmptrapd -----

struct Trapd {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Trapd {
    /// snmptrapd on a free UDP port of 127.0.0.1, logging to a file; `None`
    /// when it is not installed.
    fn start(dir: &Path) -> Option<Trapd> {
        let port = free_udp();
        let conf = dir.join("snmptrapd.conf");
        let log = dir.join("traps.log");
        std::fs::write(&conf, "authCommunity log public\n").unwrap();
        let child = Command::new("snmptrapd")
            .args(["-f", "-C", "-c"])
            .arg(&conf)
            .arg("-Lf")
            .arg(&log)
            .args(["-On", "-n", &format!("udp:127.0.0.1:{port}")])
            .env("MIBS", "")
            .env("SNMP_PERSISTENT_DIR", dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        Some(Trapd { child, port, log })
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The logged notifications whose snmpTrapOID is `oid`, each as the
    /// text of its record.
    fn records(&self, oid: &str) -> Vec<String> {
        let text = self.text();
        let needle = format!("= OID: {oid}");
        // A record starts with a line that is not indented varbinds; split
        // on the lines that carry a snmpTrapOID and keep what follows.
        let mut out = Vec::new();
        let mut cur: Option<String> = None;
        for line in text.lines() {
            let starts = !line.starts_with(['\t', ' ', '.']);
            if starts {
                if let Some(c) = cur.take() {
                    out.push(c);
                }
                cur = Some(String::new());
            }
            let c = cur.get_or_insert_with(String::new);
            c.push_str(line);
            c.push('\n');
        }
        out.extend(cur);
        out.into_iter()
            .filter(|r| {
                r.match_indices(&needle).any(|(i, _)| {
                    // Exactly this OID, not one it is a prefix of.
                    !r[i + needle.len()..].starts_with(|c: char| c.is_ascii_digit() || c == '.')
                })
            })
            .collect()
    }

    async fn wait_records(&self, oid: &str, n: usize, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        loop {
            let r = self.records(oid);
            if r.len() >= n {
                return r;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{n} notifications {oid} within {within:?}; the trap log:\n{}",
                    self.text()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Trapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ----- the appliance -----

fn factory(
    port_dev: &Path,
    modem: &Path,
    pin: Option<&str>,
    sms_delay: u32,
    sms_timeout: u16,
    agent: u16,
    trapd: u16,
) -> String {
    let (nc, cli) = (free_tcp(), free_tcp());
    let pin = pin.map(|p| format!("<pin>{p}</pin>")).unwrap_or_default();
    format!(
        r#"<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">
<system xmlns="urn:ietf:params:xml:ns:yang:ietf-system"><hostname>rules-scenario</hostname>
  <authentication><user><name>admin</name><password>$0$admin</password></user></authentication></system>
<nacm xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-acm">
  <enable-nacm>true</enable-nacm><exec-default>deny</exec-default>
  <groups><group><name>admin</name><user-name>admin</user-name></group></groups>
  <rule-list><name>admin</name><group>admin</group>
    <rule><name>all</name><module-name>*</module-name><access-operations>*</access-operations><action>permit</action></rule></rule-list>
</nacm>
<management xmlns="urn:lifeline:params:xml:ns:yang:lifeline-system">
  <netconf><enabled>false</enabled><endpoint><name>default</name><address>127.0.0.1</address><port>{nc}</port></endpoint></netconf>
  <cli><enabled>false</enabled><endpoint><name>default</name><address>127.0.0.1</address><port>{cli}</port></endpoint></cli>
</management>
<ports xmlns="urn:lifeline:params:xml:ns:yang:lifeline-ports"><port>
  <name>p3</name><number>3</number><device>{port_dev}</device>
  <access><ssh><enabled>false</enabled></ssh><telnet><enabled>false</enabled></telnet></access>
</port></ports>
<snmp xmlns="urn:ietf:params:xml:ns:yang:ietf-snmp">
  <engine><enabled>true</enabled>
    <listen><name>lo</name><udp><ip>127.0.0.1</ip><port>{agent}</port></udp></listen>
    <version><v2c/></version></engine>
  <community><index>ro</index><text-name>public</text-name><security-name>reader</security-name></community>
  <vacm>
    <group><name>readers</name>
      <member><security-name>reader</security-name><security-model>v2c</security-model></member>
      <access><context></context><security-model>any</security-model><security-level>no-auth-no-priv</security-level>
        <read-view>all</read-view><notify-view>all</notify-view></access></group>
    <view><name>all</name><include>1</include></view>
  </vacm>
  <target-params><name>v2</name><v2c><security-name>reader</security-name></v2c></target-params>
  <target><name>noc</name><udp><ip>127.0.0.1</ip><port>{trapd}</port></udp><tag>noc</tag>
    <target-params>v2</target-params><timeout>100</timeout><retries>2</retries></target>
  <notify><name>noc</name><tag>noc</tag><type>trap</type></notify>
</snmp>
<auto-response xmlns="urn:lifeline:params:xml:ns:yang:lifeline-auto-response">
  <boot-delay>0</boot-delay>
  <action-retry><interval>1</interval><attempts>2</attempts></action-retry>
  <sms><device>{modem}</device><speed>115200</speed>{pin}<timeout>{sms_timeout}</timeout></sms>
  <rule><name>{RULE}</name><run-as>admin</run-as>
    <trigger><check><interval>1</interval>
      <signal><port>p3</port><signal>dcd</signal><fails-when>off</fails-when></signal></check></trigger>
    <action><name>trap</name><delay>0</delay><snmp-notification><tag>noc</tag></snmp-notification></action>
    <action><name>sms</name><delay>{sms_delay}</delay><sms><to>{NUMBER}</to></sms></action>
    <resolve-action><name>clear</name><snmp-notification><tag>noc</tag></snmp-notification></resolve-action>
  </rule>
</auto-response>
</config>"#,
        port_dev = port_dev.display(),
        modem = modem.display(),
    )
}

struct Rig {
    app: Appliance,
    signals: Arc<Mutex<Signals>>,
    trapd: Trapd,
    dir: PathBuf,
    _port_pty: (OwnedFd, OwnedFd),
}

impl Rig {
    /// Starts snmptrapd and the appliance with port p3's DCD on; `None` when
    /// snmptrapd is not installed.
    async fn start(
        modem: &Path,
        pin: Option<&str>,
        sms_delay: u32,
        sms_timeout: u16,
    ) -> Option<Rig> {
        let dir = tempdir();
        let Some(trapd) = Trapd::start(&dir) else {
            eprintln!("snmptrapd is not installed: skipping the auto-response scenario");
            let _ = std::fs::remove_dir_all(&dir);
            return None;
        };
        let (master, slave, port_dev) = pty();
        let signals = Arc::new(Mutex::new(Signals {
            dcd: true,
            dsr: true,
            cts: true,
            ..Signals::default()
        }));
        // snmptrapd binds before the appliance's coldStart goes out.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let app = Appliance::start(Options {
            state_dir: dir.join("state"),
            factory: factory(
                &port_dev,
                modem,
                pin,
                sms_delay,
                sms_timeout,
                free_udp(),
                trapd.port,
            ),
            extra_yang: Vec::new(),
            plugins: Vec::new(),
            opener: Arc::new(FakeOpener(signals.clone())),
        })
        .await
        .unwrap();
        let rig = Rig {
            app,
            signals,
            trapd,
            dir,
            _port_pty: (master, slave),
        };
        let port = rig.app.ports.get("p3").expect("p3 runs");
        wait_for("p3's device to open", Duration::from_secs(5), || {
            port.present()
        })
        .await;
        // The SNMP configuration is live (coldStart reached snmptrapd) and
        // the rule's check has seen DCD on.
        rig.trapd
            .wait_records(OID_COLD_START, 1, Duration::from_secs(5))
            .await;
        rig.wait_rule("the check to see DCD on", Duration::from_secs(5), |r| {
            r["last-check"] == "port p3: dcd on" && r["state"] == "idle"
        })
        .await;
        Some(rig)
    }

    fn dcd(&self, on: bool) {
        self.signals.lock().unwrap().dcd = on;
    }

    /// The operational data under `path` as RFC 7951 JSON, read as admin.
    async fn get(&self, path: &str) -> Value {
        get(&self.app.ds, path).await
    }

    async fn rule(&self) -> Value {
        let v = self
            .get(&format!(
                "/lifeline-auto-response:auto-response/rule[name='{RULE}']"
            ))
            .await;
        v["lifeline-auto-response:auto-response"]["rule"][0].clone()
    }

    async fn wait_rule(&self, what: &str, within: Duration, f: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let r = self.rule().await;
            if f(&r) {
                return r;
            }
            if Instant::now() >= deadline {
                panic!("timed out waiting for {what}; the rule: {r:#}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The alarms of the rule's resource.
    async fn alarms(&self) -> Vec<Value> {
        let v = self.get("/ietf-alarms:alarms/alarm-list").await;
        v["ietf-alarms:alarms"]["alarm-list"]["alarm"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|a| {
                a["resource"].as_str().is_some_and(|r| {
                    r.replace('"', "'")
                        .ends_with(&format!("rule[name='{RULE}']"))
                })
            })
            .collect()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn get(ds: &Handle, path: &str) -> Value {
    use yang5::data::{DataFormat, DataPrinterFlags};
    let admin = ds.new_session("admin", Face::Netconf, Some("127.0.0.1".into()));
    let tree = ds
        .operational_tree(&admin, Filter::Path(path.into()))
        .await
        .unwrap_or_else(|e| panic!("get {path}: {e:?}"));
    let text =
        lifeline::datastore::tree::print(&tree, DataFormat::JSON, DataPrinterFlags::WITH_SIBLINGS)
            .unwrap();
    if text.trim().is_empty() {
        return Value::Null;
    }
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

async fn wait_for(what: &str, within: Duration, f: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The action `name` of the rule's `list` (`action`, `resolve-action`).
fn action<'a>(rule: &'a Value, list: &str, name: &str) -> &'a Value {
    rule[list]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == name))
        .unwrap_or_else(|| panic!("no {list} {name} in {rule:#}"))
}

/// A counter64 leaf (a string in RFC 7951 JSON) as a number.
fn count(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("{v}")),
        Value::Number(n) => n.as_u64().unwrap(),
        _ => panic!("not a counter: {v}"),
    }
}

// ----- the modem, played by the test on a pty's master -----

struct ModemEnd {
    tty: Tty,
    pending: Vec<u8>,
    /// When the first byte arrived.
    first: Arc<Mutex<Option<Instant>>>,
}

impl ModemEnd {
    /// Reads until `end` arrives: what came up to and with it.
    async fn until(&mut self, end: u8, within: Duration) -> Vec<u8> {
        let deadline = tokio::time::Instant::now() + within;
        let mut buf = [0u8; 512];
        loop {
            if let Some(i) = self.pending.iter().position(|&b| b == end) {
                return self.pending.drain(..=i).collect();
            }
            let n = tokio::time::timeout_at(deadline, serial::read(&self.tty, &mut buf))
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "the modem heard no {end:#04x}; pending {:?}",
                        String::from_utf8_lossy(&self.pending)
                    )
                })
                .expect("reading the modem's pty");
            assert!(n > 0, "the modem's pty closed");
            self.first.lock().unwrap().get_or_insert_with(Instant::now);
            self.pending.extend_from_slice(&buf[..n]);
        }
    }

    async fn say(&self, bytes: &[u8]) {
        serial::write_all(&self.tty, bytes).await.unwrap();
    }

    /// One SMS, answered as a modem whose SIM is ready: the commands heard
    /// (without their CR) and the text (without its Ctrl-Z).
    async fn take_sms(&mut self, within: Duration) -> (Vec<String>, Vec<u8>) {
        let mut commands = Vec::new();
        loop {
            let line = self.until(b'\r', within).await;
            let cmd = String::from_utf8_lossy(&line[..line.len() - 1])
                .trim()
                .to_string();
            commands.push(cmd.clone());
            match cmd.as_str() {
                "AT" | "ATE0" | "AT+CMGF=1" => self.say(b"\r\nOK\r\n").await,
                "AT+CPIN?" => self.say(b"\r\n+CPIN: READY\r\n\r\nOK\r\n").await,
                c if c.starts_with("AT+CMGS=") => {
                    self.say(b"\r\n> ").await;
                    break;
                }
                other => panic!("the modem was sent {other:?} (so far {commands:?})"),
            }
        }
        let mut text = self.until(0x1A, Duration::from_secs(5)).await;
        text.pop();
        self.say(b"\r\n+CMGS: 5\r\n\r\nOK\r\n").await;
        (commands, text)
    }
}

// ----- the scenarios -----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dcd_drop_traps_texts_and_clears() {
    let (modem_master, modem_slave, modem_path) = pty();
    let Some(rig) = Rig::start(&modem_path, None, 3, 5).await else {
        return;
    };
    let first = Arc::new(Mutex::new(None));
    let mut modem = ModemEnd {
        tty: Tty::from_fd(modem_master).unwrap(),
        pending: Vec::new(),
        first: first.clone(),
    };

    // The cable comes out.
    let t0 = Instant::now();
    rig.dcd(false);
    let sms = tokio::spawn(async move {
        let got = modem.take_sms(Duration::from_secs(10)).await;
        (got, modem)
    });

    // The trap action (delay 0): llNotifyRuleNotification with the rule.
    let traps = rig
        .trapd
        .wait_records(OID_RULE_NOTIFICATION, 1, Duration::from_secs(3))
        .await;
    let t_trap = Instant::now();
    assert_eq!(traps.len(), 1, "{traps:#?}");
    let trap = &traps[0];
    assert!(
        trap.contains("rule=dcd") && trap.contains("action=trap") && trap.contains("tag=noc"),
        "{trap}"
    );
    assert!(trap.contains("resolved=false"), "{trap}");
    // No SMS yet: its delay is 3 s.
    assert!(
        first.lock().unwrap().is_none(),
        "the modem was spoken to at once"
    );
    let r = rig.rule().await;
    assert_eq!(r["state"], "triggered", "{r:#}");
    assert_eq!(count(&r["trigger-count"]), 1, "{r:#}");
    assert!(
        action(&r, "action", "sms").get("next-run").is_some(),
        "{r:#}"
    );

    // Three seconds on: the SMS.
    let ((commands, text), _modem) = tokio::time::timeout(Duration::from_secs(10), sms)
        .await
        .expect("the SMS in time")
        .unwrap();
    let at = first.lock().unwrap().expect("the modem heard something");
    assert_eq!(
        commands,
        [
            "AT",
            "ATE0",
            "AT+CPIN?",
            "AT+CMGF=1",
            &format!("AT+CMGS=\"{NUMBER}\""),
        ],
    );
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("rule dcd") && text.contains("p3"),
        "the text: {text:?}"
    );
    let (after_off, after_trap) = (at - t0, at - t_trap);
    eprintln!(
        "trap {:?} after DCD off, SMS {after_off:?} after it ({after_trap:?} after the trap): {text:?}",
        t_trap - t0
    );
    assert!(
        after_off >= Duration::from_millis(2900) && after_off <= Duration::from_secs(6),
        "the SMS began {after_off:?} after DCD went off"
    );
    assert!(
        after_trap >= Duration::from_millis(1800),
        "the SMS began only {after_trap:?} after the trap"
    );
    let r = rig
        .wait_rule("the SMS to count", Duration::from_secs(3), |r| {
            action(r, "action", "sms")["last-result"] == "ok"
        })
        .await;
    let s = action(&r, "action", "sms");
    assert_eq!((count(&s["runs"]), count(&s["failures"])), (1, 0), "{r:#}");
    assert!(s.get("next-run").is_none(), "{r:#}");

    // The cable is back: the resolve action's trap, and the alarm clears.
    rig.dcd(true);
    let traps = rig
        .trapd
        .wait_records(OID_RULE_NOTIFICATION, 2, Duration::from_secs(3))
        .await;
    assert_eq!(traps.len(), 2, "{traps:#?}");
    assert!(
        traps[1].contains("rule=dcd")
            && traps[1].contains("action=clear")
            && traps[1].contains("resolved=true"),
        "{}",
        traps[1]
    );
    let r = rig
        .wait_rule("the rule to resolve", Duration::from_secs(3), |r| {
            r["state"] == "resolved" && action(r, "resolve-action", "clear")["last-result"] == "ok"
        })
        .await;
    assert_eq!(count(&r["trigger-count"]), 1, "{r:#}");
    assert!(r.get("last-triggered").is_some() && r.get("last-resolved").is_some());
    let trap = action(&r, "action", "trap");
    assert_eq!((count(&trap["runs"]), count(&trap["failures"])), (1, 0));
    assert_eq!(trap["last-result"], "ok");
    let sms = action(&r, "action", "sms");
    assert_eq!(
        (count(&sms["runs"]), sms["last-result"].clone()),
        (1, "ok".into())
    );
    let clear = action(&r, "resolve-action", "clear");
    assert_eq!((count(&clear["runs"]), count(&clear["failures"])), (1, 0));

    let alarms = rig.alarms().await;
    let cond: Vec<&Value> = alarms
        .iter()
        .filter(|a| a["alarm-type-id"] == "lifeline-auto-response:rule-condition")
        .collect();
    assert_eq!(cond.len(), 1, "{alarms:#?}");
    let a = cond[0];
    assert_eq!(a["is-cleared"], true, "{a:#}");
    let history = a["status-change"].as_array().expect("a status-change list");
    assert!(history.len() >= 2, "{a:#}");
    assert_eq!(history[0]["perceived-severity"], "major", "{a:#}");
    assert_eq!(
        history.last().unwrap()["perceived-severity"],
        "cleared",
        "{a:#}"
    );
    // Nothing failed, so no action alarm.
    assert!(
        alarms
            .iter()
            .all(|a| a["alarm-type-id"] == "lifeline-auto-response:rule-condition"),
        "{alarms:#?}"
    );
    drop(modem_slave);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_modem_that_is_down_fails_is_retried_and_the_rule_still_resolves() {
    let missing = std::env::temp_dir().join(format!(
        "ll-rules-scenario-no-modem-{}",
        rand::random::<u32>()
    ));
    let Some(rig) = Rig::start(&missing, None, 0, 5).await else {
        return;
    };
    let t0 = Instant::now();
    rig.dcd(false);
    rig.trapd
        .wait_records(OID_RULE_NOTIFICATION, 1, Duration::from_secs(3))
        .await;

    // The first run and two retries, 1 s apart, all failing.
    let r = rig
        .wait_rule("three failed SMS runs", Duration::from_secs(6), |r| {
            count(&action(r, "action", "sms")["failures"]) >= 3
        })
        .await;
    eprintln!("three failures {:?} after DCD off", t0.elapsed());
    let s = action(&r, "action", "sms");
    assert_eq!(s["last-result"], "failed", "{r:#}");
    assert!(
        s["last-error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot open the modem")),
        "{r:#}"
    );
    assert_eq!(r["state"], "triggered", "{r:#}");
    let alarms = rig.alarms().await;
    let failed: Vec<&Value> = alarms
        .iter()
        .filter(|a| a["alarm-type-id"] == "lifeline-auto-response:action-failed")
        .collect();
    assert_eq!(failed.len(), 1, "{alarms:#?}");
    assert_eq!(failed[0]["alarm-type-qualifier"], "sms", "{alarms:#?}");
    assert_eq!(failed[0]["is-cleared"], false, "{alarms:#?}");
    // Retries are spent: no fourth run.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let r = rig.rule().await;
    let s = action(&r, "action", "sms");
    assert_eq!((count(&s["runs"]), count(&s["failures"])), (3, 3), "{r:#}");
    assert!(s.get("next-run").is_none(), "{r:#}");
    assert_eq!(r["state"], "triggered", "{r:#}");
    let trap = action(&r, "action", "trap");
    assert_eq!(
        (count(&trap["runs"]), trap["last-result"].clone()),
        (1, "ok".into())
    );

    // DCD back: the rule resolves as usual, its resolve action runs, and
    // both its alarms clear.
    rig.dcd(true);
    let traps = rig
        .trapd
        .wait_records(OID_RULE_NOTIFICATION, 2, Duration::from_secs(3))
        .await;
    assert!(
        traps[1].contains("action=clear") && traps[1].contains("resolved=true"),
        "{}",
        traps[1]
    );
    let r = rig
        .wait_rule("the rule to resolve", Duration::from_secs(3), |r| {
            r["state"] == "resolved" && action(r, "resolve-action", "clear")["last-result"] == "ok"
        })
        .await;
    assert_eq!(count(&r["trigger-count"]), 1, "{r:#}");
    let alarms = rig.alarms().await;
    assert_eq!(alarms.len(), 2, "{alarms:#?}");
    for a in &alarms {
        assert_eq!(a["is-cleared"], true, "{a:#}");
    }
}

/// Plays a modem whose SIM wants a PIN and refuses every one; records the
/// commands it hears.
async fn serve_locked_sim(mut modem: ModemEnd, heard: Arc<Mutex<Vec<String>>>) {
    loop {
        let line = modem.until(b'\r', Duration::from_secs(3600)).await;
        let cmd = String::from_utf8_lossy(&line[..line.len() - 1])
            .trim_matches(|c: char| c.is_whitespace() || c == '\x1b')
            .to_string();
        heard.lock().unwrap().push(cmd.clone());
        match cmd.as_str() {
            "AT" | "ATE0" => modem.say(b"\r\nOK\r\n").await,
            "AT+CPIN?" => modem.say(b"\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n").await,
            c if c.starts_with("AT+CPIN=") => modem.say(b"\r\n+CME ERROR: 16\r\n").await,
            _ => modem.say(b"\r\nERROR\r\n").await,
        }
    }
}

/// Fails until the rules service keeps its `Modem` across commits that leave
/// auto-response/sms alone (see the report: `Task::configure` builds a new one
/// on every commit, forgetting that the SIM refused the PIN).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_pin_is_not_entered_again_after_an_unrelated_commit() {
    use lifeline::datastore::edit::Operation;
    use lifeline::datastore::{Datastore, ErrorOption, TestOption};
    let (modem_master, modem_slave, modem_path) = pty();
    let Some(rig) = Rig::start(&modem_path, Some("1234"), 0, 5).await else {
        return;
    };
    let heard = Arc::new(Mutex::new(Vec::new()));
    let modem = ModemEnd {
        tty: Tty::from_fd(modem_master).unwrap(),
        pending: Vec::new(),
        first: Arc::default(),
    };
    let server = tokio::spawn(serve_locked_sim(modem, heard.clone()));
    let pins = || {
        heard
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.starts_with("AT+CPIN="))
            .count()
    };

    // The SIM refuses the PIN: the first run fails, and neither retry enters
    // the PIN again (three refusals would lock the SIM).
    rig.dcd(false);
    let r = rig
        .wait_rule("three failed SMS runs", Duration::from_secs(6), |r| {
            count(&action(r, "action", "sms")["failures"]) >= 3
        })
        .await;
    let s = action(&r, "action", "sms");
    assert!(
        s["last-error"]
            .as_str()
            .is_some_and(|e| e.contains("refused the configured PIN")),
        "{r:#}"
    );
    assert_eq!(pins(), 1, "{:?}", heard.lock().unwrap());
    rig.dcd(true);
    rig.wait_rule("the rule to resolve", Duration::from_secs(3), |r| {
        r["state"] == "resolved"
    })
    .await;

    // A commit that changes nothing of the modem (the alarm list's history
    // length) ...
    let admin = rig
        .app
        .ds
        .new_session("admin", Face::Netconf, Some("127.0.0.1".into()));
    rig.app
        .ds
        .edit_config(
            &admin,
            Datastore::Running,
            Operation::Merge,
            TestOption::TestThenSet,
            ErrorOption::RollbackOnError,
            r#"<alarms xmlns="urn:ietf:params:xml:ns:yang:ietf-alarms"><control>
                 <max-alarm-status-changes>16</max-alarm-status-changes></control></alarms>"#
                .into(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // ... and the rule triggers again: the SMS still fails, without the PIN.
    rig.dcd(false);
    rig.wait_rule(
        "the second trigger's SMS runs",
        Duration::from_secs(6),
        |r| count(&r["trigger-count"]) == 2 && count(&action(r, "action", "sms")["failures"]) >= 6,
    )
    .await;
    assert_eq!(
        pins(),
        1,
        "the refused PIN was entered again after a commit: {:?}",
        heard.lock().unwrap()
    );
    server.abort();
    drop(modem_slave);
}

/// Fails until an action that fails after its rule resolved no longer leaves
/// an action-failed alarm raised that nothing clears (see the report).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_sms_that_fails_after_the_rule_resolved_leaves_no_alarm_raised() {
    let (modem_master, modem_slave, modem_path) = pty();
    let Some(rig) = Rig::start(&modem_path, None, 0, 2).await else {
        return;
    };
    // The modem hears the AT and never answers.
    let mut modem = ModemEnd {
        tty: Tty::from_fd(modem_master).unwrap(),
        pending: Vec::new(),
        first: Arc::default(),
    };
    rig.dcd(false);
    modem.until(b'\r', Duration::from_secs(3)).await;
    // The condition clears while the SMS waits for its answer.
    rig.dcd(true);
    rig.wait_rule("the rule to resolve", Duration::from_secs(3), |r| {
        r["state"] == "resolved"
    })
    .await;
    let r = rig
        .wait_rule("the SMS to time out", Duration::from_secs(4), |r| {
            count(&action(r, "action", "sms")["failures"]) == 1
        })
        .await;
    assert_eq!(r["state"], "resolved", "{r:#}");
    let alarms = rig.alarms().await;
    let raised: Vec<&Value> = alarms.iter().filter(|a| a["is-cleared"] == false).collect();
    assert!(
        raised.is_empty(),
        "alarms left raised for a resolved rule: {raised:#?}"
    );
    drop(modem_slave);
}
