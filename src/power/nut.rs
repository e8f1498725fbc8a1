//! The Network UPS Tools network protocol (RFC 9271), client side. The core is
//! sans-IO: requests are encoded to lines, and an [`Exchange`] is fed the
//! server's lines until it has the reply (a list ends with its END line). The
//! tokio [`Client`] around it only moves bytes, with a timeout on every
//! exchange.
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::lines::{LineError, Lines};
use super::{DriverError, Io};

/// Longest line accepted from upsd (its own buffers are smaller).
pub const MAX_LINE: usize = 4096;

/// A request of the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Username(String),
    Password(String),
    StartTls,
    SetTracking,
    ListVar(String),
    ListCmd(String),
    GetVar(String, String),
    SetVar(String, String, String),
    InstCmd(String, String),
    GetTracking(String),
    Logout,
}

/// Quotes a value: `"..."` with `\` and `"` escaped.
pub fn quote(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A word of a request must not break the line or the words.
fn word(w: &str) -> Result<&str, DriverError> {
    if w.is_empty()
        || w.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"')
    {
        return Err(DriverError::Invalid(format!(
            "{w:?} cannot be sent to upsd"
        )));
    }
    Ok(w)
}

impl Request {
    /// The line to send, newline included.
    pub fn encode(&self) -> Result<String, DriverError> {
        Ok(match self {
            Request::Username(u) => format!("USERNAME {}\n", word(u)?),
            Request::Password(p) => format!("PASSWORD {}\n", word(p)?),
            Request::StartTls => "STARTTLS\n".into(),
            Request::SetTracking => "SET TRACKING ON\n".into(),
            Request::ListVar(u) => format!("LIST VAR {}\n", word(u)?),
            Request::ListCmd(u) => format!("LIST CMD {}\n", word(u)?),
            Request::GetVar(u, v) => format!("GET VAR {} {}\n", word(u)?, word(v)?),
            Request::SetVar(u, v, value) => {
                if value.contains(['\n', '\r']) {
                    return Err(DriverError::Invalid("a value cannot hold a newline".into()));
                }
                format!("SET VAR {} {} {}\n", word(u)?, word(v)?, quote(value))
            }
            Request::InstCmd(u, c) => format!("INSTCMD {} {}\n", word(u)?, word(c)?),
            Request::GetTracking(id) => format!("GET TRACKING {}\n", word(id)?),
            Request::Logout => "LOGOUT\n".into(),
        })
    }
}

/// Splits a line into words; a quoted word may hold spaces and `\"` `\\`.
pub fn tokens(line: &str) -> Result<Vec<String>, DriverError> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let Some(&c) = chars.peek() else {
            return Ok(out);
        };
        let mut w = String::new();
        if c == '"' {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => match chars.next() {
                        Some(e) => w.push(e),
                        None => return Err(garbage(line, "an escape at the end")),
                    },
                    Some('"') => break,
                    Some(c) => w.push(c),
                    None => return Err(garbage(line, "an unterminated quote")),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                w.push(c);
                chars.next();
            }
        }
        out.push(w);
    }
}

fn garbage(line: &str, what: &str) -> DriverError {
    let shown: String = line.chars().take(80).collect();
    DriverError::Protocol(format!("upsd sent {what}: {shown:?}"))
}

/// What a command's tracking says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tracking {
    Pending,
    Success,
    Failed(String),
}

/// A reply of upsd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `OK`, maybe `OK TRACKING <id>` or `OK STARTTLS`, `OK Goodbye`.
    Ok(Option<String>),
    Var(String),
    /// The lines of a LIST, each without its first word (`VAR`, `CMD`).
    List(Vec<Vec<String>>),
    Tracking(Tracking),
}

impl Reply {
    /// A `LIST VAR` reply as (name, value) pairs.
    pub fn vars(self) -> Result<Vec<(String, String)>, DriverError> {
        match self {
            Reply::List(items) => Ok(items
                .into_iter()
                .filter_map(|mut i| {
                    if i.len() != 2 {
                        return None;
                    }
                    let v = i.pop()?;
                    Some((i.pop()?, v))
                })
                .collect()),
            _ => Err(DriverError::Protocol(
                "LIST VAR answered without a list".into(),
            )),
        }
    }

    /// A `LIST CMD` reply as command names.
    pub fn commands(self) -> Result<Vec<String>, DriverError> {
        match self {
            Reply::List(items) => Ok(items
                .into_iter()
                .filter_map(|i| i.into_iter().next())
                .collect()),
            _ => Err(DriverError::Protocol(
                "LIST CMD answered without a list".into(),
            )),
        }
    }
}

/// The error codes of RFC 9271 (and what an operator can do about them).
pub fn describe(code: &str) -> &'static str {
    match code {
        "ACCESS-DENIED" => "the NUT user may not do this (check upsd.users: instcmds, actions)",
        "UNKNOWN-UPS" => "upsd has no such UPS",
        "VAR-NOT-SUPPORTED" => "the device has no such variable",
        "CMD-NOT-SUPPORTED" => "the device has no such command",
        "INVALID-ARGUMENT" => "the request was not understood",
        "INSTCMD-FAILED" => "the driver could not run the command",
        "SET-FAILED" => "the driver could not set the variable",
        "READONLY" => "the variable is read-only",
        "TOO-LONG" => "the value is too long",
        "FEATURE-NOT-SUPPORTED" => "upsd does not support this (no TLS built in?)",
        "FEATURE-NOT-CONFIGURED" => "upsd is not configured for this (no TLS certificate?)",
        "ALREADY-SSL-MODE" => "the connection is already TLS",
        "DRIVER-NOT-CONNECTED" => "upsd has lost its driver for the device",
        "DATA-STALE" => "the driver's data is stale",
        "ALREADY-LOGGED-IN" => "already logged in",
        "INVALID-PASSWORD" => "the password was refused",
        "ALREADY-SET-PASSWORD" => "the password was already given",
        "INVALID-USERNAME" => "the user name was refused",
        "ALREADY-SET-USERNAME" => "the user name was already given",
        "USERNAME-REQUIRED" => "a NUT user is needed (set username and password)",
        "PASSWORD-REQUIRED" => "a password is needed",
        "UNKNOWN-COMMAND" => "upsd does not know the request",
        "INVALID-VALUE" => "the value was refused",
        "UNKNOWN" => "the driver does not know the command (or the tracking id)",
        _ => "an error upsd did not explain",
    }
}

/// The reply of one request, fed line by line.
pub struct Exchange {
    list: Option<String>,
    items: Vec<Vec<String>>,
    tracking: bool,
}

impl Exchange {
    pub fn new(req: &Request) -> Exchange {
        Exchange {
            list: match req {
                Request::ListVar(u) => Some(format!("VAR {u}")),
                Request::ListCmd(u) => Some(format!("CMD {u}")),
                _ => None,
            },
            items: Vec::new(),
            tracking: matches!(req, Request::GetTracking(_)),
        }
    }

    /// The reply once it is complete.
    pub fn on_line(&mut self, line: &str) -> Result<Option<Reply>, DriverError> {
        let t = tokens(line)?;
        let first = t.first().map(String::as_str).unwrap_or("");
        if first == "ERR" {
            let code = t.get(1).cloned().unwrap_or_default();
            return Err(DriverError::Refused(format!(
                "upsd: ERR {code}: {}",
                describe(&code)
            )));
        }
        if let Some(list) = &self.list {
            let header = format!("LIST {list}");
            return match first {
                "BEGIN" if t[1..].join(" ") == header => Ok(None),
                "END" if t[1..].join(" ") == header => {
                    Ok(Some(Reply::List(std::mem::take(&mut self.items))))
                }
                _ if list.starts_with(first) && !first.is_empty() && t.len() >= 2 => {
                    if self.items.len() >= 100_000 {
                        return Err(garbage(line, "a list without end"));
                    }
                    // `VAR ups name "value"`: keep name and value.
                    self.items.push(t[2..].to_vec());
                    Ok(None)
                }
                _ => Err(garbage(line, "a line outside its list")),
            };
        }
        if self.tracking {
            return match first {
                "PENDING" => Ok(Some(Reply::Tracking(Tracking::Pending))),
                "SUCCESS" => Ok(Some(Reply::Tracking(Tracking::Success))),
                _ => Err(garbage(line, "an unknown tracking state")),
            };
        }
        match first {
            "OK" => Ok(Some(Reply::Ok(match t.get(1).map(String::as_str) {
                Some("TRACKING") => t.get(2).cloned(),
                _ => None,
            }))),
            "VAR" if t.len() == 4 => Ok(Some(Reply::Var(t[3].clone()))),
            _ => Err(garbage(line, "an unexpected reply")),
        }
    }
}

/// A connection to upsd, logged in when a user is configured.
pub struct Client {
    io: Box<dyn Io>,
    lines: Lines,
    timeout: Duration,
}

impl Client {
    pub fn new(io: Box<dyn Io>, timeout: Duration) -> Client {
        Client {
            io,
            lines: Lines::new(MAX_LINE),
            timeout,
        }
    }

    /// Sends a request and reads its reply, within the timeout.
    pub async fn request(&mut self, req: &Request) -> Result<Reply, DriverError> {
        let line = req.encode()?;
        let mut ex = Exchange::new(req);
        let work = async {
            self.io.write_all(line.as_bytes()).await?;
            self.io.flush().await?;
            loop {
                if let Some(l) = self.lines.next_line().map_err(line_error)? {
                    if let Some(r) = ex.on_line(&l)? {
                        return Ok(r);
                    }
                    continue;
                }
                let mut buf = [0u8; 4096];
                let n = self.io.read(&mut buf).await?;
                if n == 0 {
                    return Err(DriverError::Unreachable(
                        "upsd closed the connection".into(),
                    ));
                }
                self.lines.feed(&buf[..n]);
            }
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(DriverError::Timeout(format!(
                "upsd did not answer {} in {:?}",
                line.split_whitespace().next().unwrap_or(""),
                self.timeout
            ))),
        }
    }

    /// Logs in (USERNAME, PASSWORD) and asks for command tracking.
    pub async fn login(&mut self, user: &str, password: &str) -> Result<(), DriverError> {
        self.request(&Request::Username(user.into())).await?;
        self.request(&Request::Password(password.into())).await?;
        self.request(&Request::SetTracking).await?;
        Ok(())
    }

    /// Every variable of a UPS, as (name, value).
    pub async fn vars(&mut self, ups: &str) -> Result<Vec<(String, String)>, DriverError> {
        self.request(&Request::ListVar(ups.into())).await?.vars()
    }

    /// The instant commands a UPS offers.
    pub async fn commands(&mut self, ups: &str) -> Result<Vec<String>, DriverError> {
        self.request(&Request::ListCmd(ups.into()))
            .await?
            .commands()
    }

    /// Runs an instant command and follows its tracking to the driver's answer.
    pub async fn instcmd(
        &mut self,
        ups: &str,
        cmd: &str,
        wait: Duration,
    ) -> Result<(), DriverError> {
        let Reply::Ok(tracking) = self
            .request(&Request::InstCmd(ups.into(), cmd.into()))
            .await?
        else {
            return Err(DriverError::Protocol("INSTCMD answered without OK".into()));
        };
        // Without tracking, upsd's OK only says the command was passed on.
        let Some(id) = tracking else {
            return Ok(());
        };
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match self.request(&Request::GetTracking(id.clone())).await {
                Ok(Reply::Tracking(Tracking::Success)) => return Ok(()),
                Ok(Reply::Tracking(Tracking::Pending)) => {}
                Ok(_) => return Err(DriverError::Protocol("GET TRACKING answered oddly".into())),
                Err(DriverError::Refused(e)) => {
                    return Err(DriverError::Refused(format!("{cmd}: {e}")));
                }
                Err(e) => return Err(e),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(DriverError::Timeout(format!(
                    "the driver did not finish {cmd} in {wait:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Upgrades the connection to TLS (RFC 9271 STARTTLS).
    pub async fn starttls(
        mut self,
        host: &str,
        ca: Option<&std::path::Path>,
    ) -> Result<Client, DriverError> {
        match self.request(&Request::StartTls).await? {
            Reply::Ok(_) => {}
            _ => return Err(DriverError::Protocol("STARTTLS answered oddly".into())),
        }
        let io = super::tls::connect(self.io, host, ca).await?;
        Ok(Client {
            io,
            lines: Lines::new(MAX_LINE),
            timeout: self.timeout,
        })
    }

    pub async fn logout(&mut self) {
        let _ = self.request(&Request::Logout).await;
    }
}

fn line_error(e: LineError) -> DriverError {
    match e {
        LineError::TooLong(n) => {
            DriverError::Protocol(format!("upsd sent a line longer than {n} bytes"))
        }
        LineError::NotText => DriverError::Protocol("upsd sent a line that is not text".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_round_trips() {
        let v = r#"a "quoted" \ value"#;
        let line = format!("VAR ups x {}", quote(v));
        assert_eq!(tokens(&line).unwrap(), vec!["VAR", "ups", "x", v]);
        assert!(tokens("VAR a b \"open").is_err());
        assert!(Request::Username("a b".into()).encode().is_err());
        assert!(
            Request::SetVar("u".into(), "v".into(), "x\ny".into())
                .encode()
                .is_err()
        );
    }

    #[test]
    fn lists_errors_and_tracking() {
        let mut ex = Exchange::new(&Request::ListVar("ups".into()));
        assert_eq!(ex.on_line("BEGIN LIST VAR ups").unwrap(), None);
        assert_eq!(ex.on_line(r#"VAR ups ups.status "OB LB""#).unwrap(), None);
        assert_eq!(
            ex.on_line("END LIST VAR ups").unwrap(),
            Some(Reply::List(vec![vec!["ups.status".into(), "OB LB".into()]]))
        );
        let mut ex = Exchange::new(&Request::ListVar("ups".into()));
        assert!(ex.on_line("CMD other load.off").is_err());
        let mut ex = Exchange::new(&Request::InstCmd("u".into(), "c".into()));
        assert_eq!(
            ex.on_line("OK TRACKING 1C41F5E4").unwrap(),
            Some(Reply::Ok(Some("1C41F5E4".into())))
        );
        let mut ex = Exchange::new(&Request::InstCmd("u".into(), "c".into()));
        let e = ex.on_line("ERR ACCESS-DENIED").unwrap_err();
        assert!(
            matches!(e, DriverError::Refused(ref m) if m.contains("instcmds")),
            "{e:?}"
        );
        let mut ex = Exchange::new(&Request::GetTracking("x".into()));
        assert_eq!(
            ex.on_line("PENDING").unwrap(),
            Some(Reply::Tracking(Tracking::Pending))
        );
        let mut ex = Exchange::new(&Request::GetTracking("x".into()));
        assert!(matches!(
            ex.on_line("ERR UNKNOWN"),
            Err(DriverError::Refused(_))
        ));
    }
}
