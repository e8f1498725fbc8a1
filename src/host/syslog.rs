//! Syslog messages (RFC 5424), to a server over UDP or to the local syslog's
//! `/dev/log`.
use std::net::SocketAddr;

/// One RFC 5424 message; control characters of `text` become spaces.
pub fn message(facility: u8, severity: u8, app: &str, text: &str) -> Vec<u8> {
    let pri = u32::from(facility) * 8 + u32::from(severity.min(7));
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let mut msg = format!("<{pri}>1 {now} {} {app} - - - ", crate::host::hostname()).into_bytes();
    msg.extend(text.bytes().map(|b| if b < 0x20 { b' ' } else { b }));
    msg
}

/// Sends `msg` to `server` (UDP), or to `/dev/log` without one.
pub async fn send(server: Option<SocketAddr>, msg: &[u8]) -> std::io::Result<()> {
    match server {
        Some(addr) => {
            let bind: SocketAddr = if addr.is_ipv4() {
                "0.0.0.0:0".parse().expect("address")
            } else {
                "[::]:0".parse().expect("address")
            };
            let sock = tokio::net::UdpSocket::bind(bind).await?;
            sock.send_to(msg, addr).await.map(|_| ())
        }
        None => {
            let sock = tokio::net::UnixDatagram::unbound()?;
            sock.send_to(msg, "/dev/log").await.map(|_| ())
        }
    }
}
