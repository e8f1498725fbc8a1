//! An operator's console session, whatever carried it (SSH, Telnet, the CLI):
//! the port chooser (`pmshell`), the attached console with its escape menu, and
//! the plain byte pump of raw TCP and RFC 2217.
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use super::Manager;
use super::config::Protocol;
use super::escape::{COMMANDS, Escape, Piece};
use super::port::{Attachment, Port};
use crate::aaa::Access;

/// Read size for what a client types: keystrokes, now and then a paste. Small,
/// as every idle session holds one.
pub const INPUT_BUFFER: usize = 256;

pub type InputFuture<'a> = Pin<Box<dyn Future<Output = Option<Input>> + Send + 'a>>;

/// Where a client's input comes from. `recv` must be cancel-safe: the session
/// waits on it beside the console's output.
pub trait Source: Send {
    fn recv(&mut self) -> InputFuture<'_>;
}

/// Input decoded by a protocol's own reader task (Telnet).
impl Source for mpsc::Receiver<Input> {
    fn recv(&mut self) -> InputFuture<'_> {
        Box::pin(mpsc::Receiver::recv(self))
    }
}

/// A plain byte stream (raw TCP, an SSH channel), read in place: no task, no
/// queue per idle session.
pub struct Reader<R> {
    rd: R,
    buf: Box<[u8]>,
}

impl<R> Reader<R> {
    pub fn new(rd: R) -> Reader<R> {
        Reader {
            rd,
            buf: vec![0u8; INPUT_BUFFER].into_boxed_slice(),
        }
    }
}

impl<R: tokio::io::AsyncRead + Unpin + Send> Source for Reader<R> {
    fn recv(&mut self) -> InputFuture<'_> {
        use tokio::io::AsyncReadExt;
        Box::pin(async move {
            // A read that has not completed has consumed nothing.
            match self.rd.read(&mut self.buf).await {
                Ok(n) if n > 0 => Some(Input::Data(Bytes::copy_from_slice(&self.buf[..n]))),
                _ => None,
            }
        })
    }
}

/// What a client sends, decoded from its protocol.
#[derive(Debug)]
pub enum Input {
    Data(Bytes),
    Break,
}

pub type WriteFuture<'a> = Pin<Box<dyn Future<Output = io::Result<()>> + Send + 'a>>;

/// Where output to the client goes (each protocol encodes it its way).
pub trait Output: Send {
    fn write<'a>(&'a mut self, data: &'a [u8]) -> WriteFuture<'a>;
}

/// Output to a byte stream as it is.
pub struct Plain<W>(pub W);

impl<W: AsyncWrite + Unpin + Send> Output for Plain<W> {
    fn write<'a>(&'a mut self, data: &'a [u8]) -> WriteFuture<'a> {
        Box::pin(async move {
            self.0.write_all(data).await?;
            self.0.flush().await
        })
    }
}

/// A client's terminal: its input, its output, and who it is.
pub struct Term<'a> {
    pub input: Box<dyn Source + 'a>,
    pub out: Box<dyn Output + 'a>,
    /// The logged-in user; empty for raw TCP and RFC 2217.
    pub user: String,
    pub remote: Option<SocketAddr>,
    pub protocol: Protocol,
    /// Input read past the end of a line, for the next `read_line`.
    pending: Vec<u8>,
    after_cr: bool,
}

impl<'a> Term<'a> {
    pub fn new(
        input: Box<dyn Source + 'a>,
        out: Box<dyn Output + 'a>,
        user: &str,
        remote: Option<SocketAddr>,
        protocol: Protocol,
    ) -> Term<'a> {
        Term {
            input,
            out,
            user: user.to_string(),
            remote,
            protocol,
            pending: Vec::new(),
            after_cr: false,
        }
    }

    /// The next input: what was typed past the last prompt's line first.
    async fn next(&mut self) -> Option<Input> {
        if self.after_cr && self.pending.first() == Some(&b'\n') {
            self.pending.remove(0);
        }
        if !self.pending.is_empty() {
            self.after_cr = false;
            return Some(Input::Data(Bytes::from(std::mem::take(&mut self.pending))));
        }
        self.input.recv().await
    }

    pub async fn say(&mut self, text: &str) -> io::Result<()> {
        self.out.write(text.replace('\n', "\r\n").as_bytes()).await
    }

    /// Reads a line typed at a prompt; `None` when the client is gone or typed
    /// Ctrl-D on an empty line. Ctrl-C gives an empty line.
    pub async fn read_line(&mut self, echo: bool) -> Option<String> {
        let mut line: Vec<u8> = Vec::new();
        loop {
            if self.pending.is_empty() {
                match self.input.recv().await? {
                    Input::Data(d) => self.pending.extend_from_slice(&d),
                    Input::Break => continue,
                }
            }
            let bytes = std::mem::take(&mut self.pending);
            for (i, &b) in bytes.iter().enumerate() {
                let after_cr = std::mem::replace(&mut self.after_cr, b == b'\r');
                match b {
                    b'\n' if after_cr => {}
                    b'\r' | b'\n' | 0x03 => {
                        self.pending = bytes[i + 1..].to_vec();
                        let _ = self.out.write(b"\r\n").await;
                        if b == 0x03 {
                            line.clear();
                        }
                        return Some(String::from_utf8_lossy(&line).into_owned());
                    }
                    0x04 if line.is_empty() => return None,
                    0x7f | 0x08 => {
                        let erased = line.pop().is_some();
                        if erased && echo {
                            let _ = self.out.write(b"\x08 \x08").await;
                        }
                    }
                    0x15 => {
                        if echo {
                            for _ in 0..line.len() {
                                let _ = self.out.write(b"\x08 \x08").await;
                            }
                        }
                        line.clear();
                    }
                    0x20..=0x7e | 0x80.. if line.len() < 256 => {
                        line.push(b);
                        if echo {
                            let _ = self.out.write(&[b]).await;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// How an attached session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    Disconnect,
    Menu,
    Kicked(String),
    Gone,
}

/// An interactive session (SSH, Telnet, the CLI's `pmshell`): straight to
/// `target` when given, else (and after `~m`) the port chooser. False when the
/// client went away.
pub async fn interactive(mgr: Arc<Manager>, mut term: Term<'_>, target: Option<String>) -> bool {
    let mut next = target.clone();
    let mut chooser = target.is_none();
    loop {
        let port = match next.take() {
            Some(t) => match mgr.find(&t) {
                Some(p) => p,
                None => {
                    let _ = term.say(&format!("no console port {t}\n")).await;
                    if !chooser {
                        return true;
                    }
                    continue;
                }
            },
            None => match choose(&mgr, &mut term).await {
                Some(p) => p,
                None => return true,
            },
        };
        let access = mgr.access(&term.user, &port);
        let att = match port.attach(
            mgr.next_session_id(),
            &term.user,
            term.protocol,
            term.remote,
            access,
        ) {
            Ok(a) => a,
            Err(why) => {
                let _ = term.say(&format!("{why}\n")).await;
                if !chooser {
                    return true;
                }
                continue;
            }
        };
        let cfg = port.config();
        let esc = cfg.escape;
        let label = cfg.label.map(|l| format!(" ({l})")).unwrap_or_default();
        let mode = if access == Access::ReadWrite {
            "read-write"
        } else {
            "read-only"
        };
        let _ = term
            .say(&format!(
                "[lifeline: {}{label}, {mode}; {}? for help]\n",
                port.name, esc as char
            ))
            .await;
        match pump(&mgr, &mut term, att, Some(esc)).await {
            End::Menu => chooser = true,
            End::Disconnect => {
                let _ = term.say("\n[lifeline: disconnected]\n").await;
                return true;
            }
            End::Kicked(why) => {
                let _ = term.say(&format!("\n[lifeline: {why}]\n")).await;
                return true;
            }
            End::Gone => return false,
        }
    }
}

/// The port chooser: lists the ports the user may use and attaches to the one
/// picked by number, name or label.
async fn choose(mgr: &Manager, term: &mut Term<'_>) -> Option<Arc<Port>> {
    loop {
        let ports = mgr.visible(&term.user);
        if ports.is_empty() {
            let _ = term
                .say(&format!("no console ports for {}\n", term.user))
                .await;
            return None;
        }
        let mut text = format!(
            "\nConsole ports for {}:\n  {:>4}  {:<16} {:<24} {:>8}  {}\n",
            term.user, "#", "name", "label", "sessions", "access"
        );
        for (p, a) in &ports {
            let c = p.config();
            text.push_str(&format!(
                "  {:>4}  {:<16} {:<24} {:>8}  {}{}\n",
                c.number,
                c.name,
                c.label.unwrap_or_default(),
                p.sessions().len(),
                a.as_str(),
                if c.enabled { "" } else { " (disabled)" }
            ));
        }
        text.push_str("Port (number or name, q to quit): ");
        term.say(&text).await.ok()?;
        let line = term.read_line(true).await?;
        let pick = line.trim();
        if pick.is_empty() {
            continue;
        }
        if pick == "q" || pick == "quit" || pick == "exit" {
            return None;
        }
        let found = mgr
            .find(pick)
            .filter(|p| ports.iter().any(|(v, _)| Arc::ptr_eq(v, p)));
        match found {
            Some(p) => return Some(p),
            None => {
                let _ = term.say(&format!("no console port {pick}\n")).await;
            }
        }
    }
}

/// Moves bytes both ways until the session ends; with an escape character,
/// runs the escape menu.
pub async fn pump(mgr: &Manager, term: &mut Term<'_>, mut att: Attachment, esc: Option<u8>) -> End {
    let mut escape = esc.map(Escape::new);
    let mut pieces = Vec::new();
    let mut told = std::time::Instant::now() - std::time::Duration::from_secs(60);
    loop {
        tokio::select! {
            why = att.kick.wait() => return End::Kicked(why),
            out = att.output.recv() => match out {
                Ok(b) => {
                    if term.out.write(&b).await.is_err() {
                        return End::Gone;
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    let _ = term
                        .say(&format!(
                            "\n[lifeline: {n} chunks of console output skipped: this connection is too slow; the transcript has them]\n"
                        ))
                        .await;
                }
                Err(RecvError::Closed) => return End::Kicked("the port is closed".into()),
            },
            input = term.next() => {
                let Some(input) = input else { return End::Gone };
                let data = match input {
                    Input::Break => {
                        // Boxed, like the menu below: rare, and every idle session
                        // would otherwise carry their state inline.
                        let note = match Box::pin(send_break(&att)).await {
                            Ok(()) => "BREAK sent".to_string(),
                            Err(e) => e,
                        };
                        let _ = term.say(&format!("\n[lifeline: {note}]\n")).await;
                        continue;
                    }
                    Input::Data(d) => d,
                };
                let Some(e) = escape.as_mut() else {
                    if let Err(why) = att.write(data).await
                        && told.elapsed().as_secs() >= 5
                    {
                        told = std::time::Instant::now();
                        let _ = term.say(&format!("\n[lifeline: {why}]\n")).await;
                    }
                    continue;
                };
                e.feed(&data, &mut pieces);
                for piece in std::mem::take(&mut pieces) {
                    match piece {
                        Piece::Data(d) => {
                            if let Err(why) = att.write(Bytes::from(d)).await
                                && told.elapsed().as_secs() >= 5
                            {
                                told = std::time::Instant::now();
                                let _ = term.say(&format!("\n[lifeline: {why}]\n")).await;
                            }
                        }
                        Piece::Command(c) => {
                            let run = Box::pin(command(mgr, term, &att, c, esc.unwrap_or(b'~')));
                            if let Some(end) = run.await {
                                return end;
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn send_break(att: &Attachment) -> Result<(), String> {
    if att.info().is_none_or(|i| i.access != Access::ReadWrite) {
        return Err("a read-only session cannot send BREAK".into());
    }
    att.port
        .send_break(250)
        .await
        .map_err(|e| format!("BREAK failed: {e}"))
}

/// Runs one escape menu command; `Some` ends the attachment.
async fn command(
    mgr: &Manager,
    term: &mut Term<'_>,
    att: &Attachment,
    c: u8,
    esc: u8,
) -> Option<End> {
    let esc = esc as char;
    let text = match c {
        b'.' => return Some(End::Disconnect),
        b'm' => return Some(End::Menu),
        b'b' => match send_break(att).await {
            Ok(()) => "BREAK sent".to_string(),
            Err(e) => e,
        },
        b'h' => {
            let h = att.port.history(4096);
            let _ = term
                .say(&format!(
                    "\n[lifeline: recent output of {}]\n",
                    att.port.name
                ))
                .await;
            let _ = term.out.write(&h).await;
            "end of history".to_string()
        }
        b'w' => {
            let mut t = format!("sessions on {}:", att.port.name);
            for s in att.port.sessions() {
                t.push_str(&format!(
                    "\n  {:>5}{} {} since {} ({})",
                    s.id,
                    if s.id == att.id { "*" } else { " " },
                    s.who(),
                    s.since.format("%Y-%m-%d %H:%M:%S UTC"),
                    s.mode()
                ));
            }
            t
        }
        b'e' => {
            let on = att.info().is_some_and(|i| !i.exclusive);
            match att.set_exclusive(on) {
                Ok(Some(other)) => {
                    format!("exclusive write access taken over from session {other}")
                }
                Ok(None) if on => "exclusive write access: only this session can type".into(),
                Ok(None) => "exclusive write access given back".into(),
                Err(e) => e.to_string(),
            }
        }
        b'p' => power(mgr, term, att).await,
        _ => {
            let mut t = "escape commands:".to_string();
            for (k, what) in COMMANDS {
                t.push_str(&format!("\n  {esc}{}  {what}", *k as char));
            }
            t.push_str(&format!("\n  {esc}{esc}  send {esc} itself"));
            t
        }
    };
    let _ = term.say(&format!("\n[lifeline: {text}]\n")).await;
    None
}

/// `~p`: switches the port's linked outlets through the power service's
/// actions, as the session's user (NACM decides).
async fn power(mgr: &Manager, term: &mut Term<'_>, att: &Attachment) -> String {
    let outlets = att.port.config().outlets;
    if outlets.is_empty() {
        return format!("{} has no linked power outlets", att.port.name);
    }
    if att.info().is_none_or(|i| i.access != Access::ReadWrite) {
        return "a read-only session cannot switch power".into();
    }
    let mut t = format!("\n[lifeline: power outlets of {}]\n", att.port.name);
    for (i, (dev, outlet)) in outlets.iter().enumerate() {
        t.push_str(&format!("  {}  {dev} outlet {outlet}\n", i + 1));
    }
    t.push_str("outlet and action (on, off, cycle), e.g. '1 cycle'; Enter to return: ");
    let _ = term.say(&t).await;
    let Some(line) = term.read_line(true).await else {
        return "cancelled".into();
    };
    let words: Vec<&str> = line.split_whitespace().collect();
    let (Some(n), Some(action)) = (words.first(), words.get(1)) else {
        return "cancelled".into();
    };
    let Some((dev, outlet)) = n
        .parse::<usize>()
        .ok()
        .and_then(|i| outlets.get(i.checked_sub(1)?))
    else {
        return format!("no outlet {n}");
    };
    if !["on", "off", "cycle"].contains(action) {
        return format!("no action {action}: on, off or cycle");
    }
    let session = mgr.ds.new_session(
        &term.user,
        crate::datastore::Face::Console,
        term.remote.map(|a| a.ip().to_string()),
    );
    let path = crate::service::DataPath::root("lifeline-power:power")
        .entry("device", &[("name", dev)])
        .entry("outlet", &[("id", outlet)])
        .child(action);
    let result = mgr
        .ds
        .action(
            &session,
            crate::datastore::ActionCall::Json(path, serde_json::json!({})),
        )
        .await;
    match result {
        Ok(_) => format!("{dev} outlet {outlet}: {action} done"),
        Err(e) => format!("{dev} outlet {outlet}: {action} failed: {}", e.message),
    }
}
