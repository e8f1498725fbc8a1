//! E-mail through an SMTP server (`lettre` over tokio, TLS by rustls).
//!
//! A [`Mailer`] is built once per configuration (`/auto-response/email`); each
//! [`send`](Mailer::send) opens a connection, says the message and closes
//! (no pool: an alarm mail is rare, and an idle connection only goes stale).
//! Security `none` is plain SMTP; `starttls` requires STARTTLS (no message or
//! password is sent before it); `tls` is TLS from the start (port 465).
//! Certificates are checked against the Mozilla roots built in (webpki-roots).
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;

/// How the connection to the server is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum Security {
    #[serde(rename = "none")]
    None,
    #[default]
    #[serde(rename = "starttls")]
    StartTls,
    #[serde(rename = "tls")]
    Tls,
}

impl Security {
    pub fn as_str(self) -> &'static str {
        match self {
            Security::None => "none",
            Security::StartTls => "starttls",
            Security::Tls => "tls",
        }
    }
}

/// `/auto-response/email`, with YANG's defaults.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct EmailConfig {
    pub server: String,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default)]
    pub security: Security,
    pub from: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// A PEM file of the CA to trust instead of the public roots.
    #[serde(default, rename = "ca-certificate")]
    pub ca_certificate: Option<String>,
    /// A send that takes longer fails (YANG: seconds, 1..600).
    #[serde(default = "default_timeout", deserialize_with = "seconds")]
    pub timeout: Duration,
}

fn default_port() -> u16 {
    25
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

fn seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    match u16::deserialize(d)? {
        0 => Err(serde::de::Error::custom("a timeout of 0 seconds")),
        s => Ok(Duration::from_secs(u64::from(s))),
    }
}

impl fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailConfig")
            .field("server", &self.server)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("from", &self.from)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "(hidden)"))
            .field("ca_certificate", &self.ca_certificate)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why a mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("{address:?} is not an e-mail address")]
    BadAddress { address: String },
    #[error("no recipients")]
    NoRecipients,
    #[error("cannot build the message: {0}")]
    Message(String),
    #[error("cannot reach the SMTP server {server}:{port}: {reason}")]
    Connect {
        server: String,
        port: u16,
        reason: String,
    },
    #[error("TLS with the SMTP server {server}:{port} failed: {reason}")]
    Tls {
        server: String,
        port: u16,
        reason: String,
    },
    #[error("the SMTP server answered {code}: {text}")]
    Smtp { code: u16, text: String },
    #[error("the SMTP server {server}:{port} did not finish within {} s", timeout.as_secs())]
    Timeout {
        server: String,
        port: u16,
        timeout: Duration,
    },
    #[error("the SMTP exchange with {server}:{port} failed: {reason}")]
    Protocol {
        server: String,
        port: u16,
        reason: String,
    },
}

/// Sends mail through one configured server. Clones share the transport.
#[derive(Clone)]
pub struct Mailer {
    transport: Arc<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    server: String,
    port: u16,
    timeout: Duration,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("server", &self.server)
            .field("port", &self.port)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

fn mailbox(address: &str) -> Result<Mailbox, EmailError> {
    address.parse().map_err(|_| EmailError::BadAddress {
        address: address.chars().take(100).collect(),
    })
}

/// A header's text on one line.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Is a rustls error somewhere in `e`'s chain (a failed handshake)?
fn is_tls(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(e) = source {
        if e.is::<tokio_rustls::rustls::Error>() {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io
                .get_ref()
                .is_some_and(|inner| inner.is::<tokio_rustls::rustls::Error>())
        {
            return true;
        }
        source = e.source();
    }
    false
}

impl Mailer {
    pub fn new(config: &EmailConfig) -> Result<Mailer, EmailError> {
        let from = mailbox(&config.from)?;
        let tls_error = |e: lettre::transport::smtp::Error| EmailError::Tls {
            server: config.server.clone(),
            port: config.port,
            reason: e.to_string(),
        };
        let builder = match (config.security, &config.ca_certificate) {
            (Security::None, _) => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.server.as_str())
            }
            // The site's own CA, and only it.
            (security, Some(ca)) => {
                let pem = std::fs::read(ca).map_err(|e| EmailError::Tls {
                    server: config.server.clone(),
                    port: config.port,
                    reason: format!("{ca}: {e}"),
                })?;
                let cert = Certificate::from_pem(&pem).map_err(tls_error)?;
                let params = TlsParameters::builder(config.server.clone())
                    .certificate_store(CertificateStore::None)
                    .add_root_certificate(cert)
                    .build_rustls()
                    .map_err(tls_error)?;
                let tls = if security == Security::Tls {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                };
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.server.as_str())
                    .tls(tls)
            }
            (Security::StartTls, None) => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.server)
                    .map_err(tls_error)?
            }
            (Security::Tls, None) => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(&config.server).map_err(tls_error)?
            }
        };
        let mut builder = builder.port(config.port).timeout(Some(config.timeout));
        if let Some(user) = &config.username {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                config.password.clone().unwrap_or_default(),
            ));
        }
        Ok(Mailer {
            transport: Arc::new(builder.build()),
            from,
            server: config.server.clone(),
            port: config.port,
            timeout: config.timeout,
        })
    }

    /// Sends one plain-text mail to every address of `to`. The whole send
    /// (connection, TLS, login, message) has the configured timeout.
    pub async fn send(&self, to: &[String], subject: &str, body: &str) -> Result<(), EmailError> {
        if to.is_empty() {
            return Err(EmailError::NoRecipients);
        }
        let mut message = Message::builder()
            .from(self.from.clone())
            .subject(one_line(subject))
            .header(ContentType::TEXT_PLAIN);
        for address in to {
            message = message.to(mailbox(address)?);
        }
        let message = message
            .body(body.to_string())
            .map_err(|e| EmailError::Message(e.to_string()))?;
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Err(_) => Err(self.timed_out()),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(self.error(e)),
        }
    }

    fn timed_out(&self) -> EmailError {
        EmailError::Timeout {
            server: self.server.clone(),
            port: self.port,
            timeout: self.timeout,
        }
    }

    fn error(&self, e: lettre::transport::smtp::Error) -> EmailError {
        use std::error::Error as _;
        let (server, port) = (self.server.clone(), self.port);
        let reason = || match e.source() {
            Some(s) => s.to_string(),
            None => e.to_string(),
        };
        if e.is_timeout() {
            return self.timed_out();
        }
        if let Some(code) = e.status() {
            return EmailError::Smtp {
                code: code.to_string().parse().unwrap_or(0),
                text: e.source().map(|s| s.to_string()).unwrap_or_default(),
            };
        }
        let refused_tls = e.is_client()
            && matches!(
                reason().as_str(),
                "STARTTLS is not supported on this server" | "Connection is not encrypted"
            );
        if e.is_tls() || refused_tls || is_tls(&e) {
            return EmailError::Tls {
                server,
                port,
                reason: reason(),
            };
        }
        if e.is_response() || e.is_client() {
            return EmailError::Protocol {
                server,
                port,
                reason: reason(),
            };
        }
        EmailError::Connect {
            server,
            port,
            reason: reason(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::Stdio;
    use tokio::io::{AsyncBufReadExt, BufReader};

    const PYTHON: &str = "/opt/lifeline-venv/bin/python";

    fn config(port: u16) -> EmailConfig {
        EmailConfig {
            server: "127.0.0.1".into(),
            port,
            security: Security::None,
            from: "lifeline@example.net".into(),
            username: None,
            password: None,
            ca_certificate: None,
            timeout: Duration::from_secs(30),
        }
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    #[test]
    fn the_config_reads_yang_names_and_defaults() {
        let c: EmailConfig = serde_json::from_str(
            r#"{"server": "smtp.example.net", "from": "oob@example.net",
                "security": "tls", "port": 465, "username": "oob",
                "password": "secret", "timeout": 12}"#,
        )
        .unwrap();
        assert_eq!(c.security, Security::Tls);
        assert_eq!(c.timeout, Duration::from_secs(12));
        assert!(!format!("{c:?}").contains("secret"));
        let c: EmailConfig =
            serde_json::from_str(r#"{"server": "smtp.example.net", "from": "oob@example.net"}"#)
                .unwrap();
        assert_eq!(
            (c.port, c.security, c.timeout),
            (25, Security::StartTls, Duration::from_secs(30))
        );
        for s in ["none", "starttls", "tls"] {
            let c: EmailConfig = serde_json::from_str(&format!(
                r#"{{"server": "s", "from": "a@b", "security": "{s}"}}"#
            ))
            .unwrap();
            assert_eq!(c.security.as_str(), s);
            Mailer::new(&c).unwrap();
        }
    }

    #[tokio::test]
    async fn bad_addresses_are_refused_before_any_connection() {
        let mut c = config(free_port());
        c.from = "not an address".into();
        assert!(matches!(
            Mailer::new(&c),
            Err(EmailError::BadAddress { .. })
        ));
        let m = Mailer::new(&config(free_port())).unwrap();
        let e = m.send(&["nobody".into()], "s", "b").await.unwrap_err();
        assert!(matches!(e, EmailError::BadAddress { .. }), "{e:?}");
        assert!(matches!(
            m.send(&[], "s", "b").await,
            Err(EmailError::NoRecipients)
        ));
    }

    #[tokio::test]
    async fn a_closed_port_is_a_connect_error() {
        // The timeout is long: the refusal, not the timer, ends the send.
        let m = Mailer::new(&config(free_port())).unwrap();
        let e = m
            .send(&["ops@example.net".into()], "s", "b")
            .await
            .unwrap_err();
        assert!(matches!(e, EmailError::Connect { .. }), "{e:?}");
        assert!(
            e.to_string()
                .starts_with("cannot reach the SMTP server 127.0.0.1:"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_mail_reaches_an_smtp_server() {
        if !Path::new(PYTHON).exists() {
            eprintln!("skipped: no {PYTHON}");
            return;
        }
        let has_aiosmtpd = std::process::Command::new(PYTHON)
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success());
        if !has_aiosmtpd {
            eprintln!("skipped: aiosmtpd is not installed in {PYTHON}'s venv");
            return;
        }
        let port = free_port();
        let mut server = tokio::process::Command::new(PYTHON)
            .args(["-u", "-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut ready = false;
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(ready, "aiosmtpd did not listen on {port}");

        let m = Mailer::new(&config(port)).unwrap();
        let to = vec!["ops@example.net".to_string(), "noc@example.net".to_string()];
        m.send(
            &to,
            "Port 7 is down\r\nBcc: evil@example.net",
            "The console on port 7 went quiet.\n",
        )
        .await
        .unwrap();

        let mut out = BufReader::new(server.stdout.take().unwrap()).lines();
        let mut seen = Vec::new();
        let printed = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(line) = out.next_line().await.unwrap() {
                let end = line.contains("END MESSAGE");
                seen.push(line);
                if end {
                    break;
                }
            }
        })
        .await;
        server.kill().await.unwrap();
        assert!(printed.is_ok(), "aiosmtpd printed {seen:?}");
        let text = seen.join("\n");
        assert!(
            text.contains("Subject: Port 7 is down  Bcc: evil@example.net"),
            "{text}"
        );
        assert!(text.contains("The console on port 7 went quiet."), "{text}");
        assert!(
            text.contains("ops@example.net") && text.contains("noc@example.net"),
            "{text}"
        );
        assert!(text.contains("From: lifeline@example.net"), "{text}");
        assert!(!text.lines().any(|l| l.starts_with("Bcc:")), "{text}");
    }
}
