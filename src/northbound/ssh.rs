//! One SSH server for the management faces: the `netconf` subsystem, the CLI as
//! shells and exec, and console sessions. Logins are checked against the
//! users of the AAA directory; a connection's place among those waiting for
//! their login is given back when it logs in.
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use russh::keys::PrivateKey;
use russh::server::{Auth, Msg, Session as SshSession};
use russh::{Channel, ChannelId, ChannelMsg, MethodKind, MethodSet};
use tokio::io::AsyncWriteExt;

use crate::datastore::{Face, Handle};
use crate::listen::{self, Gate, Kind, Listeners, ServeFuture};
use crate::northbound::cli::{Cli, shell};
use crate::northbound::limits::Limits;
use crate::northbound::netconf::Netconf;
use crate::northbound::{Ended, session_event};
use crate::ports::Manager;
use crate::ports::config::Protocol;
use crate::ports::console::{self, Plain, Term};
use crate::shutdown::Shutdown;

/// What a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Netconf,
    Cli,
    /// A console port's own SSH listener.
    Console,
}

pub struct SshServer {
    ds: Handle,
    netconf: Arc<Netconf>,
    cli_limits: Arc<Limits>,
    config: Arc<russh::server::Config>,
    ports: Arc<Manager>,
    shutdown: Shutdown,
}

/// Loads the host key of the state dir, creating it on first boot.
pub fn host_key(state_dir: &Path) -> anyhow::Result<PrivateKey> {
    let path = state_dir.join("ssh_host_ed25519_key");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return Ok(PrivateKey::from_openssh(text)?);
    }
    let seed: [u8; 32] = rand::random();
    let private = russh::keys::ssh_key::private::Ed25519PrivateKey::from_bytes(&seed);
    let key = PrivateKey::from(russh::keys::ssh_key::private::Ed25519Keypair::from(private));
    let text = key.to_openssh(russh::keys::ssh_key::LineEnding::LF)?;
    crate::datastore::persist::write_atomic(&path, text.as_bytes())?;
    Ok(key)
}

impl SshServer {
    /// The server, serving the NETCONF, CLI and console SSH listeners.
    pub fn new(
        ds: Handle,
        netconf: Arc<Netconf>,
        key: PrivateKey,
        ports: Arc<Manager>,
        listeners: &Listeners,
        shutdown: Shutdown,
    ) -> Arc<SshServer> {
        let mut methods = MethodSet::empty();
        methods.push(MethodKind::Password);
        methods.push(MethodKind::PublicKey);
        let config = russh::server::Config {
            methods,
            keys: vec![key],
            auth_rejection_time: Duration::from_millis(300),
            auth_rejection_time_initial: Some(Duration::ZERO),
            max_auth_attempts: 6,
            inactivity_timeout: None,
            // Dead clients (network gone, no FIN) are found by keepalives.
            keepalive_interval: Some(Duration::from_secs(15)),
            keepalive_max: 3,
            nodelay: true,
            ..Default::default()
        };
        let server = Arc::new(SshServer {
            ds,
            netconf,
            cli_limits: Limits::new(),
            config: Arc::new(config),
            ports,
            shutdown,
        });
        for (kind, role) in [
            (Kind::Netconf, Role::Netconf),
            (Kind::Cli, Role::Cli),
            (Kind::ConsoleSsh, Role::Console),
        ] {
            listeners.handle(kind, Arc::new(Serve(server.clone(), role)));
        }
        server
    }

    pub fn netconf(&self) -> &Arc<Netconf> {
        &self.netconf
    }

    pub fn cli_limits(&self) -> &Arc<Limits> {
        &self.cli_limits
    }
}

/// The listener handler of one role.
struct Serve(Arc<SshServer>, Role);

impl listen::Handler for Serve {
    fn serve(&self, conn: listen::Conn) -> ServeFuture {
        let server = self.0.clone();
        let role = self.1;
        Box::pin(async move {
            let peer = conn.peer;
            let handler = Conn {
                server: server.clone(),
                peer,
                user: None,
                target: (role == Role::Console).then(|| conn.target.clone()),
                role,
                gate: conn.gate,
            };
            match russh::server::run_stream(server.config.clone(), conn.stream, handler).await {
                Ok(session) => {
                    let _ = session.await;
                }
                Err(e) => tracing::debug!("ssh from {peer}: {e}"),
            }
        })
    }
}

struct Conn {
    server: Arc<SshServer>,
    peer: SocketAddr,
    user: Option<String>,
    /// The console port asked for (`user:port03` or the port's own listener).
    target: Option<String>,
    role: Role,
    /// Given back when the login succeeds.
    gate: Gate,
}

impl Conn {
    /// `user:port` logs `user` in straight to a console port (on the CLI's
    /// listeners; a port's own listener already knows its port).
    fn split_login<'u>(&mut self, login: &'u str) -> &'u str {
        match login.split_once(':') {
            Some((user, port)) if self.role == Role::Cli && !port.is_empty() => {
                self.target = Some(port.to_string());
                user
            }
            _ => login,
        }
    }

    fn login_failure(&self, user: &str, method: &str) {
        crate::aaa::login_failure(&self.server.ds.events, user, self.peer, "ssh", method);
    }

    fn accept(&mut self, user: &str) -> Auth {
        self.user = Some(user.to_string());
        self.gate.authenticated();
        Auth::Accept
    }

    /// Shells, commands and ptys exist on the CLI's and the consoles' listeners.
    fn cli_only(&self, channel: ChannelId, session: &mut SshSession) -> Result<(), russh::Error> {
        if self.role != Role::Netconf {
            session.channel_success(channel)?;
        } else {
            session.channel_failure(channel)?;
        }
        Ok(())
    }

    fn key_authorized(&self, user: &str, key: &russh::keys::PublicKey) -> bool {
        let keys = self.server.ds.aaa().current().authorized_keys(user);
        keys.iter().any(|(alg, data)| {
            russh::keys::PublicKey::from_openssh(&format!("{alg} {data}"))
                .is_ok_and(|k| k.key_data() == key.key_data())
        })
    }
}

impl russh::server::Handler for Conn {
    type Error = russh::Error;

    async fn auth_password(&mut self, login: &str, password: &str) -> Result<Auth, Self::Error> {
        let user = self.split_login(login);
        if self
            .server
            .ds
            .aaa()
            .current()
            .check_password(user, password)
        {
            Ok(self.accept(user))
        } else {
            self.login_failure(user, "password");
            Ok(Auth::reject())
        }
    }

    async fn auth_publickey_offered(
        &mut self,
        login: &str,
        offer: russh::server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        let user = self.split_login(login);
        if self.key_authorized(user, offer.public_key) {
            Ok(Auth::Accept)
        } else {
            Ok(Auth::reject())
        }
    }

    async fn auth_publickey(
        &mut self,
        login: &str,
        key: russh::server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        let user = self.split_login(login);
        if self.key_authorized(user, key.public_key) {
            Ok(self.accept(user))
        } else {
            self.login_failure(user, "publickey");
            Ok(Auth::reject())
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        let Some(user) = self.user.clone() else {
            reply
                .reject(russh::ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        };
        reply.accept().await;
        let server = self.server.clone();
        let peer = self.peer;
        let role = self.role;
        let target = self.target.clone();
        let handle = session.handle();
        tokio::spawn(async move {
            let id = channel.id();
            let exit = Exit {
                handle: handle.clone(),
                id,
            };
            channel_task(channel, server, user, peer, role, target, exit).await;
            let _ = handle.eof(id).await;
            let _ = handle.close(id).await;
        });
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        if self.role == Role::Netconf && name == "netconf" {
            session.channel_success(channel)?;
        } else {
            session.channel_failure(channel)?;
        }
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        self.cli_only(channel, session)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        self.cli_only(channel, session)
    }

    #[allow(clippy::too_many_arguments)]
    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _cols: u32,
        _rows: u32,
        _px: u32,
        _py: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        self.cli_only(channel, session)
    }
}

/// Sends a channel's exit status. The channel must still be open: dropping a
/// channel's stream closes it, and a status after the close is lost (OpenSSH
/// then exits 255), so each path sends its status before its stream goes.
struct Exit {
    handle: russh::server::Handle,
    id: ChannelId,
}

impl Exit {
    async fn send(&self, status: u32) {
        let _ = self.handle.exit_status_request(self.id, status).await;
    }
}

/// Serves one session channel: the NETCONF subsystem, or the CLI as a shell (with
/// or without a pty) or a command, or a console, and sends their exit status.
async fn channel_task(
    mut channel: Channel<Msg>,
    server: Arc<SshServer>,
    user: String,
    peer: SocketAddr,
    role: Role,
    target: Option<String>,
    exit: Exit,
) {
    let mut pty = false;
    let source = Some(peer.ip().to_string());
    while let Some(msg) = channel.wait().await {
        let console = matches!(
            msg,
            ChannelMsg::RequestShell { .. } | ChannelMsg::Exec { .. }
        ) && role != Role::Netconf;
        if console && target.is_some() {
            console_channel(channel, &server, &user, peer, target, &exit).await;
            return;
        }
        if console && role == Role::Cli && server.ds.aaa().current().pmshell_user(&user) {
            console_channel(channel, &server, &user, peer, None, &exit).await;
            return;
        }
        match msg {
            ChannelMsg::RequestSubsystem { name, .. }
                if role == Role::Netconf && name == "netconf" =>
            {
                let session = server.ds.new_session(&user, Face::Netconf, source);
                let stream = channel.into_stream();
                server.netconf.clone().serve(stream, session).await;
                return;
            }
            ChannelMsg::RequestPty { .. } => pty = true,
            ChannelMsg::RequestShell { .. } | ChannelMsg::Exec { .. } if role == Role::Cli => {
                let mut stream = channel.into_stream();
                let Some(_slot) = server.cli_limits.enter() else {
                    let _ = stream
                        .write_all(b"too many CLI sessions; try again later\r\n")
                        .await;
                    exit.send(1).await;
                    return;
                };
                let session = server.ds.new_session(&user, Face::Cli, source);
                let _running = server.shutdown.running();
                session_event(&server.ds.events, &session, None);
                let cli =
                    Cli::new(server.ds.clone(), session.clone()).with_ports(server.ports.clone());
                let idle = server.cli_limits.idle();
                let shutdown = server.shutdown.clone();
                let (status, reason) = {
                    let run = async {
                        match msg {
                            ChannelMsg::Exec { command, .. } => {
                                shell::exec(&mut stream, cli, &String::from_utf8_lossy(&command))
                                    .await
                            }
                            _ if pty => shell::interactive(&mut stream, cli, idle).await,
                            _ => shell::batch(&mut stream, cli).await,
                        }
                    };
                    tokio::select! {
                        status = run => (status, "closed"),
                        _ = shutdown.started() => (1, "other"),
                    }
                };
                if reason == "other" {
                    let _ = stream.write_all(b"\r\nlifeline is shutting down\r\n").await;
                }
                exit.send(status).await;
                drop(stream);
                server.ds.session_end(&session).await;
                session_event(
                    &server.ds.events,
                    &session,
                    Some(Ended {
                        reason,
                        killed_by: None,
                    }),
                );
                return;
            }
            ChannelMsg::RequestSubsystem { .. }
            | ChannelMsg::RequestShell { .. }
            | ChannelMsg::Exec { .. } => {
                return;
            }
            _ => {}
        }
    }
}

/// A console session on an SSH channel: straight to `target`, or the chooser.
/// The channel is only borrowed, so it stays open until the exit status is out.
async fn console_channel(
    mut channel: Channel<Msg>,
    server: &Arc<SshServer>,
    user: &str,
    peer: SocketAddr,
    target: Option<String>,
    exit: &Exit,
) {
    let wr = channel.make_writer();
    let input = Box::new(console::Reader::new(channel.make_reader()));
    let term = Term::new(input, Box::new(Plain(wr)), user, Some(peer), Protocol::Ssh);
    console::interactive(server.ports.clone(), term, target).await;
    exit.send(0).await;
}
