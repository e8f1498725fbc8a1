//! The Powerman client protocol (powermand, TCP 10101). The server greets with
//! `001 <version>` and a `powerman> ` prompt; each command is answered by
//! `3xx` data lines and one final line, `1xx` done or `2xx` failed (`209 No
//! such nodes`), then the prompt again. A command sent before the prompt is
//! refused (`208 Command in progress`), so the client always waits for it.
//! The core is sans-IO ([`Exchange`]); [`Client`] moves the bytes, with a
//! timeout on every exchange.
use std::collections::BTreeMap;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::lines::{LineError, Lines};
use super::{DriverError, Io, OutletState};

pub const MAX_LINE: usize = 4096;
const PROMPT: &[u8] = b"powerman> ";

/// A node name as powermand takes it (plain names; no ranges from us).
fn node(n: &str) -> Result<&str, DriverError> {
    if n.is_empty()
        || n.len() > 64
        || !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(DriverError::Invalid(format!(
            "{n:?} is not a Powerman node name"
        )));
    }
    Ok(n)
}

/// What a command answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub code: u16,
    pub text: String,
    /// The 3xx lines, without their codes.
    pub data: Vec<String>,
}

/// The answer to one command, fed line by line.
#[derive(Default)]
pub struct Exchange {
    data: Vec<String>,
}

impl Exchange {
    pub fn on_line(&mut self, line: &str) -> Result<Option<Answer>, DriverError> {
        let (code, text) = match line.split_once(' ') {
            Some((c, t)) => (c, t),
            None => (line, ""),
        };
        let code: u16 = match code.parse() {
            Ok(c) if code.len() == 3 => c,
            _ => {
                let shown: String = line.chars().take(80).collect();
                return Err(DriverError::Protocol(format!(
                    "powermand sent a line without a reply code: {shown:?}"
                )));
            }
        };
        match code / 100 {
            3 => {
                if self.data.len() >= 100_000 {
                    return Err(DriverError::Protocol(
                        "powermand sent a reply without end".into(),
                    ));
                }
                self.data.push(text.to_string());
                Ok(None)
            }
            1 | 0 => Ok(Some(Answer {
                code,
                text: text.to_string(),
                data: std::mem::take(&mut self.data),
            })),
            2 => Err(DriverError::Refused(format!("powermand: {code} {text}"))),
            _ => Err(DriverError::Protocol(format!(
                "powermand sent an unknown reply code {code}"
            ))),
        }
    }
}

/// The plug states of a `status` answer with host range expansion on
/// (`t3: on` lines).
pub fn states(data: &[String]) -> Result<BTreeMap<String, OutletState>, DriverError> {
    let mut out = BTreeMap::new();
    for l in data {
        let Some((name, state)) = l.split_once(':') else {
            return Err(DriverError::Protocol(format!(
                "powermand status line {l:?} is not node: state"
            )));
        };
        let state = match state.trim() {
            "on" => OutletState::On,
            "off" => OutletState::Off,
            _ => OutletState::Unknown,
        };
        out.insert(name.trim().to_string(), state);
    }
    Ok(out)
}

pub struct Client {
    io: Box<dyn Io>,
    lines: Lines,
    timeout: Duration,
}

impl Client {
    /// Reads the greeting and turns host range expansion on (one node a line).
    pub async fn start(io: Box<dyn Io>, timeout: Duration) -> Result<Client, DriverError> {
        let mut c = Client {
            io,
            lines: Lines::new(MAX_LINE),
            timeout,
        };
        let greeting = c.exchange(None).await?;
        if greeting.code != 1 {
            return Err(DriverError::Protocol(format!(
                "powermand greeted with {} {}",
                greeting.code, greeting.text
            )));
        }
        let a = c.command("exprange").await?;
        // The command toggles: a server that had it on is turned back.
        if a.text.contains("OFF") {
            c.command("exprange").await?;
        }
        Ok(c)
    }

    /// Sends a command (or nothing, for the greeting) and reads its answer and
    /// the prompt after it.
    async fn exchange(&mut self, command: Option<&str>) -> Result<Answer, DriverError> {
        let mut ex = Exchange::default();
        let work = async {
            if let Some(cmd) = command {
                self.io.write_all(format!("{cmd}\r\n").as_bytes()).await?;
                self.io.flush().await?;
            }
            let mut answer = None;
            loop {
                if answer.is_some() {
                    // After the answer only the prompt may come.
                    if self.lines.take_prefix(PROMPT) {
                        return Ok(answer.take().expect("checked"));
                    }
                    let got = self.lines.partial();
                    if !PROMPT.starts_with(&got[..got.len().min(PROMPT.len())]) {
                        let shown: String = String::from_utf8_lossy(got).chars().take(80).collect();
                        return Err(DriverError::Protocol(format!(
                            "powermand sent {shown:?} after its answer"
                        )));
                    }
                } else if let Some(l) = self.lines.next_line().map_err(line_error)? {
                    answer = ex.on_line(&l)?;
                    continue;
                }
                let mut buf = [0u8; 4096];
                let n = self.io.read(&mut buf).await?;
                if n == 0 {
                    return Err(DriverError::Unreachable(
                        "powermand closed the connection".into(),
                    ));
                }
                self.lines.feed(&buf[..n]);
            }
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(DriverError::Timeout(format!(
                "powermand did not answer {} in {:?}",
                command.unwrap_or("the connection"),
                self.timeout
            ))),
        }
    }

    async fn command(&mut self, cmd: &str) -> Result<Answer, DriverError> {
        self.exchange(Some(cmd)).await
    }

    /// Every node's plug state.
    pub async fn status(&mut self) -> Result<BTreeMap<String, OutletState>, DriverError> {
        let a = self.command("status").await?;
        states(&a.data)
    }

    /// `on`, `off`, `cycle` or `reset` of one node.
    pub async fn switch(&mut self, verb: &str, n: &str) -> Result<(), DriverError> {
        debug_assert!(matches!(verb, "on" | "off" | "cycle" | "reset"));
        self.command(&format!("{verb} {}", node(n)?))
            .await
            .map(|_| ())
    }

    pub async fn quit(&mut self) {
        let _ = self.io.write_all(b"quit\r\n").await;
    }
}

fn line_error(e: LineError) -> DriverError {
    match e {
        LineError::TooLong(n) => {
            DriverError::Protocol(format!("powermand sent a line longer than {n} bytes"))
        }
        LineError::NotText => {
            DriverError::Protocol("powermand sent a line that is not text".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_failures() {
        let mut ex = Exchange::default();
        assert_eq!(ex.on_line("303 t0: off").unwrap(), None);
        assert_eq!(ex.on_line("303 t1: on").unwrap(), None);
        let a = ex.on_line("103 Query complete").unwrap().unwrap();
        assert_eq!(a.code, 103);
        let s = states(&a.data).unwrap();
        assert_eq!(s["t1"], OutletState::On);
        assert_eq!(s["t0"], OutletState::Off);
        let mut ex = Exchange::default();
        assert!(matches!(
            ex.on_line("209 No such nodes: t99"),
            Err(DriverError::Refused(m)) if m.contains("No such nodes")
        ));
        assert!(Exchange::default().on_line("garbage").is_err());
        assert!(node("t1; rm").is_err() && node("t1").is_ok());
    }
}
