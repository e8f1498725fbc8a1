//! The console listeners: Telnet (with a login), raw TCP, RFC 2217 and SSH on a
//! port's own TCP port. Dead clients are found by TCP keepalives and a user
//! timeout, so none holds a port for more than about a minute.
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};

use super::Manager;
use super::config::Protocol;
use super::console::{self, Input, Output, Plain, Term, WriteFuture};
use super::port::Port;
use super::rfc2217::{self, Request, control, modem};
use super::serial::{Flow, Parity};
use super::telnet::{self, Decoder, Event, Negotiator, opt};
use crate::aaa::Access;
use crate::listen::{Conn, Handler, Listeners, ServeFuture};

/// Registers the console protocols this service serves itself (console SSH
/// is the SSH face's).
pub fn register(mgr: &Arc<Manager>, listeners: &Listeners) {
    struct H(Arc<Manager>, Protocol);
    impl Handler for H {
        fn serve(&self, conn: Conn) -> ServeFuture {
            let mgr = self.0.clone();
            match self.1 {
                Protocol::RawTcp => Box::pin(raw(mgr, conn)),
                p => Box::pin(telnet_session(mgr, conn, p)),
            }
        }
    }
    for p in [Protocol::Telnet, Protocol::RawTcp, Protocol::Rfc2217] {
        if let Some(kind) = p.kind() {
            listeners.handle(kind, Arc::new(H(mgr.clone(), p)));
        }
    }
}

/// Raw TCP: the bytes as they are, no login, no escape menu (for programs).
async fn raw(mgr: Arc<Manager>, conn: Conn) {
    // No login: a program's access, enabled on purpose.
    conn.gate.authenticated();
    let Conn {
        stream: sock,
        peer,
        target: name,
        ..
    } = conn;
    let Some(port) = mgr.get(&name) else { return };
    let (rd, mut wr) = sock.into_split();
    let att = match port.attach(
        mgr.next_session_id(),
        "",
        Protocol::RawTcp,
        Some(peer),
        Access::ReadWrite,
    ) {
        Ok(a) => a,
        Err(why) => {
            let _ = wr.write_all(format!("{why}\r\n").as_bytes()).await;
            return;
        }
    };
    let input = Box::new(console::Reader::new(rd));
    let mut term = Term::new(input, Box::new(Plain(wr)), "", Some(peer), Protocol::RawTcp);
    console::pump(&mgr, &mut term, att, None).await;
}

/// The write side of a Telnet connection, shared by the session's output and the
/// reader's negotiation replies.
type Wire = Arc<tokio::sync::Mutex<OwnedWriteHalf>>;

async fn send(wire: &Wire, bytes: &[u8]) -> std::io::Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    wire.lock().await.write_all(bytes).await
}

/// Console output over Telnet: IAC doubled, NVT line endings unless BINARY.
struct TelnetOut {
    wire: Wire,
    binary: Arc<AtomicBool>,
    /// RFC 2217 FLOWCONTROL-SUSPEND holds output until FLOWCONTROL-RESUME.
    suspended: watch::Receiver<bool>,
    buf: Vec<u8>,
}

impl Output for TelnetOut {
    fn write<'a>(&'a mut self, data: &'a [u8]) -> WriteFuture<'a> {
        Box::pin(async move {
            // The sender lives as long as the connection's reader.
            let _ = self.suspended.wait_for(|s| !*s).await;
            self.buf.clear();
            telnet::escape_data(data, self.binary.load(Ordering::Relaxed), &mut self.buf);
            send(&self.wire, &self.buf).await
        })
    }
}

/// RFC 2217 state of one connection.
struct ComPort {
    port: Arc<Port>,
    suspend: watch::Sender<bool>,
    modem_mask: u8,
    last_modem: Option<u8>,
    breaking: bool,
}

impl ComPort {
    fn modem_state(&self) -> Option<u8> {
        let s = self.port.signals()?;
        let mut v = 0;
        for (on, bit) in [
            (s.dcd, modem::CD),
            (s.ri, modem::RI),
            (s.dsr, modem::DSR),
            (s.cts, modem::CTS),
        ] {
            if on {
                v |= bit;
            }
        }
        Some(v)
    }

    /// A NOTIFY-MODEMSTATE when a line changed (with its delta bits).
    fn modem_change(&mut self, out: &mut Vec<u8>) {
        let Some(now) = self.modem_state() else {
            return;
        };
        let before = self.last_modem.replace(now);
        let Some(before) = before else { return };
        let changed = before ^ now;
        if changed == 0 {
            return;
        }
        let mut v = now;
        if changed & modem::CD != 0 {
            v |= modem::DELTA_CD;
        }
        if changed & modem::DSR != 0 {
            v |= modem::DELTA_DSR;
        }
        if changed & modem::CTS != 0 {
            v |= modem::DELTA_CTS;
        }
        if before & modem::RI != 0 && now & modem::RI == 0 {
            v |= modem::TRAILING_EDGE_RI;
        }
        if v & self.modem_mask != 0 {
            rfc2217::notify_modemstate(v & self.modem_mask, out);
        }
    }

    /// Carries out a client's request on the real port; appends the answer.
    fn handle(&mut self, req: Request, out: &mut Vec<u8>) {
        let mut s = self.port.live_settings();
        let set = |s| {
            if let Err(e) = self.port.set_settings(s) {
                tracing::debug!("{}: RFC 2217 settings: {e}", self.port.name);
            }
        };
        match req {
            Request::Signature(sig) => {
                if sig.is_empty() {
                    rfc2217::reply(0, b"lifeline", out);
                }
            }
            Request::SetBaud(b) => {
                if b != 0 {
                    s.baud = b.clamp(50, 4_000_000);
                    set(s);
                }
                let now = self.port.live_settings().baud;
                rfc2217::reply(1, &now.to_be_bytes(), out);
            }
            Request::SetDataSize(d) => {
                if (5..=8).contains(&d) {
                    s.data_bits = d;
                    set(s);
                }
                rfc2217::reply(2, &[self.port.live_settings().data_bits], out);
            }
            Request::SetParity(p) => {
                let parity = match p {
                    1 => Some(Parity::None),
                    2 => Some(Parity::Odd),
                    3 => Some(Parity::Even),
                    4 => Some(Parity::Mark),
                    5 => Some(Parity::Space),
                    _ => None,
                };
                if let Some(parity) = parity {
                    s.parity = parity;
                    set(s);
                }
                let v = match self.port.live_settings().parity {
                    Parity::None => 1,
                    Parity::Odd => 2,
                    Parity::Even => 3,
                    Parity::Mark => 4,
                    Parity::Space => 5,
                };
                rfc2217::reply(3, &[v], out);
            }
            Request::SetStopSize(v) => {
                match v {
                    1 => s.stop_bits = 1,
                    2 | 3 => s.stop_bits = 2,
                    _ => {}
                }
                if v != 0 {
                    set(s);
                }
                rfc2217::reply(4, &[self.port.live_settings().stop_bits], out);
            }
            Request::SetControl(c) => {
                let answer = self.control(c, s);
                rfc2217::reply(5, &[answer], out);
            }
            Request::FlowControlSuspend | Request::FlowControlResume => {
                let suspend = req == Request::FlowControlSuspend;
                let _ = self.suspend.send(suspend);
                rfc2217::reply(if suspend { 8 } else { 9 }, &[], out);
            }
            Request::SetLineStateMask(m) => rfc2217::reply(10, &[m], out),
            Request::SetModemStateMask(m) => {
                self.modem_mask = m;
                rfc2217::reply(11, &[m], out);
            }
            Request::PurgeData(p) => {
                let _ = self.port.purge(p & 1 != 0 || p == 3, p & 2 != 0 || p == 3);
                rfc2217::reply(12, &[p], out);
            }
            Request::NotifyLineState(_) | Request::NotifyModemState(_) => {}
        }
    }

    fn control(&mut self, c: u8, mut s: super::serial::Settings) -> u8 {
        let flow_code = |f: Flow| match f {
            Flow::None => control::FLOW_NONE,
            Flow::XonXoff => control::FLOW_XONXOFF,
            Flow::RtsCts => control::FLOW_HARDWARE,
        };
        let signals = self.port.signals();
        match c {
            control::FLOW_NONE | control::INFLOW_NONE => s.flow = Flow::None,
            control::FLOW_XONXOFF | control::INFLOW_XONXOFF => s.flow = Flow::XonXoff,
            control::FLOW_HARDWARE | control::INFLOW_HARDWARE => s.flow = Flow::RtsCts,
            control::BREAK_ON | control::BREAK_OFF => {
                let on = c == control::BREAK_ON;
                if self.port.set_break(on).is_ok() {
                    self.breaking = on;
                }
                return c;
            }
            control::BREAK_QUERY => {
                return if self.breaking {
                    control::BREAK_ON
                } else {
                    control::BREAK_OFF
                };
            }
            control::DTR_ON | control::DTR_OFF => {
                let _ = self.port.set_outputs(Some(c == control::DTR_ON), None);
                return c;
            }
            control::RTS_ON | control::RTS_OFF => {
                let _ = self.port.set_outputs(None, Some(c == control::RTS_ON));
                return c;
            }
            control::DTR_QUERY => {
                return if signals.is_none_or(|s| s.dtr) {
                    control::DTR_ON
                } else {
                    control::DTR_OFF
                };
            }
            control::RTS_QUERY => {
                return if signals.is_none_or(|s| s.rts) {
                    control::RTS_ON
                } else {
                    control::RTS_OFF
                };
            }
            control::FLOW_QUERY => return flow_code(s.flow),
            control::INFLOW_QUERY => return flow_code(s.flow) + 13,
            other => return other,
        }
        let _ = self.port.set_settings(s);
        c
    }
}

/// Decodes Telnet from the client: data and BREAK to the session, option
/// negotiation answered here, RFC 2217 requests carried out on the port.
async fn telnet_reader(
    mut rd: OwnedReadHalf,
    wire: Wire,
    tx: mpsc::Sender<Input>,
    neg: Arc<Mutex<Negotiator>>,
    binary: Arc<AtomicBool>,
    mut com: Option<ComPort>,
) {
    let mut dec = Decoder::new();
    dec.set_translate_cr(true);
    let mut buf = vec![0u8; console::INPUT_BUFFER];
    let mut events = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let n = tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(n) if n > 0 => n,
                _ => return,
            },
            _ = tick.tick() => {
                if let Some(c) = com.as_mut() {
                    let mut out = Vec::new();
                    c.modem_change(&mut out);
                    if send(&wire, &out).await.is_err() {
                        return;
                    }
                }
                continue;
            }
        };
        events.clear();
        dec.feed(&buf[..n], &mut events);
        let mut reply = Vec::new();
        for ev in events.drain(..) {
            match ev {
                Event::Data(d) => {
                    if tx.send(Input::Data(Bytes::from(d))).await.is_err() {
                        return;
                    }
                }
                Event::Command(telnet::BRK) => {
                    if tx.send(Input::Break).await.is_err() {
                        return;
                    }
                }
                Event::Command(telnet::AYT) => reply.extend_from_slice(b"\r\n[lifeline: yes]\r\n"),
                Event::Command(_) => {}
                Event::Will(o) => negotiate(&neg, telnet::WILL, o, &mut reply, &binary, &mut dec),
                Event::Wont(o) => negotiate(&neg, telnet::WONT, o, &mut reply, &binary, &mut dec),
                Event::Do(o) => negotiate(&neg, telnet::DO, o, &mut reply, &binary, &mut dec),
                Event::Dont(o) => negotiate(&neg, telnet::DONT, o, &mut reply, &binary, &mut dec),
                Event::Sub(opt::COM_PORT, payload) => {
                    if let (Some(c), Ok(req)) = (com.as_mut(), rfc2217::parse(&payload)) {
                        c.handle(req, &mut reply);
                    }
                }
                Event::Sub(_, _) => {}
            }
        }
        if send(&wire, &reply).await.is_err() {
            return;
        }
    }
}

fn negotiate(
    neg: &Mutex<Negotiator>,
    verb: u8,
    o: u8,
    reply: &mut Vec<u8>,
    binary: &AtomicBool,
    dec: &mut Decoder,
) {
    let mut n = neg.lock().unwrap();
    n.receive(verb, o, reply);
    if o == opt::BINARY {
        binary.store(n.local(opt::BINARY), Ordering::Relaxed);
        dec.set_translate_cr(!n.remote(opt::BINARY));
    }
}

/// Telnet (RFC 854) and RFC 2217 sessions. Telnet asks for a login and gives the
/// console with its escape menu; RFC 2217 is for programs: no login, no menu.
async fn telnet_session(mgr: Arc<Manager>, conn: Conn, protocol: Protocol) {
    let Conn {
        stream: sock,
        peer,
        target: name,
        gate,
    } = conn;
    let Some(port) = mgr.get(&name) else { return };
    let com_port = protocol == Protocol::Rfc2217;
    if com_port {
        gate.authenticated();
    }
    let (rd, wr) = sock.into_split();
    let wire: Wire = Arc::new(tokio::sync::Mutex::new(wr));
    let (local, remote): (&[u8], &[u8]) = if com_port {
        (
            &[opt::BINARY, opt::SGA, opt::COM_PORT],
            &[opt::BINARY, opt::SGA, opt::COM_PORT],
        )
    } else {
        (
            &[opt::BINARY, opt::SGA, opt::ECHO],
            &[opt::BINARY, opt::SGA, opt::NAWS],
        )
    };
    let mut neg = Negotiator::new(local, remote);
    let mut hello = Vec::new();
    for &o in local {
        neg.ask_local(o, &mut hello);
    }
    for &o in remote {
        neg.ask_remote(o, &mut hello);
    }
    if send(&wire, &hello).await.is_err() {
        return;
    }
    let neg = Arc::new(Mutex::new(neg));
    let binary = Arc::new(AtomicBool::new(false));
    let (tx, input) = mpsc::channel(16);
    let (suspend, suspended) = watch::channel(false);
    let com = com_port.then(|| ComPort {
        port: port.clone(),
        suspend,
        modem_mask: 0xff,
        last_modem: None,
        breaking: false,
    });
    let reader = tokio::spawn(telnet_reader(
        rd,
        wire.clone(),
        tx,
        neg,
        binary.clone(),
        com,
    ));
    let out = TelnetOut {
        wire,
        binary,
        suspended,
        buf: Vec::new(),
    };
    let mut term = Term::new(Box::new(input), Box::new(out), "", Some(peer), protocol);
    if com_port {
        match port.attach(
            mgr.next_session_id(),
            "",
            protocol,
            Some(peer),
            Access::ReadWrite,
        ) {
            Ok(att) => {
                console::pump(&mgr, &mut term, att, None).await;
                // The configuration is the truth once the program is done.
                let _ = port.set_settings(port.config().settings);
            }
            Err(why) => {
                let _ = term.say(&format!("{why}\n")).await;
            }
        }
    } else if let Some(user) = login(&mgr, &mut term, &name, peer).await {
        gate.authenticated();
        term.user = user;
        console::interactive(mgr, term, Some(name)).await;
    }
    reader.abort();
}

/// Asks for a user name and password (three tries).
async fn login(mgr: &Manager, term: &mut Term<'_>, port: &str, peer: SocketAddr) -> Option<String> {
    term.say(&format!("\n{} console {port}\n", crate::host::hostname()))
        .await
        .ok()?;
    for _ in 0..3 {
        term.say("login: ").await.ok()?;
        let user = term.read_line(true).await?;
        term.say("Password: ").await.ok()?;
        let password = term.read_line(false).await?;
        let user = user.trim().to_string();
        if !user.is_empty() && mgr.check_password(&user, &password) {
            return Some(user);
        }
        crate::aaa::login_failure(&mgr.ds.events, &user, peer, "telnet", "password");
        tokio::time::sleep(Duration::from_millis(500)).await;
        term.say("Login incorrect\n").await.ok()?;
    }
    None
}
