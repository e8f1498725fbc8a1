//! The one owner of every listening socket (NETCONF, CLI, HTTPS, console SSH,
//! Telnet, raw TCP, RFC 2217, SNMP). Services say which endpoints their configuration
//! wants; new sockets are bound when a commit is prepared (an address that
//! cannot be bound refuses the commit) and swapped in when it applies. Accepted
//! connections go to the handler registered for their kind, under two guards:
//! connections that have not logged in yet are capped per face and per source
//! address (as OpenSSH's MaxStartups), and one that has not logged in within the
//! grace time is closed.
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::watch;

/// What a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Netconf,
    Cli,
    ConsoleSsh,
    Telnet,
    RawTcp,
    Rfc2217,
    /// RESTCONF and the web console.
    Https,
    /// UDP: the SNMP agent.
    Snmp,
}

impl Kind {
    /// Which login limits apply.
    pub fn face(self) -> Face {
        match self {
            Kind::Netconf => Face::Netconf,
            Kind::Cli => Face::Cli,
            Kind::Https => Face::Https,
            _ => Face::Console,
        }
    }

    /// Whether connections log in (raw TCP and RFC 2217 have no login: they
    /// are off unless enabled on purpose, and do not count as waiting).
    fn logs_in(self) -> bool {
        !matches!(self, Kind::RawTcp | Kind::Rfc2217 | Kind::Snmp)
    }

    fn udp(self) -> bool {
        self == Kind::Snmp
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Netconf => "netconf",
            Kind::Cli => "cli",
            Kind::ConsoleSsh => "console ssh",
            Kind::Telnet => "telnet",
            Kind::RawTcp => "raw-tcp",
            Kind::Rfc2217 => "rfc2217",
            Kind::Https => "https",
            Kind::Snmp => "snmp",
        }
    }
}

/// The faces whose logins are limited separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Face {
    Netconf,
    Cli,
    Https,
    Console,
}

/// One wanted listening socket: where, what, and for which target (a console
/// port's name; empty for the management faces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub kind: Kind,
    pub target: String,
}

/// An accepted connection, handed to its kind's handler.
pub struct Conn {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    /// The endpoint's target (a console port).
    pub target: String,
    pub gate: Gate,
}

pub type ServeFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Serves the connections of one kind.
pub trait Handler: Send + Sync + 'static {
    fn serve(&self, conn: Conn) -> ServeFuture;
}

/// Serves a UDP socket until `stop` changes.
pub trait UdpHandler: Send + Sync + 'static {
    fn serve(&self, sock: Arc<UdpSocket>, stop: watch::Receiver<bool>) -> ServeFuture;
}

/// How many connections may wait for their login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    pub max: usize,
    pub per_source: usize,
}

impl Default for LoginLimits {
    /// Until the configuration says otherwise (the YANG defaults are applied at
    /// the first commit, before any listener exists).
    fn default() -> Self {
        LoginLimits {
            max: 32,
            per_source: 8,
        }
    }
}

#[derive(Default)]
struct Waiting {
    total: usize,
    by_source: HashMap<IpAddr, usize>,
}

struct FaceState {
    limits: LoginLimits,
    waiting: Waiting,
}

/// A connection's place among those waiting for their login; the place is
/// given back when it logs in or goes away.
pub struct Gate {
    face: Arc<Mutex<FaceState>>,
    source: IpAddr,
    done: Arc<AtomicBool>,
}

impl Gate {
    /// The connection logged in: it no longer counts against the limits, and
    /// the grace timer no longer applies.
    pub fn authenticated(&self) {
        if !self.done.swap(true, Ordering::SeqCst) {
            release(&self.face, self.source);
        }
    }

    pub fn is_authenticated(&self) -> bool {
        self.done.load(Ordering::SeqCst)
    }

    /// A handle that can mark the same connection as logged in from elsewhere
    /// (an SSH handler moved into another task).
    pub fn share(&self) -> Gate {
        Gate {
            face: self.face.clone(),
            source: self.source,
            done: self.done.clone(),
        }
    }
}

/// The wrapper task's own gate: when the connection ends before logging in,
/// its place is given back.
struct Place(Gate);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.authenticated();
    }
}

fn release(face: &Mutex<FaceState>, source: IpAddr) {
    let mut f = face.lock();
    f.waiting.total = f.waiting.total.saturating_sub(1);
    if let Some(n) = f.waiting.by_source.get_mut(&source) {
        *n -= 1;
        if *n == 0 {
            f.waiting.by_source.remove(&source);
        }
    }
}

struct Active {
    kind: Kind,
    target: Arc<Mutex<String>>,
    stop: watch::Sender<bool>,
}

enum Socket {
    Tcp(std::net::TcpListener),
    Udp(std::net::UdpSocket),
}

/// The sockets a prepared commit will start and stop.
pub struct Plan {
    listeners: Arc<Listeners>,
    owner: &'static str,
    start: Vec<(Endpoint, Socket)>,
    stop: Vec<SocketAddr>,
    retarget: Vec<(SocketAddr, String)>,
}

#[derive(Default)]
pub struct Listeners {
    handlers: Mutex<HashMap<Kind, Arc<dyn Handler>>>,
    udp: Mutex<HashMap<Kind, Arc<dyn UdpHandler>>>,
    active: Mutex<HashMap<(&'static str, SocketAddr), Active>>,
    faces: Mutex<HashMap<Face, Arc<Mutex<FaceState>>>>,
    grace_ms: AtomicU64,
    closed: AtomicBool,
    /// Plans are applied from the datastore's thread: tasks start here.
    rt: Option<tokio::runtime::Handle>,
}

impl Listeners {
    /// Listeners whose tasks run on the current runtime.
    pub fn new() -> Arc<Listeners> {
        let l = Listeners {
            rt: tokio::runtime::Handle::try_current().ok(),
            ..Default::default()
        };
        l.grace_ms.store(30_000, Ordering::Relaxed);
        Arc::new(l)
    }

    pub fn handle(&self, kind: Kind, h: Arc<dyn Handler>) {
        self.handlers.lock().insert(kind, h);
    }

    pub fn handle_udp(&self, kind: Kind, h: Arc<dyn UdpHandler>) {
        self.udp.lock().insert(kind, h);
    }

    fn face(&self, face: Face) -> Arc<Mutex<FaceState>> {
        self.faces
            .lock()
            .entry(face)
            .or_insert_with(|| {
                Arc::new(Mutex::new(FaceState {
                    limits: LoginLimits::default(),
                    waiting: Waiting::default(),
                }))
            })
            .clone()
    }

    pub fn set_limits(&self, face: Face, limits: LoginLimits) {
        self.face(face).lock().limits = limits;
    }

    pub fn set_grace(&self, grace: Duration) {
        self.grace_ms
            .store(grace.as_millis() as u64, Ordering::Relaxed);
    }

    /// How many connections of a face wait for their login now.
    pub fn waiting(&self, face: Face) -> usize {
        self.face(face).lock().waiting.total
    }

    /// Binds what `owner`'s configuration newly asks for; what it no longer
    /// asks for is closed when the plan is applied.
    pub fn plan(
        self: &Arc<Self>,
        owner: &'static str,
        wanted: &[Endpoint],
    ) -> Result<Plan, (Endpoint, std::io::Error)> {
        let active = self.active.lock();
        let mut plan = Plan {
            listeners: self.clone(),
            owner,
            start: Vec::new(),
            stop: Vec::new(),
            retarget: Vec::new(),
        };
        for ((o, addr), a) in active.iter() {
            if *o != owner {
                continue;
            }
            match wanted.iter().find(|e| e.addr == *addr) {
                Some(e) if e.kind == a.kind => {
                    if *a.target.lock() != e.target {
                        plan.retarget.push((*addr, e.target.clone()));
                    }
                }
                _ => plan.stop.push(*addr),
            }
        }
        for e in wanted {
            let kept = active
                .get(&(owner, e.addr))
                .is_some_and(|a| a.kind == e.kind);
            if kept || plan.start.iter().any(|(s, _)| s.addr == e.addr) {
                continue;
            }
            let sock = if e.kind.udp() {
                bind_udp(e.addr).map(Socket::Udp)
            } else {
                bind_tcp(e.addr).map(Socket::Tcp)
            };
            match sock {
                Ok(s) => plan.start.push((e.clone(), s)),
                Err(err) => return Err((e.clone(), err)),
            }
        }
        Ok(plan)
    }

    /// Closes every listener (shutdown); later plans start nothing.
    pub fn close_all(&self) {
        self.closed.store(true, Ordering::SeqCst);
        for (_, a) in self.active.lock().drain() {
            let _ = a.stop.send(true);
        }
    }

    async fn accept_loop(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        kind: Kind,
        target: Arc<Mutex<String>>,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                accepted = listener.accept() => {
                    let Ok((stream, peer)) = accepted else {
                        // Out of descriptors, say: do not spin.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    self.admit(stream, peer, kind, target.lock().clone());
                }
            }
        }
    }

    /// Takes a connection in, or closes it at once when its face (or its
    /// source) already has as many waiting for their login as allowed.
    fn admit(&self, stream: TcpStream, peer: SocketAddr, kind: Kind, target: String) {
        let Some(handler) = self.handlers.lock().get(&kind).cloned() else {
            return;
        };
        let face = self.face(kind.face());
        let logs_in = kind.logs_in();
        if logs_in {
            let mut f = face.lock();
            let from = f.waiting.by_source.get(&peer.ip()).copied().unwrap_or(0);
            if f.waiting.total >= f.limits.max || from >= f.limits.per_source {
                tracing::debug!(
                    "{}: {peer} refused: too many waiting for their login",
                    kind.as_str()
                );
                return;
            }
            f.waiting.total += 1;
            *f.waiting.by_source.entry(peer.ip()).or_default() += 1;
        }
        tune(&stream, kind);
        let gate = Gate {
            face,
            source: peer.ip(),
            done: Arc::new(AtomicBool::new(!logs_in)),
        };
        let place = Place(gate.share());
        let grace = Duration::from_millis(self.grace_ms.load(Ordering::Relaxed));
        let conn = Conn {
            stream,
            peer,
            target,
            gate,
        };
        tokio::spawn(async move {
            let place = place;
            let serve = handler.serve(conn);
            tokio::pin!(serve);
            tokio::select! {
                _ = &mut serve => return,
                _ = tokio::time::sleep(grace) => {}
            }
            if !place.0.is_authenticated() {
                tracing::info!(
                    "{}: {peer} did not log in within {grace:?}: closed",
                    kind.as_str()
                );
                return;
            }
            serve.await;
        });
    }
}

impl Plan {
    /// Stops what is no longer wanted and starts what is new.
    pub fn apply(self) {
        let l = self.listeners;
        let _rt = l.rt.as_ref().map(|rt| rt.enter());
        let mut active = l.active.lock();
        for addr in &self.stop {
            if let Some(a) = active.remove(&(self.owner, *addr)) {
                let _ = a.stop.send(true);
            }
        }
        for (addr, target) in &self.retarget {
            if let Some(a) = active.get(&(self.owner, *addr)) {
                *a.target.lock() = target.clone();
            }
        }
        if l.closed.load(Ordering::SeqCst) {
            return;
        }
        for (e, sock) in self.start {
            let (stop, stopped) = watch::channel(false);
            let target = Arc::new(Mutex::new(e.target.clone()));
            match sock {
                Socket::Tcp(std) => match tokio::net::TcpListener::from_std(std) {
                    Ok(listener) => {
                        tracing::info!("{} listening on {}", e.kind.as_str(), e.addr);
                        tokio::spawn(l.clone().accept_loop(
                            listener,
                            e.kind,
                            target.clone(),
                            stopped,
                        ));
                    }
                    Err(err) => {
                        tracing::error!("listener {}: {err}", e.addr);
                        continue;
                    }
                },
                Socket::Udp(std) => {
                    let Some(h) = l.udp.lock().get(&e.kind).cloned() else {
                        continue;
                    };
                    match UdpSocket::from_std(std) {
                        Ok(sock) => {
                            tracing::info!("{} listening on udp {}", e.kind.as_str(), e.addr);
                            tokio::spawn(h.serve(Arc::new(sock), stopped));
                        }
                        Err(err) => {
                            tracing::error!("listener udp {}: {err}", e.addr);
                            continue;
                        }
                    }
                }
            }
            active.insert(
                (self.owner, e.addr),
                Active {
                    kind: e.kind,
                    target,
                    stop,
                },
            );
        }
    }

    /// Whether the plan starts its owner's first socket (SNMP's coldStart).
    pub fn starts_any(&self) -> bool {
        !self.start.is_empty()
    }
}

/// Socket options by kind: no delayed ACKs anywhere (replies span several
/// packets); on consoles, dead peers (network gone, no FIN) found by keepalive
/// probes and a bound on unacknowledged data, so none holds a port past a minute.
fn tune(stream: &TcpStream, kind: Kind) {
    let _ = stream.set_nodelay(true);
    if kind.face() == Face::Console {
        keepalive(stream);
    }
}

/// TCP keepalive (15 s, then 3 probes 10 s apart) and a 45 s user timeout.
pub fn keepalive(sock: &TcpStream) {
    let s = socket2::SockRef::from(sock);
    let ka = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(15))
        .with_interval(Duration::from_secs(10))
        .with_retries(3);
    let _ = s.set_tcp_keepalive(&ka);
    let _ = s.set_tcp_user_timeout(Some(Duration::from_secs(45)));
}

/// Binds a listening TCP socket; `::` also accepts IPv4 (dual-stack).
pub fn bind_tcp(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if addr.is_ipv6() {
        socket.set_only_v6(!addr.ip().is_unspecified())?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Binds a UDP socket; `::` serves IPv4 too.
pub fn bind_udp(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(!addr.ip().is_unspecified())?;
    }
    let _ = s.set_recv_buffer_size(1 << 20);
    s.bind(&addr.into())?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Hold;
    impl Handler for Hold {
        fn serve(&self, conn: Conn) -> ServeFuture {
            Box::pin(async move {
                let _c = conn;
                tokio::time::sleep(Duration::from_secs(3600)).await;
            })
        }
    }

    #[tokio::test]
    async fn waiting_logins_are_capped_and_timed_out() {
        let l = Listeners::new();
        l.handle(Kind::Cli, Arc::new(Hold));
        l.set_limits(
            Face::Cli,
            LoginLimits {
                max: 3,
                per_source: 2,
            },
        );
        l.set_grace(Duration::from_millis(300));
        let ep = Endpoint {
            addr: "127.0.0.1:0".parse().unwrap(),
            kind: Kind::Cli,
            target: String::new(),
        };
        // Port 0 binds somewhere: learn where from the plan.
        let plan = l.plan("test", &[ep]).unwrap();
        let addr = match &plan.start[0].1 {
            Socket::Tcp(s) => s.local_addr().unwrap(),
            Socket::Udp(_) => unreachable!(),
        };
        plan.apply();
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(TcpStream::connect(addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(l.waiting(Face::Cli), 2, "one source gets two places");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(l.waiting(Face::Cli), 0, "the grace time closed them");
        let mut buf = [0u8; 1];
        use tokio::io::AsyncReadExt;
        for mut s in held {
            assert_eq!(s.read(&mut buf).await.unwrap_or(0), 0, "closed");
        }
        l.close_all();
    }
}
