//! The web console: the page and its files, the login with a session cookie,
//! the list of consoles the user may open, and a console session over a
//! WebSocket. The session is the ports service's own (`console::interactive`),
//! as over SSH: fan-out, read-only access, the escape menu, BREAK, the
//! transcript naming the web user and address.
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::{COOKIE, Caller, Refused};
use super::{ConnInfo, Https, assets};
use crate::aaa::Access;
use crate::ports::config::Protocol;
use crate::ports::console::{self, Input, InputFuture, Output, Source, Term, WriteFuture};

/// A console client that does not take its output for this long is gone.
const WRITE_TIME: Duration = Duration::from_secs(30);

pub fn routes() -> Router<Arc<Https>> {
    Router::new()
        .route("/", get(|| async { assets::index() }))
        .route("/index.html", get(|| async { assets::index() }))
        .route(
            "/assets/{*file}",
            get(|Path(f): Path<String>| async move { assets::file(&f) }),
        )
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/api/session", get(session))
        .route("/api/consoles", get(consoles))
        .route("/api/consoles/{name}/terminal", get(terminal))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
}

fn json_reply(status: StatusCode, v: serde_json::Value) -> Response {
    let mut r = (status, axum::Json(v)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    assets::secure(&mut r);
    r
}

/// A browser's request must come from this server's own page: its Origin,
/// when it sends one, names this host.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin == format!("https://{host}")
}

fn info(req: &Request) -> Option<ConnInfo> {
    req.extensions().get::<ConnInfo>().cloned()
}

/// A console API request without a login.
struct Unauthorized(&'static str);

impl IntoResponse for Unauthorized {
    fn into_response(self) -> Response {
        json_reply(StatusCode::UNAUTHORIZED, json!({"error": self.0}))
    }
}

/// The logged-in caller of a console API request.
fn caller(app: &Https, headers: &HeaderMap, info: &ConnInfo) -> Result<Caller, Unauthorized> {
    match app.logins.authenticate(headers, info.peer, true) {
        Ok(c) => Ok(c),
        Err(Refused::Bad) => Err(Unauthorized("wrong credentials")),
        Err(_) => Err(Unauthorized("not logged in")),
    }
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

async fn login(State(app): State<Arc<Https>>, req: Request) -> Response {
    let Some(info) = info(&req) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if !same_origin(req.headers()) {
        return json_reply(
            StatusCode::FORBIDDEN,
            json!({"error": "cross-site login refused"}),
        );
    }
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    let creds = if is_json {
        axum::Json::<Credentials>::from_request(req, &())
            .await
            .map(|j| j.0)
            .map_err(|e| e.to_string())
    } else {
        axum::Form::<Credentials>::from_request(req, &())
            .await
            .map(|f| f.0)
            .map_err(|e| e.to_string())
    };
    let creds = match creds {
        Ok(c) => c,
        Err(e) => return json_reply(StatusCode::BAD_REQUEST, json!({"error": e})),
    };
    if !app
        .logins
        .check_password(&creds.username, &creds.password, info.peer)
    {
        tokio::time::sleep(Duration::from_millis(300)).await;
        return json_reply(
            StatusCode::UNAUTHORIZED,
            json!({"error": "wrong user name or password"}),
        );
    }
    let (token, csrf) = app.logins.login(&creds.username, info.peer);
    let mut r = json_reply(
        StatusCode::OK,
        json!({"user": creds.username, "csrf": csrf, "token": token}),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict"
    )) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn logout(State(app): State<Arc<Https>>, req: Request) -> Response {
    let Some(info) = info(&req) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let who = match caller(&app, req.headers(), &info) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    if !who.may_change() || !same_origin(req.headers()) {
        return json_reply(
            StatusCode::FORBIDDEN,
            json!({"error": "the X-CSRF-Token header is missing"}),
        );
    }
    if let Some(t) = &who.token {
        app.logins.logout(t);
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "lifeline_session=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    r
}

async fn session(State(app): State<Arc<Https>>, req: Request) -> Response {
    let Some(info) = info(&req) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    match caller(&app, req.headers(), &info) {
        Ok(c) => json_reply(StatusCode::OK, json!({"user": c.user, "csrf": c.csrf})),
        Err(r) => r.into_response(),
    }
}

#[derive(Serialize)]
struct OutletRef {
    device: String,
    outlet: String,
}

#[derive(Serialize)]
struct ConsoleRow {
    name: String,
    number: u16,
    label: Option<String>,
    enabled: bool,
    present: bool,
    access: &'static str,
    sessions: usize,
    outlets: Vec<OutletRef>,
}

async fn consoles(State(app): State<Arc<Https>>, req: Request) -> Response {
    let Some(info) = info(&req) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let who = match caller(&app, req.headers(), &info) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let rows: Vec<ConsoleRow> = app
        .ports
        .visible(&who.user)
        .into_iter()
        .map(|(p, a)| {
            let c = p.config();
            ConsoleRow {
                name: c.name.clone(),
                number: c.number,
                label: c.label.clone(),
                enabled: c.enabled,
                present: p.present(),
                access: a.as_str(),
                sessions: p.sessions().len(),
                outlets: c
                    .outlets
                    .iter()
                    .map(|(d, o)| OutletRef {
                        device: d.clone(),
                        outlet: o.clone(),
                    })
                    .collect(),
            }
        })
        .collect();
    json_reply(
        StatusCode::OK,
        serde_json::to_value(rows).unwrap_or_default(),
    )
}

#[derive(Deserialize)]
struct TermQuery {
    csrf: String,
}

async fn terminal(
    State(app): State<Arc<Https>>,
    Path(name): Path<String>,
    Query(q): Query<TermQuery>,
    ws: WebSocketUpgrade,
    headers: HeaderMap,
    axum::Extension(info): axum::Extension<ConnInfo>,
) -> Response {
    let who = match caller(&app, &headers, &info) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let csrf_ok = who
        .token
        .as_deref()
        .is_some_and(|t| app.logins.csrf_matches(t, &q.csrf));
    if !csrf_ok || !same_origin(&headers) {
        return json_reply(
            StatusCode::FORBIDDEN,
            json!({"error": "a console opens from this server's own page"}),
        );
    }
    let Some(port) = app.ports.find(&name) else {
        return json_reply(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no console port {name}")}),
        );
    };
    if app.ports.access(&who.user, &port) == Access::None {
        return json_reply(
            StatusCode::FORBIDDEN,
            json!({"error": format!("{} may not use {name}", who.user)}),
        );
    }
    let ports = app.ports.clone();
    let peer = info.peer;
    let target = port.name.clone();
    ws.max_message_size(64 * 1024)
        .on_upgrade(move |socket| async move {
            let (tx, rx) = socket.split();
            let term = Term::new(
                Box::new(WsInput(rx)),
                Box::new(WsOutput(tx)),
                &who.user,
                Some(peer),
                Protocol::Https,
            );
            console::interactive(ports, term, Some(target)).await;
        })
}

/// Keystrokes from the browser: binary or text frames; a text frame
/// `{"type":"break"}` is a serial BREAK.
struct WsInput(SplitStream<WebSocket>);

#[derive(Deserialize)]
struct Control {
    #[serde(rename = "type")]
    kind: String,
}

impl Source for WsInput {
    fn recv(&mut self) -> InputFuture<'_> {
        Box::pin(async move {
            loop {
                match self.0.next().await? {
                    Ok(Message::Binary(b)) => return Some(Input::Data(b)),
                    Ok(Message::Text(t)) => {
                        let s = t.as_str();
                        if s.starts_with('{') {
                            match serde_json::from_str::<Control>(s) {
                                Ok(c) if c.kind == "break" => return Some(Input::Break),
                                Ok(_) => continue,
                                Err(_) => {}
                            }
                        }
                        return Some(Input::Data(Bytes::copy_from_slice(s.as_bytes())));
                    }
                    Ok(Message::Close(_)) | Err(_) => return None,
                    Ok(_) => continue,
                }
            }
        })
    }
}

/// Console output to the browser, as binary frames; a browser that does not
/// take it within WRITE_TIME ends the session.
struct WsOutput(SplitSink<WebSocket, Message>);

impl Output for WsOutput {
    fn write<'a>(&'a mut self, data: &'a [u8]) -> WriteFuture<'a> {
        Box::pin(async move {
            let frame = Message::Binary(Bytes::copy_from_slice(data));
            match tokio::time::timeout(WRITE_TIME, self.0.send(frame)).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(std::io::Error::other(e)),
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the browser does not read its console output",
                )),
            }
        })
    }
}
