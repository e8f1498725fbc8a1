//! The HTTPS face: RESTCONF (RFC 8040) under /restconf and the web console
//! under /, on the listeners of `management/https`. TLS by rustls, HTTP/1.1
//! by hyper, routing and WebSockets by axum. Like every face it holds no
//! configuration state: requests become datastore reads, edits and actions
//! as the caller (NACM decides), console sessions go to the ports service.
pub mod assets;
pub mod auth;
pub mod restconf;
pub mod tls;
pub mod web;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use parking_lot::RwLock;
use tokio_rustls::TlsAcceptor;

use crate::datastore::Handle;
use crate::listen::{self, Gate, Kind, Listeners, ServeFuture};
use crate::ports::Manager;
use crate::shutdown::Shutdown;

/// How long a client has for its TLS handshake and for each request's headers.
const HANDSHAKE: Duration = Duration::from_secs(10);
const HEADERS: Duration = Duration::from_secs(10);
/// The largest request body (RFC 8040's too-big beyond it).
pub const MAX_BODY: usize = 1 << 20;
/// How long a client has to send a whole body.
pub const BODY_TIME: Duration = Duration::from_secs(30);

pub struct Https {
    pub ds: Handle,
    pub ports: Arc<Manager>,
    pub certs: Arc<tls::Certs>,
    acceptor: TlsAcceptor,
    pub logins: auth::Logins,
    pub shutdown: Shutdown,
    /// Entity-tags name the boot they were made in: versions restart at 0.
    pub boot: String,
    /// Where the streams are (`https://address:port`), for restconf-state.
    pub base: RwLock<String>,
    router: std::sync::OnceLock<Router>,
}

/// The connection a request came on.
#[derive(Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub gate: Arc<Gate>,
}

impl Https {
    pub fn new(
        ds: Handle,
        ports: Arc<Manager>,
        state_dir: &Path,
        listeners: &Listeners,
        shutdown: Shutdown,
    ) -> anyhow::Result<Arc<Https>> {
        let certs = tls::Certs::load(state_dir)?;
        let acceptor = TlsAcceptor::from(certs.server_config());
        let boot: u32 = rand::random();
        let https = Arc::new(Https {
            logins: auth::Logins::new(ds.clone()),
            ds,
            ports,
            certs,
            acceptor,
            shutdown,
            boot: format!("{boot:08x}"),
            base: RwLock::new(String::new()),
            router: std::sync::OnceLock::new(),
        });
        let router = Router::new()
            .merge(restconf::routes())
            .merge(web::routes())
            .with_state(https.clone());
        let _ = https.router.set(router);
        listeners.handle(Kind::Https, Arc::new(Serve(Arc::downgrade(&https))));
        Ok(https)
    }

    /// One connection: the TLS handshake, then HTTP/1.1 requests (kept alive,
    /// upgraded to WebSockets) until the client or shutdown ends it.
    async fn serve(self: Arc<Self>, conn: listen::Conn) {
        let peer = conn.peer;
        let tls = match tokio::time::timeout(HANDSHAKE, self.acceptor.accept(conn.stream)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!("https from {peer}: TLS: {e}");
                return;
            }
            Err(_) => return,
        };
        let info = ConnInfo {
            peer,
            gate: Arc::new(conn.gate),
        };
        let Some(router) = self.router.get().cloned() else {
            return;
        };
        let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
            // For the listener's limits a connection has "logged in" once it
            // sent a whole request: a browser holds several connections
            // before its login, a slow or silent client never gets here.
            info.gate.authenticated();
            req.extensions_mut().insert(info.clone());
            let router = router.clone();
            async move {
                use tower::ServiceExt;
                router.oneshot(req.map(Body::new)).await
            }
        });
        let http = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADERS)
            .max_buf_size(64 * 1024)
            .serve_connection(TokioIo::new(tls), service)
            .with_upgrades();
        tokio::pin!(http);
        let _running = self.shutdown.running();
        tokio::select! {
            r = &mut http => {
                if let Err(e) = r {
                    tracing::debug!("https from {peer}: {e}");
                }
            }
            _ = self.shutdown.started() => {
                http.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(Duration::from_secs(2), http).await;
            }
        }
    }
}

/// The listener handler; weak, so the server goes when the appliance does.
struct Serve(std::sync::Weak<Https>);

impl listen::Handler for Serve {
    fn serve(&self, conn: listen::Conn) -> ServeFuture {
        let https = self.0.upgrade();
        Box::pin(async move {
            if let Some(h) = https {
                h.serve(conn).await;
            }
        })
    }
}
