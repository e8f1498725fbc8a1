//! Users, passwords and keys (`ietf-system`), their NACM groups and rules
//! (RFC 8341) and what groups may do on console ports (`lifeline-aaa`). The AAA
//! service turns the configuration into a [`Directory`] at each commit; logins,
//! NACM decisions and console permissions read the current one without asking
//! the datastore.
pub mod nacm;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use serde::Deserialize;

use crate::service::{Change, Prepared, Refusal, Service};
pub use nacm::Policy;

/// What a user may do on a console port; ordered, so the most of several grants wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    #[default]
    None,
    ReadOnly,
    ReadWrite,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::None => "none",
            Access::ReadOnly => "read-only",
            Access::ReadWrite => "read-write",
        }
    }
}

/// The login shell of a user (`lifeline-aaa:shell`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shell {
    Cli,
    Pmshell,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Key {
    pub algorithm: String,
    #[serde(rename = "key-data")]
    pub data: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub name: String,
    pub password: Option<String>,
    #[serde(rename = "authorized-key", default)]
    pub keys: Vec<Key>,
    #[serde(rename = "lifeline-aaa:enabled")]
    pub enabled: bool,
    #[serde(rename = "lifeline-aaa:shell")]
    pub shell: Shell,
}

#[derive(Debug, Clone, Deserialize)]
struct ConsoleGrant {
    #[serde(rename = "all-ports")]
    all_ports: Access,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Group {
    pub name: String,
    #[serde(rename = "user-name", default)]
    pub users: Vec<String>,
    #[serde(rename = "lifeline-aaa:console-access")]
    console: ConsoleGrant,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Authentication {
    #[serde(default)]
    user: Vec<User>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct System {
    #[serde(default)]
    authentication: Authentication,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Groups {
    #[serde(default)]
    group: Vec<Group>,
}

/// The configuration the AAA service reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Config {
    #[serde(rename = "ietf-system:system", default)]
    system: System,
    #[serde(rename = "ietf-netconf-acm:nacm")]
    nacm: Option<nacm::Config>,
}

/// Users, groups and access rules as of one commit.
#[derive(Debug, Default)]
pub struct Directory {
    users: HashMap<String, User>,
    groups: Vec<Group>,
    nacm: Option<nacm::Config>,
}

impl Directory {
    pub fn new(config: Config) -> Directory {
        let Config { system, nacm } = config;
        let users = system
            .authentication
            .user
            .into_iter()
            .map(|u| (u.name.clone(), u))
            .collect();
        let groups = nacm
            .as_ref()
            .map(|n| n.groups.group.clone())
            .unwrap_or_default();
        Directory {
            users,
            groups,
            nacm,
        }
    }

    fn active(&self, user: &str) -> Option<&User> {
        self.users.get(user).filter(|u| u.enabled)
    }

    /// Whether `user` exists and may log in.
    pub fn user_active(&self, user: &str) -> bool {
        self.active(user).is_some()
    }

    /// Checks a password against the user's `iana-crypt-hash` value.
    pub fn check_password(&self, user: &str, password: &str) -> bool {
        self.active(user)
            .and_then(|u| u.password.as_deref())
            .is_some_and(|hash| verify_crypt_hash(hash, password))
    }

    /// The user's authorized keys as (algorithm, base64 key data).
    pub fn authorized_keys(&self, user: &str) -> Vec<(String, String)> {
        self.active(user)
            .map(|u| {
                u.keys
                    .iter()
                    .map(|k| (k.algorithm.clone(), k.data.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether the user lands in the port chooser when logging in over SSH.
    pub fn pmshell_user(&self, user: &str) -> bool {
        self.active(user).is_some_and(|u| u.shell == Shell::Pmshell)
    }

    /// The NACM groups `user` is a member of: the one group concept of every face.
    pub fn groups_of(&self, user: &str) -> Vec<&str> {
        self.groups
            .iter()
            .filter(|g| g.users.iter().any(|u| u == user))
            .map(|g| g.name.as_str())
            .collect()
    }

    /// What `user` may do on a console port with these per-port group grants:
    /// the most that any of the user's groups is given, on all ports or on
    /// this one. A user who may not log in gets nothing.
    pub fn console_access(&self, user: &str, grants: &[(String, Access)]) -> Access {
        if !self.user_active(user) {
            return Access::None;
        }
        let mut best = Access::None;
        for g in self
            .groups
            .iter()
            .filter(|g| g.users.iter().any(|u| u == user))
        {
            best = best.max(g.console.all_ports);
            for (name, a) in grants {
                if *name == g.name {
                    best = best.max(*a);
                }
            }
        }
        best
    }

    /// The NACM rules that apply to `user`.
    pub fn policy(&self, user: &str) -> Policy {
        match &self.nacm {
            Some(n) => Policy::new(n, &self.groups_of(user)),
            None => Policy::unrestricted(),
        }
    }
}

/// The current directory, shared by everyone who checks a login or a right.
#[derive(Clone, Default)]
pub struct Aaa(Arc<RwLock<Arc<Directory>>>);

impl Aaa {
    pub fn new() -> Aaa {
        Aaa::default()
    }

    pub fn current(&self) -> Arc<Directory> {
        self.0.read().clone()
    }
}

/// The service that keeps the directory: it owns the users and NACM.
pub struct AaaService {
    aaa: Aaa,
}

impl AaaService {
    pub fn new(aaa: Aaa) -> AaaService {
        AaaService { aaa }
    }
}

struct Swap(Aaa, Directory);

impl Prepared for Swap {
    fn apply(self: Box<Self>) {
        *self.0.0.write() = Arc::new(self.1);
    }
}

impl Service for AaaService {
    type Config = Config;

    fn name(&self) -> &'static str {
        "aaa"
    }

    fn owns(&self) -> Vec<&'static str> {
        vec![
            "/ietf-system:system/authentication",
            "/ietf-netconf-acm:nacm",
        ]
    }

    fn prepare(&mut self, config: Config, _: &[Change]) -> Result<Box<dyn Prepared>, Refusal> {
        Ok(Box::new(Swap(self.aaa.clone(), Directory::new(config))))
    }
}

/// `lifeline-system:login-failure`.
#[derive(serde::Serialize)]
struct LoginFailure<'a> {
    username: &'a str,
    #[serde(rename = "source-host")]
    source_host: String,
    service: &'a str,
    method: &'a str,
}

impl crate::events::Payload for LoginFailure<'_> {
    const KIND: crate::events::EventKind = crate::events::EventKind::LoginFailure;
    const NOTIFICATION: &'static str = "lifeline-system:login-failure";
}

/// Reports a refused login (`service` ssh or telnet, `method` password or publickey).
pub fn login_failure(
    events: &crate::events::EventBus,
    user: &str,
    peer: std::net::SocketAddr,
    service: &str,
    method: &str,
) {
    events.emit(
        crate::events::Severity::Warning,
        service,
        format!(
            "failed {service} {method} login of {user} from {}",
            peer.ip()
        ),
        &LoginFailure {
            username: user,
            source_host: peer.ip().to_string(),
            service,
            method,
        },
    );
}

/// `$0$` is clear text (RFC 7317 allows it on input); `$1$`, `$5$`, `$6$` are crypt(3).
pub fn verify_crypt_hash(hash: &str, password: &str) -> bool {
    if let Some(clear) = hash.strip_prefix("$0$") {
        return constant_time_eq(clear.as_bytes(), password.as_bytes());
    }
    pwhash::unix::verify(password, hash)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Hashes a password as SHA-512 crypt, the form stored in the configuration.
pub fn hash_password(password: &str) -> String {
    pwhash::sha512_crypt::hash(password).unwrap_or_else(|_| format!("$0${password}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crypt_hashes_verify() {
        let h = hash_password("s3cret");
        assert!(h.starts_with("$6$"));
        assert!(verify_crypt_hash(&h, "s3cret"));
        assert!(!verify_crypt_hash(&h, "wrong"));
        assert!(verify_crypt_hash("$0$plain", "plain"));
        assert!(!verify_crypt_hash("$0$plain", "plai"));
        assert!(!verify_crypt_hash("garbage", "x"));
    }

    #[test]
    fn directory_from_config() {
        let doc: serde_json::Value = serde_json::from_str(
            r#"{"ietf-system:system":{"authentication":{"user":[
                {"name":"a","password":"$0$pw","lifeline-aaa:enabled":true,"lifeline-aaa:shell":"cli"},
                {"name":"off","password":"$0$pw","lifeline-aaa:enabled":false,"lifeline-aaa:shell":"pmshell"}]}},
              "ietf-netconf-acm:nacm":{"enable-nacm":true,"read-default":"permit","write-default":"deny",
                "exec-default":"permit","enable-external-groups":true,
                "groups":{"group":[{"name":"ops","user-name":["a","off"],
                  "lifeline-aaa:console-access":{"all-ports":"read-only"}}]}}}"#,
        )
        .unwrap();
        let d = Directory::new(serde_json::from_value(doc).unwrap());
        assert!(d.check_password("a", "pw") && !d.check_password("off", "pw"));
        assert!(!d.check_password("nobody", "pw"));
        assert_eq!(d.console_access("a", &[]), Access::ReadOnly);
        assert_eq!(
            d.console_access("a", &[("ops".into(), Access::ReadWrite)]),
            Access::ReadWrite
        );
        assert_eq!(d.console_access("off", &[]), Access::None);
        assert!(!d.pmshell_user("off"));
    }
}
