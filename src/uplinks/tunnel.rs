//! The tunnel brought up on failover: WireGuard (a kernel interface where the
//! kernel has WireGuard, otherwise the userspace implementation configured
//! over its UAPI socket), or commands that bring an IPsec or OpenVPN tunnel
//! up and down.
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::config::{TunnelKind, WireGuard};
use super::routing::{Netlink, prefix};

/// A tunnel that is up; dropping it does not take it down (`down` does).
pub enum Running {
    Kernel,
    Userspace(tokio::process::Child),
    Command,
}

/// The UAPI socket of a userspace WireGuard interface.
fn uapi_socket(ifname: &str) -> PathBuf {
    PathBuf::from(format!("/var/run/wireguard/{ifname}.sock"))
}

fn hex_key(b64: &str) -> Result<String, String> {
    let k = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("not a WireGuard key: {e}"))?;
    if k.len() != 32 {
        return Err("not a WireGuard key: not 32 bytes".into());
    }
    Ok(k.iter().map(|b| format!("{b:02x}")).collect())
}

/// The UAPI `set` request that configures the interface (WireGuard's
/// cross-platform configuration protocol).
pub fn uapi_set(wg: &WireGuard) -> Result<String, String> {
    let mut s = String::from("set=1\n");
    s += &format!("private_key={}\n", hex_key(&wg.private_key)?);
    if let Some(p) = wg.listen_port {
        s += &format!("listen_port={p}\n");
    }
    s += "replace_peers=true\n";
    let p = &wg.peer;
    s += &format!("public_key={}\n", hex_key(&p.public_key)?);
    s += &format!(
        "endpoint={}\n",
        std::net::SocketAddr::new(p.endpoint, p.endpoint_port)
    );
    s += &format!("persistent_keepalive_interval={}\n", p.persistent_keepalive);
    s += "replace_allowed_ips=true\n";
    for a in &p.allowed_ips {
        s += &format!("allowed_ip={a}\n");
    }
    s += "\n";
    Ok(s)
}

async fn uapi(ifname: &str, request: &str) -> Result<(), String> {
    let mut sock = tokio::net::UnixStream::connect(uapi_socket(ifname))
        .await
        .map_err(|e| format!("{}: {e}", uapi_socket(ifname).display()))?;
    sock.write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut lines = BufReader::new(sock).lines();
    while let Some(l) = lines.next_line().await.map_err(|e| e.to_string())? {
        if let Some(errno) = l.strip_prefix("errno=") {
            return match errno {
                "0" => Ok(()),
                e => Err(format!("wireguard refused the configuration (errno {e})")),
            };
        }
    }
    Err("wireguard closed its control socket without an answer".into())
}

async fn index_of(nl: &Netlink, ifname: &str) -> Result<Option<u32>, String> {
    Ok(nl
        .links()
        .await?
        .into_iter()
        .find(|l| l.name == ifname)
        .map(|l| l.index))
}

/// Brings the tunnel up: creates and configures the interface, adds its
/// addresses and sets it up. Returns its interface index.
pub async fn up(nl: &Netlink, ifname: &str, kind: &TunnelKind) -> Result<(Running, u32), String> {
    match kind {
        TunnelKind::Command(c) => {
            run(&c.up_command, c.timeout, ifname).await?;
            let idx = index_of(nl, ifname)
                .await?
                .ok_or_else(|| format!("the up-command did not create {ifname}"))?;
            Ok((Running::Command, idx))
        }
        TunnelKind::Wireguard(wg) => {
            let request = uapi_set(wg)?;
            let running = if nl.add_wireguard(ifname).await.is_ok() {
                // The kernel's interface has no UAPI socket: wg(8) speaks
                // its generic netlink family.
                let conf = wg_setconf(wg)?;
                let cmd = format!("wg setconf {ifname} /dev/stdin");
                run_with(&cmd, 10, ifname, Some(conf)).await?;
                Running::Kernel
            } else {
                let mut cmd = tokio::process::Command::new(&wg.userspace_program);
                // The tunnel goes with lifelined, however it ends (the next
                // start makes it again if it is wanted).
                // SAFETY: prctl is async-signal-safe and touches no memory.
                unsafe {
                    cmd.pre_exec(|| {
                        nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
                            .map_err(std::io::Error::from)
                    });
                }
                let child = cmd
                    .arg("-f")
                    .arg(ifname)
                    .env("WG_PROCESS_FOREGROUND", "1")
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .kill_on_drop(true)
                    .spawn()
                    .map_err(|e| format!("{}: {e}", wg.userspace_program))?;
                let mut child = child;
                let sock = uapi_socket(ifname);
                let mut tries = 0;
                while !sock.exists() {
                    if let Ok(Some(st)) = child.try_wait() {
                        return Err(format!("{} exited: {st}", wg.userspace_program));
                    }
                    tries += 1;
                    if tries > 100 {
                        return Err(format!("{} made no control socket", wg.userspace_program));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                uapi(ifname, &request).await?;
                Running::Userspace(child)
            };
            let idx = index_of(nl, ifname)
                .await?
                .ok_or_else(|| format!("{ifname} did not appear"))?;
            for a in &wg.address {
                let (ip, len) = prefix(a).ok_or_else(|| format!("{a} is not a prefix"))?;
                nl.add_address(idx, ip, len).await?;
            }
            nl.set_link(idx, true).await?;
            Ok((running, idx))
        }
    }
}

/// Takes the tunnel down.
pub async fn down(nl: &Netlink, ifname: &str, kind: &TunnelKind, running: Running) {
    match running {
        Running::Command => {
            if let TunnelKind::Command(c) = kind
                && let Err(e) = run(&c.down_command, c.timeout, ifname).await
            {
                tracing::warn!("tunnel {ifname}: down-command: {e}");
            }
        }
        Running::Userspace(mut child) => {
            // SIGTERM lets wireguard-go remove its interface and socket.
            if let Some(pid) = child.id() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            if tokio::time::timeout(Duration::from_secs(3), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
        Running::Kernel => {
            if let Ok(Some(idx)) = index_of(nl, ifname).await
                && let Err(e) = nl.delete_link(idx).await
            {
                tracing::warn!("tunnel {ifname}: delete: {e}");
            }
        }
    }
}

/// wg(8)'s configuration file for the kernel interface.
fn wg_setconf(wg: &WireGuard) -> Result<String, String> {
    hex_key(&wg.private_key)?;
    let p = &wg.peer;
    let mut s = format!("[Interface]\nPrivateKey = {}\n", wg.private_key);
    if let Some(port) = wg.listen_port {
        s += &format!("ListenPort = {port}\n");
    }
    s += &format!(
        "\n[Peer]\nPublicKey = {}\nEndpoint = {}\nAllowedIPs = {}\nPersistentKeepalive = {}\n",
        p.public_key,
        std::net::SocketAddr::new(p.endpoint, p.endpoint_port),
        p.allowed_ips.join(", "),
        p.persistent_keepalive
    );
    Ok(s)
}

/// Runs an operator's command through the shell, killed after `timeout`
/// seconds; `LIFELINE_INTERFACE` names the interface.
pub async fn run(cmd: &str, timeout: u16, ifname: &str) -> Result<(), String> {
    run_with(cmd, timeout, ifname, None).await
}

async fn run_with(
    cmd: &str,
    timeout: u16,
    ifname: &str,
    input: Option<String>,
) -> Result<(), String> {
    let mut child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .env("LIFELINE_INTERFACE", ifname)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let input = input.unwrap_or_default();
        tokio::spawn(async move {
            let _ = stdin.write_all(input.as_bytes()).await;
        });
    }
    match tokio::time::timeout(
        Duration::from_secs(timeout.into()),
        child.wait_with_output(),
    )
    .await
    {
        Err(_) => Err(format!("{cmd}: killed after {timeout} s")),
        Ok(Err(e)) => Err(format!("{cmd}: {e}")),
        Ok(Ok(out)) if out.status.success() => Ok(()),
        Ok(Ok(out)) => Err(format!(
            "{cmd}: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// The endpoint the tunnel's packets go to (kept on the active uplink).
pub fn endpoint(kind: &TunnelKind) -> Option<IpAddr> {
    match kind {
        TunnelKind::Wireguard(wg) => Some(wg.peer.endpoint),
        TunnelKind::Command(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uplinks::config::Peer;

    #[test]
    fn uapi_request_has_hex_keys_and_every_allowed_ip() {
        let key = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
        let wg = WireGuard {
            private_key: key.into(),
            listen_port: Some(51820),
            address: vec!["10.200.0.1/24".into()],
            userspace_program: "wireguard-go".into(),
            peer: Peer {
                public_key: key.into(),
                endpoint: "10.9.0.1".parse().unwrap(),
                endpoint_port: 51821,
                allowed_ips: vec!["10.200.0.0/24".into(), "10.9.0.0/16".into()],
                persistent_keepalive: 25,
            },
        };
        let s = uapi_set(&wg).unwrap();
        assert!(s.starts_with("set=1\nprivate_key=c809f3e5317e95"));
        assert!(s.contains("endpoint=10.9.0.1:51821\n"));
        assert!(s.contains("allowed_ip=10.9.0.0/16\n"));
        assert!(s.ends_with("\n\n"));
        let bad = WireGuard {
            private_key: "AAAA".into(),
            ..wg
        };
        assert!(uapi_set(&bad).is_err());
    }
}
