//! A port's transcript: every byte the console printed (and, at level `all`,
//! every byte a session typed), with timestamps, rotated by size and count, and
//! optionally copied line by line to a syslog server.
//!
//! One record per line of the file: `TIME TAG PAYLOAD`, where TAG is `out`
//! (console output), `in/ID` (typed by session ID) or `---` (connect, disconnect
//! and other notes). A record of console data never spans more than one console
//! line; the payload escapes `\`, control bytes and bytes above 0x7e (`\r`, `\n`,
//! `\t`, `\\`, `\xHH`), so the exact byte stream can be recovered by joining the
//! payloads of one tag.
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::{Path, PathBuf};

use super::config::{LogLevel, Logging};

pub struct Transcript {
    path: PathBuf,
    port: String,
    cfg: Logging,
    file: Option<File>,
    size: u64,
    syslog: Option<(UdpSocket, SocketAddr, u8)>,
    /// The console line being assembled for syslog.
    line: Vec<u8>,
    buf: Vec<u8>,
}

/// Appends `data` to `out` escaped as the transcript stores it.
pub fn escape(data: &[u8], out: &mut Vec<u8>) {
    for &b in data {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x20..=0x7e => out.push(b),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
}

/// The bytes of an escaped payload (the inverse of `escape`).
pub fn unescape(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'\\' && i + 1 < text.len() {
            match text[i + 1] {
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'x' if i + 3 < text.len() => {
                    let hex = std::str::from_utf8(&text[i + 2..i + 4]).unwrap_or("");
                    out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                    i += 4;
                    continue;
                }
                other => out.push(other),
            }
            i += 2;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

impl Transcript {
    pub fn new(dir: &Path, port: &str, cfg: Logging) -> Transcript {
        let mut t = Transcript {
            path: dir.join(format!("{port}.log")),
            port: port.to_string(),
            cfg: cfg.clone(),
            file: None,
            size: 0,
            syslog: None,
            line: Vec::new(),
            buf: Vec::new(),
        };
        t.reconfigure(cfg);
        t
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn reconfigure(&mut self, cfg: Logging) {
        self.syslog = cfg.syslog.as_ref().and_then(|s| {
            let addr = (s.server.as_str(), s.port).to_socket_addrs().ok()?.next()?;
            let local: SocketAddr = if addr.is_ipv4() {
                "0.0.0.0:0".parse().ok()?
            } else {
                "[::]:0".parse().ok()?
            };
            let sock = UdpSocket::bind(local).ok()?;
            sock.set_nonblocking(true).ok()?;
            Some((sock, addr, s.facility))
        });
        if cfg.level == LogLevel::None {
            self.file = None;
        }
        self.cfg = cfg;
    }

    fn file(&mut self) -> Option<&mut File> {
        if self.file.is_none() {
            if let Some(dir) = self.path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| tracing::warn!("transcript {}: {e}", self.path.display()))
                .ok()?;
            self.size = f.metadata().map(|m| m.len()).unwrap_or(0);
            self.file = Some(f);
        }
        self.file.as_mut()
    }

    fn rotate(&mut self) {
        self.file = None;
        let numbered = |k: u32| PathBuf::from(format!("{}.{k}", self.path.display()));
        let _ = std::fs::remove_file(numbered(self.cfg.rotate));
        for k in (1..self.cfg.rotate).rev() {
            let _ = std::fs::rename(numbered(k), numbered(k + 1));
        }
        let _ = std::fs::rename(&self.path, numbered(1));
    }

    /// Makes what was written durable.
    pub fn sync(&mut self) {
        if let Some(f) = &self.file {
            let _ = f.sync_data();
        }
    }

    /// Writes the records held in `buf` with one system call.
    fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let buf = std::mem::take(&mut self.buf);
        if let Some(f) = self.file() {
            if let Err(e) = f.write_all(&buf) {
                tracing::warn!("transcript write: {e}");
            }
            self.size += buf.len() as u64;
        }
        self.buf = buf;
        self.buf.clear();
        if self.size >= self.cfg.max_bytes {
            self.rotate();
        }
    }

    fn records(&mut self, tag: &str, data: &[u8]) {
        let ts = now();
        for piece in data.split_inclusive(|b| *b == b'\n') {
            self.buf.extend_from_slice(ts.as_bytes());
            self.buf.push(b' ');
            self.buf.extend_from_slice(tag.as_bytes());
            self.buf.push(b' ');
            escape(piece, &mut self.buf);
            self.buf.push(b'\n');
        }
        self.flush();
    }

    /// Console output.
    pub fn output(&mut self, data: &[u8]) {
        if self.cfg.level != LogLevel::None {
            self.records("out", data);
        }
        if self.syslog.is_some() {
            for &b in data {
                if b == b'\n' || self.line.len() >= 1024 {
                    let line = std::mem::take(&mut self.line);
                    self.send_syslog(&line);
                } else if b != b'\r' {
                    self.line.push(b);
                }
            }
        }
    }

    /// What session `id` typed.
    pub fn input(&mut self, id: u32, data: &[u8]) {
        if self.cfg.level == LogLevel::All {
            self.records(&format!("in/{id}"), data);
        }
    }

    /// Text written by the port's send action on behalf of `user`: noted,
    /// and recorded as input (tag `in/send`) as sessions' input is.
    pub fn sent(&mut self, user: &str, data: &[u8]) {
        self.note(&format!("{user} sent {} bytes (send action)", data.len()));
        if self.cfg.level == LogLevel::All {
            self.records("in/send", data);
        }
    }

    /// A note: a session attached or left, the device went away.
    pub fn note(&mut self, text: &str) {
        if self.cfg.level != LogLevel::None {
            self.records("---", text.as_bytes());
        }
        self.send_syslog(text.as_bytes());
    }

    fn send_syslog(&self, line: &[u8]) {
        let Some((sock, addr, facility)) = &self.syslog else {
            return;
        };
        // RFC 5424, severity informational.
        let text = format!("{}: {}", self.port, String::from_utf8_lossy(line));
        let msg = crate::host::syslog::message(*facility, 6, "lifeline", &text);
        let _ = sock.send_to(&msg, addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logging(max: u64) -> Logging {
        Logging {
            level: LogLevel::All,
            max_bytes: max,
            rotate: 2,
            syslog: None,
        }
    }

    #[test]
    fn escape_round_trips_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        let mut e = Vec::new();
        escape(&all, &mut e);
        assert!(!e.contains(&b'\n'));
        assert_eq!(unescape(&e), all);
    }

    #[test]
    fn records_split_at_lines_and_rotate() {
        let dir = std::env::temp_dir().join(format!("ll-transcript-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut t = Transcript::new(&dir, "port01", logging(1 << 20));
        t.output(b"login: \r\nfoo\\bar");
        t.input(3, b"admin\r");
        t.note("admin attached");
        let text = std::fs::read_to_string(t.path()).unwrap();
        let tags: Vec<&str> = text.lines().map(|l| l.split(' ').nth(1).unwrap()).collect();
        assert_eq!(tags, ["out", "out", "in/3", "---"]);
        assert!(text.contains(" out foo\\\\bar\n"));
        let mut small = Transcript::new(&dir, "port02", logging(100));
        for _ in 0..20 {
            small.output(b"0123456789012345678901234567890123456789\r\n");
        }
        assert!(dir.join("port02.log.1").exists());
        assert!(dir.join("port02.log.2").exists());
        assert!(!dir.join("port02.log.3").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
