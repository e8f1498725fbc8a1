//! What ptys cannot carry (BREAK, modem lines, line settings), proven through a
//! fake device: a pty for the data, with BREAK, settings and modem lines
//! recorded and driven by the test. Clients speak real Telnet and RFC 2217 bytes.
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use lifeline::appliance::{Appliance, Options};
use lifeline::events::EventKind;
use lifeline::ports::serial::{Device, Opener, Settings, Signals, Tty};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Default)]
struct Record {
    breaks: Vec<bool>,
    settings: Vec<Settings>,
    signals: Signals,
}

struct FakeOpener(Arc<Mutex<Record>>);

struct FakeDevice {
    tty: Tty,
    rec: Arc<Mutex<Record>>,
}

impl Opener for FakeOpener {
    fn open(&self, path: &Path, s: &Settings) -> std::io::Result<Arc<dyn Device>> {
        let tty = Tty::open(path)?;
        tty.configure(s)?;
        self.0.lock().unwrap().settings.push(*s);
        Ok(Arc::new(FakeDevice {
            tty,
            rec: self.0.clone(),
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
        self.rec.lock().unwrap().settings.push(*s);
        self.tty.configure(s)
    }
    fn set_break(&self, on: bool) -> std::io::Result<()> {
        self.rec.lock().unwrap().breaks.push(on);
        Ok(())
    }
    fn signals(&self) -> std::io::Result<Signals> {
        Ok(self.rec.lock().unwrap().signals)
    }
    fn set_outputs(&self, dtr: Option<bool>, rts: Option<bool>) -> std::io::Result<()> {
        let mut r = self.rec.lock().unwrap();
        if let Some(d) = dtr {
            r.signals.dtr = d;
        }
        if let Some(v) = rts {
            r.signals.rts = v;
        }
        Ok(())
    }
    fn purge(&self, _rx: bool, _tx: bool) -> std::io::Result<()> {
        Ok(())
    }
}

/// A pty pair: (master, slave path). The slave is the console port's device.
fn pty() -> (OwnedFd, PathBuf) {
    let (master, slave, path) = lifeline::ports::sim::pty_pair().expect("a pty pair");
    // The slave stays open in the test too, so the master never sees a hang-up.
    std::mem::forget(slave);
    (master, path)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "ll-console-fake-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn factory(device: &Path, telnet: u16, rfc2217: u16) -> String {
    let admin = include_str!("../yang/factory-config.xml");
    // The factory users and groups, with the management listeners off.
    let admin = admin
        .replace("<port>830</port>", &format!("<port>{}</port>", free_port()))
        .replace("<port>22</port>", &format!("<port>{}</port>", free_port()))
        .replace("<port>443</port>", &format!("<port>{}</port>", free_port()))
        .replace("<address>::</address>", "<address>127.0.0.1</address>");
    format!(
        r#"{admin}
<ports xmlns="urn:lifeline:params:xml:ns:yang:lifeline-ports"><port>
  <name>port01</name><number>1</number><device>{}</device>
  <access>
    <ssh><enabled>false</enabled></ssh>
    <telnet><port>{telnet}</port></telnet>
    <rfc2217><enabled>true</enabled><port>{rfc2217}</port></rfc2217>
  </access>
</port></ports>"#,
        device.display()
    )
    .replace(
        "</management>",
        "<console-access><address>127.0.0.1</address></console-access></management>",
    )
}

/// Reads until `needle` has arrived (Telnet commands and all); returns what came.
async fn read_until(s: &mut TcpStream, needle: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !got.windows(needle.len()).any(|w| w == needle) {
        let n = tokio::time::timeout_at(deadline, s.read(&mut buf))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no {:?} in {:?}",
                    String::from_utf8_lossy(needle),
                    String::from_utf8_lossy(&got)
                )
            })
            .unwrap();
        assert!(n > 0, "closed; got {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    got
}

async fn wait_for(what: &str, f: impl Fn() -> bool) {
    for _ in 0..100 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

struct Rig {
    _app: Appliance,
    rec: Arc<Mutex<Record>>,
    _master: OwnedFd,
    telnet: SocketAddr,
    rfc2217: SocketAddr,
    app_events: lifeline::events::EventBus,
}

async fn rig() -> Rig {
    let (master, slave) = pty();
    let (telnet, rfc2217) = (free_port(), free_port());
    let rec = Arc::new(Mutex::new(Record::default()));
    rec.lock().unwrap().signals = Signals {
        dcd: true,
        dsr: true,
        cts: true,
        ..Signals::default()
    };
    let app = Appliance::start(Options {
        state_dir: tempdir(),
        factory: factory(&slave, telnet, rfc2217),
        extra_yang: Vec::new(),
        plugins: Vec::new(),
        opener: Arc::new(FakeOpener(rec.clone())),
    })
    .await
    .unwrap();
    let port = app.ports.get("port01").expect("port01 runs");
    wait_for("the device to open", || port.present()).await;
    let app_events = app.ds.events.clone();
    Rig {
        _app: app,
        rec,
        _master: master,
        telnet: ([127, 0, 0, 1], telnet).into(),
        rfc2217: ([127, 0, 0, 1], rfc2217).into(),
        app_events,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telnet_break_and_escape_break_reach_the_line() {
    let rig = rig().await;
    let mut s = TcpStream::connect(rig.telnet).await.unwrap();
    read_until(&mut s, b"login: ").await;
    s.write_all(b"admin\r\n").await.unwrap();
    read_until(&mut s, b"Password: ").await;
    s.write_all(b"admin\r\n").await.unwrap();
    read_until(&mut s, b"? for help]").await;
    // The Telnet BREAK command (IAC BRK).
    s.write_all(&[255, 243]).await.unwrap();
    read_until(&mut s, b"BREAK sent").await;
    assert_eq!(rig.rec.lock().unwrap().breaks, vec![true, false]);
    // The escape menu's ~b.
    s.write_all(b"\r~b").await.unwrap();
    read_until(&mut s, b"BREAK sent").await;
    assert_eq!(
        rig.rec.lock().unwrap().breaks,
        vec![true, false, true, false]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc2217_settings_break_and_modem_state() {
    let rig = rig().await;
    let mut events = rig.app_events.subscribe();
    let mut s = TcpStream::connect(rig.rfc2217).await.unwrap();
    // WILL and DO COM-PORT-OPTION, as pyserial sends them.
    s.write_all(&[255, 251, 44, 255, 253, 44]).await.unwrap();
    // SET-BAUDRATE 19200, SET-DATASIZE 7, SET-PARITY even, SET-CONTROL BREAK-ON.
    let mut req = vec![255, 250, 44, 1, 0, 0, 0x4b, 0x00, 255, 240];
    req.extend([255, 250, 44, 2, 7, 255, 240]);
    req.extend([255, 250, 44, 3, 3, 255, 240]);
    req.extend([255, 250, 44, 5, 5, 255, 240]);
    s.write_all(&req).await.unwrap();
    // The server's answers carry the code plus 100.
    let got = read_until(&mut s, &[255, 250, 44, 105, 5, 255, 240]).await;
    let baud = [255, 250, 44, 101, 0, 0, 0x4b, 0x00, 255, 240];
    assert!(got.windows(baud.len()).any(|w| w == baud), "{got:?}");
    {
        let r = rig.rec.lock().unwrap();
        let last = r.settings.last().unwrap();
        assert_eq!(
            (last.baud, last.data_bits, last.parity),
            (19200, 7, lifeline::ports::serial::Parity::Even)
        );
        assert_eq!(r.breaks, vec![true]);
    }
    // The console cable comes out: DCD drops. The client is told, with the
    // delta bit, and the bus carries the event.
    rig.rec.lock().unwrap().signals.dcd = false;
    let got = read_until(&mut s, &[255, 250, 44, 107]).await;
    let at = got
        .windows(4)
        .position(|w| w == [255, 250, 44, 107])
        .unwrap();
    let mut rest = got[at + 4..].to_vec();
    if rest.is_empty() {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.unwrap();
        rest.push(b[0]);
    }
    assert_eq!(rest[0] & 0x80, 0, "CD is off");
    assert_ne!(rest[0] & 0x08, 0, "delta CD is set");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let e = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("a signal-change event")
            .unwrap();
        if e.kind == EventKind::PortSignalChange {
            assert_eq!(e.text("signal").as_deref(), Some("dcd"));
            assert_eq!(e.text("state").as_deref(), Some("off"));
            break;
        }
    }
    // When the program is done, the configured settings are back.
    drop(s);
    let rec = rig.rec.clone();
    wait_for("the configured settings", move || {
        rec.lock()
            .unwrap()
            .settings
            .last()
            .is_some_and(|s| s.baud == 9600 && s.data_bits == 8)
    })
    .await;
    let _ = rig._master.as_raw_fd();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc2217_flow_control_suspend_holds_output_until_resume() {
    let rig = rig().await;
    let mut s = TcpStream::connect(rig.rfc2217).await.unwrap();
    s.write_all(&[255, 251, 44, 255, 253, 44]).await.unwrap();
    let port = rig._app.ports.get("port01").unwrap();
    wait_for("the session", || port.sessions().len() == 1).await;
    // FLOWCONTROL-SUSPEND, answered with 108.
    s.write_all(&[255, 250, 44, 8, 255, 240]).await.unwrap();
    read_until(&mut s, &[255, 250, 44, 108, 255, 240]).await;
    let master = rig._master.as_raw_fd();
    let say = |text: &[u8]| {
        let n = unsafe { libc::write(master, text.as_ptr().cast(), text.len()) };
        assert_eq!(n, text.len() as isize);
    };
    say(b"held back\r\n");
    let mut buf = [0u8; 256];
    let early = tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await;
    assert!(early.is_err(), "output flowed while suspended: {early:?}");
    // FLOWCONTROL-RESUME: the held output follows the answer.
    s.write_all(&[255, 250, 44, 9, 255, 240]).await.unwrap();
    read_until(&mut s, b"held back").await;
}
