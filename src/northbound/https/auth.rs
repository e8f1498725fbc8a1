//! Who an HTTPS request is: HTTP basic credentials, a bearer token, or the web
//! console's session cookie (with its CSRF token on every change). Logins made
//! through POST /login are held here, bounded (the one idle longest goes) and
//! ended when idle past the face's idle-timeout. Checked passwords are kept
//! briefly (by their SHA-256) so a RESTCONF client sending basic credentials
//! on every request does not pay for crypt(3) each time.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use base64::Engine;
use parking_lot::Mutex;
use sha2::Digest;

use crate::datastore::{Face, Handle, Session};

pub const COOKIE: &str = "lifeline_session";
const CSRF_HEADER: &str = "x-csrf-token";
/// How long a checked password is trusted without checking it again.
const CHECKED_FOR: Duration = Duration::from_secs(60);
const CHECKED_MAX: usize = 256;

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Basic,
    Bearer,
    /// The session cookie; `csrf` says whether the request carried the
    /// session's CSRF token.
    Cookie {
        csrf: bool,
    },
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: String,
    pub session: Session,
    pub via: Via,
    /// The login's token (bearer and cookie callers).
    pub token: Option<String>,
    pub csrf: Option<String>,
}

impl Caller {
    /// A state change from a browser needs its CSRF token.
    pub fn may_change(&self) -> bool {
        !matches!(self.via, Via::Cookie { csrf: false })
    }
}

/// Why a request is not authenticated.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// No credentials at all.
    Missing,
    /// Credentials that are wrong (a login failure was reported).
    Bad,
    /// A token or cookie that is unknown or expired.
    Expired,
}

struct Login {
    user: String,
    csrf: String,
    session: Session,
    last: Instant,
}

struct Limits {
    max: usize,
    idle: Option<Duration>,
}

pub struct Logins {
    ds: Handle,
    logins: Mutex<HashMap<String, Login>>,
    limits: Mutex<Limits>,
    /// (user, SHA-256 of user:password) -> when it was checked, and under
    /// which AAA directory (a change of users drops them all).
    checked: Mutex<(usize, HashMap<[u8; 32], Instant>)>,
}

fn random_token() -> String {
    let b: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Compares secrets without leaking where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The value of cookie `name` in the request's Cookie headers.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl Logins {
    pub fn new(ds: Handle) -> Logins {
        Logins {
            ds,
            logins: Mutex::new(HashMap::new()),
            limits: Mutex::new(Limits {
                max: 32,
                idle: Some(Duration::from_secs(3600)),
            }),
            checked: Mutex::new((0, HashMap::new())),
        }
    }

    pub fn set_limits(&self, max: usize, idle: Option<Duration>) {
        *self.limits.lock() = Limits { max, idle };
        self.sweep();
    }

    /// Checks a password against the users; a wrong one is a login failure.
    pub fn check_password(&self, user: &str, password: &str, peer: SocketAddr) -> bool {
        let dir = self.ds.aaa().current();
        let dir_id = Arc::as_ptr(&dir) as usize;
        let digest: [u8; 32] = sha2::Sha256::digest(format!("{user}\0{password}")).into();
        {
            let mut c = self.checked.lock();
            if c.0 != dir_id {
                *c = (dir_id, HashMap::new());
            }
            if c.1.get(&digest).is_some_and(|t| t.elapsed() < CHECKED_FOR) {
                return true;
            }
        }
        if dir.check_password(user, password) {
            let mut c = self.checked.lock();
            if c.1.len() >= CHECKED_MAX {
                c.1.retain(|_, t| t.elapsed() < CHECKED_FOR);
                if c.1.len() >= CHECKED_MAX {
                    c.1.clear();
                }
            }
            c.1.insert(digest, Instant::now());
            true
        } else {
            crate::aaa::login_failure(&self.ds.events, user, peer, "https", "password");
            false
        }
    }

    /// A new login: its token and CSRF token. The one idle longest goes when
    /// there are as many as allowed.
    pub fn login(&self, user: &str, peer: SocketAddr) -> (String, String) {
        self.sweep();
        let token = random_token();
        let csrf = random_token();
        let session = self
            .ds
            .new_session(user, Face::Restconf, Some(peer.ip().to_string()));
        crate::northbound::session_event(&self.ds.events, &session, None);
        let max = self.limits.lock().max.max(1);
        let evicted = {
            let mut l = self.logins.lock();
            let evicted = if l.len() >= max {
                let oldest = l.iter().min_by_key(|(_, v)| v.last).map(|(k, _)| k.clone());
                oldest.and_then(|k| l.remove(&k))
            } else {
                None
            };
            l.insert(
                token.clone(),
                Login {
                    user: user.to_string(),
                    csrf: csrf.clone(),
                    session,
                    last: Instant::now(),
                },
            );
            evicted
        };
        if let Some(e) = evicted {
            self.ended(e, "other");
        }
        (token, csrf)
    }

    /// Ends a login (logout).
    pub fn logout(&self, token: &str) {
        let gone = self.logins.lock().remove(token);
        if let Some(l) = gone {
            self.ended(l, "closed");
        }
    }

    fn ended(&self, l: Login, reason: &'static str) {
        crate::northbound::session_event(
            &self.ds.events,
            &l.session,
            Some(crate::northbound::Ended {
                reason,
                killed_by: None,
            }),
        );
        let ds = self.ds.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { ds.session_end(&l.session).await });
        }
    }

    /// Ends the logins idle past the limit.
    fn sweep(&self) {
        let Some(idle) = self.limits.lock().idle else {
            return;
        };
        let gone: Vec<Login> = {
            let mut l = self.logins.lock();
            let old: Vec<String> = l
                .iter()
                .filter(|(_, v)| v.last.elapsed() > idle)
                .map(|(k, _)| k.clone())
                .collect();
            old.into_iter().filter_map(|k| l.remove(&k)).collect()
        };
        for l in gone {
            self.ended(l, "timeout");
        }
    }

    /// The login of a token, touched; `None` if unknown or idle too long.
    fn lookup(&self, token: &str) -> Option<(String, String, Session)> {
        let idle = self.limits.lock().idle;
        let mut l = self.logins.lock();
        let login = l.get_mut(token)?;
        if idle.is_some_and(|i| login.last.elapsed() > i) {
            drop(l);
            self.sweep();
            return None;
        }
        login.last = Instant::now();
        Some((
            login.user.clone(),
            login.csrf.clone(),
            login.session.clone(),
        ))
    }

    /// Who the request is. Basic credentials are checked (a wrong password
    /// reports a login failure); `cookies` says whether the session cookie
    /// counts (RESTCONF and the web console's API, not the login form).
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        peer: SocketAddr,
        cookies: bool,
    ) -> Result<Caller, Refused> {
        if let Some(auth) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            let (scheme, rest) = auth.trim().split_once(' ').unwrap_or((auth, ""));
            if scheme.eq_ignore_ascii_case("basic") {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(rest.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or(Refused::Bad)?;
                let (user, password) = decoded.split_once(':').ok_or(Refused::Bad)?;
                if !self.check_password(user, password, peer) {
                    return Err(Refused::Bad);
                }
                let session =
                    self.ds
                        .new_session(user, Face::Restconf, Some(peer.ip().to_string()));
                return Ok(Caller {
                    user: user.to_string(),
                    session,
                    via: Via::Basic,
                    token: None,
                    csrf: None,
                });
            }
            if scheme.eq_ignore_ascii_case("bearer") {
                let token = rest.trim();
                let (user, csrf, session) = self.lookup(token).ok_or(Refused::Expired)?;
                return Ok(Caller {
                    user,
                    session,
                    via: Via::Bearer,
                    token: Some(token.to_string()),
                    csrf: Some(csrf),
                });
            }
            return Err(Refused::Bad);
        }
        if cookies && let Some(token) = cookie(headers, COOKIE) {
            let (user, csrf, session) = self.lookup(token).ok_or(Refused::Expired)?;
            let sent = headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| same(v, &csrf));
            return Ok(Caller {
                user,
                session,
                via: Via::Cookie { csrf: sent },
                token: Some(token.to_string()),
                csrf: Some(csrf),
            });
        }
        Err(Refused::Missing)
    }

    /// Whether `csrf` is the CSRF token of the login `token` (the WebSocket,
    /// which cannot send headers, passes it in its URL).
    pub fn csrf_matches(&self, token: &str, csrf: &str) -> bool {
        self.logins
            .lock()
            .get(token)
            .is_some_and(|l| same(&l.csrf, csrf))
    }
}
