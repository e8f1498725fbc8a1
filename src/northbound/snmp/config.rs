//! The agent's configuration: `ietf-snmp` (RFC 7407) as typed values, built by
//! serde from the validated configuration, then checked (key lengths, engine ID,
//! target parameters) into what the agent uses.
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Deserializer};

use super::usm::{AuthProto, PrivProto, parse_hex};
use super::vacm::{Access, Group, Vacm, View};
use crate::service::Refusal;
use crate::service::config::{Empty, quote};

pub use crate::snmp::seal::User;
pub use crate::snmp::security::{Level, MODEL_USM, MODEL_V1, MODEL_V2C, Model};

pub const ROOT: &str = "/ietf-snmp:snmp";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommunityEntry {
    pub name: Vec<u8>,
    pub security_name: String,
    pub context: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Params {
    V1(String),
    V2c(String),
    Usm { user: String, level: Level },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub addr: SocketAddr,
    pub tags: Vec<String>,
    /// Centiseconds, as SNMP-TARGET-MIB counts.
    pub timeout_cs: u32,
    pub retries: u8,
    pub params: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    pub tag: String,
    pub inform: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Config {
    pub enabled: bool,
    pub listen: Vec<SocketAddr>,
    pub v1: bool,
    pub v2c: bool,
    pub v3: bool,
    pub engine_id: Option<Vec<u8>>,
    pub authen_traps: bool,
    pub communities: Vec<CommunityEntry>,
    pub users: HashMap<Vec<u8>, User>,
    /// Users of remote engines (the receivers of v3 informs), by engine ID.
    pub remote_users: HashMap<Vec<u8>, HashMap<Vec<u8>, User>>,
    pub vacm: Vacm,
    pub targets: Vec<Target>,
    pub params: HashMap<String, Params>,
    pub notifies: Vec<Notify>,
}

// ----- the model, as serde reads it -----

/// A `yang:hex-string` (`01:ab:...`).
fn hex<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s = String::deserialize(d)?;
    parse_hex(&s).ok_or_else(|| serde::de::Error::custom(format!("{s} is not hexadecimal")))
}

fn opt_hex<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
    hex(d).map(Some)
}

/// A security model: an enumeration name or a number.
fn security_model<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Model>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    let text = crate::service::config::scalar_text(&v).unwrap_or_default();
    if text == "any" {
        return Ok(None);
    }
    super::security::model(&text)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("{text} is not a security model")))
}

fn security_models<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Model>, D::Error> {
    let v: Vec<serde_json::Value> = Deserialize::deserialize(d)?;
    v.iter()
        .map(|m| {
            let t = crate::service::config::scalar_text(m).unwrap_or_default();
            super::security::model(&t)
                .ok_or_else(|| serde::de::Error::custom(format!("{t} is not a security model")))
        })
        .collect()
}

#[derive(Deserialize)]
struct Udp {
    #[serde(deserialize_with = "crate::service::config::ip")]
    ip: IpAddr,
    port: Option<u16>,
}

#[derive(Deserialize)]
struct Listen {
    udp: Udp,
}

#[derive(Deserialize, Default)]
struct Versions {
    v1: Option<Empty>,
    v2c: Option<Empty>,
    v3: Option<Empty>,
}

#[derive(Deserialize)]
struct Engine {
    enabled: bool,
    #[serde(default)]
    listen: Vec<Listen>,
    #[serde(default)]
    version: Versions,
    #[serde(rename = "engine-id", default, deserialize_with = "opt_hex")]
    engine_id: Option<Vec<u8>>,
    /// No YANG default: an engine not told to send them does not.
    #[serde(rename = "enable-authen-traps")]
    authen_traps: Option<bool>,
}

#[derive(Deserialize)]
struct Community {
    #[serde(rename = "text-name")]
    text: Option<String>,
    #[serde(rename = "binary-name")]
    binary: Option<String>,
    #[serde(rename = "security-name")]
    security_name: String,
    context: String,
}

#[derive(Deserialize)]
struct Key {
    #[serde(deserialize_with = "hex")]
    key: Vec<u8>,
}

#[derive(Deserialize, Default)]
struct AuthConfig {
    md5: Option<Key>,
    sha: Option<Key>,
    #[serde(rename = "lifeline-snmp:sha-224")]
    sha224: Option<Key>,
    #[serde(rename = "lifeline-snmp:sha-256")]
    sha256: Option<Key>,
    #[serde(rename = "lifeline-snmp:sha-384")]
    sha384: Option<Key>,
    #[serde(rename = "lifeline-snmp:sha-512")]
    sha512: Option<Key>,
}

#[derive(Deserialize, Default)]
struct PrivConfig {
    des: Option<Key>,
    aes: Option<Key>,
}

#[derive(Deserialize)]
struct UserConfig {
    name: String,
    #[serde(default)]
    auth: AuthConfig,
    #[serde(rename = "priv", default)]
    privacy: PrivConfig,
}

#[derive(Deserialize, Default)]
struct Local {
    #[serde(default)]
    user: Vec<UserConfig>,
}

#[derive(Deserialize)]
struct Remote {
    #[serde(rename = "engine-id", deserialize_with = "hex")]
    engine_id: Vec<u8>,
    #[serde(default)]
    user: Vec<UserConfig>,
}

#[derive(Deserialize, Default)]
struct UsmConfig {
    #[serde(default)]
    local: Local,
    #[serde(default)]
    remote: Vec<Remote>,
}

#[derive(Deserialize)]
struct Member {
    #[serde(rename = "security-name")]
    security_name: String,
    #[serde(rename = "security-model", deserialize_with = "security_models")]
    models: Vec<Model>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum ContextMatch {
    Exact,
    Prefix,
}

#[derive(Deserialize)]
struct AccessConfig {
    context: String,
    #[serde(rename = "security-model", deserialize_with = "security_model")]
    model: Option<Model>,
    #[serde(rename = "security-level")]
    level: Level,
    #[serde(rename = "context-match")]
    context_match: ContextMatch,
    #[serde(rename = "read-view")]
    read: Option<String>,
    #[serde(rename = "write-view")]
    write: Option<String>,
    #[serde(rename = "notify-view")]
    notify: Option<String>,
}

#[derive(Deserialize)]
struct GroupConfig {
    name: String,
    #[serde(default)]
    member: Vec<Member>,
    #[serde(default)]
    access: Vec<AccessConfig>,
}

#[derive(Deserialize)]
struct ViewConfig {
    name: String,
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
}

#[derive(Deserialize, Default)]
struct VacmConfig {
    #[serde(default)]
    group: Vec<GroupConfig>,
    #[serde(default)]
    view: Vec<ViewConfig>,
}

#[derive(Deserialize)]
struct TargetUdp {
    #[serde(deserialize_with = "crate::service::config::ip")]
    ip: IpAddr,
    port: u16,
}

#[derive(Deserialize)]
struct TargetConfig {
    name: String,
    udp: Option<TargetUdp>,
    #[serde(default)]
    tag: Vec<String>,
    timeout: u32,
    retries: u8,
    #[serde(rename = "target-params")]
    params: String,
}

#[derive(Deserialize)]
struct SecurityName {
    #[serde(rename = "security-name")]
    name: String,
}

#[derive(Deserialize)]
struct UsmParams {
    #[serde(rename = "user-name")]
    user: String,
    #[serde(rename = "security-level")]
    level: Level,
}

#[derive(Deserialize)]
struct ParamsConfig {
    name: String,
    v1: Option<SecurityName>,
    v2c: Option<SecurityName>,
    usm: Option<UsmParams>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum NotifyType {
    Trap,
    Inform,
}

#[derive(Deserialize)]
struct NotifyConfig {
    tag: String,
    #[serde(rename = "type")]
    kind: NotifyType,
}

#[derive(Deserialize)]
struct Snmp {
    engine: Option<Engine>,
    #[serde(default)]
    community: Vec<Community>,
    #[serde(default)]
    usm: UsmConfig,
    #[serde(default)]
    vacm: VacmConfig,
    #[serde(default)]
    target: Vec<TargetConfig>,
    #[serde(rename = "target-params", default)]
    target_params: Vec<ParamsConfig>,
    #[serde(default)]
    notify: Vec<NotifyConfig>,
}

/// What the SNMP service reads.
#[derive(Deserialize)]
pub struct Model7407 {
    #[serde(rename = "ietf-snmp:snmp")]
    snmp: Option<Snmp>,
}

fn user(u: UserConfig, base: &str) -> Result<User, Refusal> {
    let path = format!("{base}/user[name={}]", quote(&u.name));
    let mut auth = None;
    for (name, key, p) in [
        ("md5", u.auth.md5, AuthProto::Md5),
        ("sha", u.auth.sha, AuthProto::Sha1),
        ("lifeline-snmp:sha-224", u.auth.sha224, AuthProto::Sha224),
        ("lifeline-snmp:sha-256", u.auth.sha256, AuthProto::Sha256),
        ("lifeline-snmp:sha-384", u.auth.sha384, AuthProto::Sha384),
        ("lifeline-snmp:sha-512", u.auth.sha512, AuthProto::Sha512),
    ] {
        let Some(k) = key else { continue };
        if k.key.len() != p.key_len() {
            return Err(Refusal::invalid(format!(
                "the key must be {} octets (a localized key), not {}",
                p.key_len(),
                k.key.len()
            ))
            .at(format!("{path}/auth/{name}/key")));
        }
        auth = Some((p, k.key));
    }
    let mut privacy = None;
    for (name, key, p) in [
        ("des", u.privacy.des, PrivProto::Des),
        ("aes", u.privacy.aes, PrivProto::Aes128),
    ] {
        let Some(k) = key else { continue };
        if k.key.len() < p.key_len() {
            return Err(Refusal::invalid(format!(
                "the key must be at least {} octets, not {}",
                p.key_len(),
                k.key.len()
            ))
            .at(format!("{path}/priv/{name}/key")));
        }
        privacy = Some((p, k.key));
    }
    if privacy.is_some() && auth.is_none() {
        return Err(Refusal::invalid("privacy needs authentication").at(path));
    }
    Ok(User {
        name: u.name,
        auth,
        privacy,
    })
}

impl Model7407 {
    /// Checks the configuration and turns it into the agent's.
    pub fn check(self) -> Result<Config, Refusal> {
        let Some(s) = self.snmp else {
            return Ok(Config::default());
        };
        let mut c = Config::default();
        if let Some(e) = s.engine {
            c.enabled = e.enabled;
            c.authen_traps = e.authen_traps.unwrap_or(false);
            c.v1 = e.version.v1.is_some();
            c.v2c = e.version.v2c.is_some();
            c.v3 = e.version.v3.is_some();
            if let Some(id) = e.engine_id {
                if !(5..=32).contains(&id.len()) {
                    return Err(Refusal::invalid("the engine-id must be 5 to 32 octets")
                        .at(format!("{ROOT}/engine/engine-id")));
                }
                c.engine_id = Some(id);
            }
            // RFC 7407: a command responder listens on 161 unless told otherwise.
            c.listen = e
                .listen
                .iter()
                .map(|l| SocketAddr::new(l.udp.ip, l.udp.port.unwrap_or(161)))
                .collect();
        }
        for (i, n) in s.community.into_iter().enumerate() {
            let name = match (n.text, n.binary) {
                (Some(t), _) => t.into_bytes(),
                (None, Some(b)) => {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD
                        .decode(b)
                        .map_err(|_| {
                            Refusal::invalid("a binary-name is base64")
                                .at(format!("{ROOT}/community[{}]/binary-name", i + 1))
                        })?
                }
                (None, None) => continue,
            };
            c.communities.push(CommunityEntry {
                name,
                security_name: n.security_name,
                context: n.context,
            });
        }
        for u in s.usm.local.user {
            let u = user(u, &format!("{ROOT}/usm/local"))?;
            c.users.insert(u.name.clone().into_bytes(), u);
        }
        for r in s.usm.remote {
            let base = format!(
                "{ROOT}/usm/remote[engine-id={}]",
                quote(&super::usm::to_hex(&r.engine_id))
            );
            let mut users = HashMap::new();
            for u in r.user {
                let u = user(u, &base)?;
                users.insert(u.name.clone().into_bytes(), u);
            }
            c.remote_users.insert(r.engine_id, users);
        }
        for g in s.vacm.group {
            c.vacm.groups.push(Group {
                name: g.name,
                members: g
                    .member
                    .into_iter()
                    .map(|m| (m.security_name, m.models))
                    .collect(),
                access: g
                    .access
                    .into_iter()
                    .map(|a| Access {
                        context: a.context,
                        prefix: matches!(a.context_match, ContextMatch::Prefix),
                        model: a.model,
                        level: a.level,
                        read: a.read,
                        write: a.write,
                        notify: a.notify,
                    })
                    .collect(),
            });
        }
        for v in s.vacm.view {
            let view = View::new(&v.include, &v.exclude).map_err(|bad| {
                Refusal::invalid(format!("{bad} is not an object identifier"))
                    .at(format!("{ROOT}/vacm/view[name={}]", quote(&v.name)))
            })?;
            c.vacm.views.insert(v.name, view);
        }
        for p in s.target_params {
            let params = match (p.v1, p.v2c, p.usm) {
                (Some(v), _, _) => Params::V1(v.name),
                (_, Some(v), _) => Params::V2c(v.name),
                (_, _, Some(u)) => Params::Usm {
                    user: u.user,
                    level: u.level,
                },
                _ => continue,
            };
            c.params.insert(p.name, params);
        }
        for t in s.target {
            let path = format!("{ROOT}/target[name={}]", quote(&t.name));
            let udp = t
                .udp
                .ok_or_else(|| Refusal::invalid("no UDP address").at(path.clone()))?;
            if !c.params.contains_key(&t.params) {
                return Err(
                    Refusal::invalid(format!("no target-params named {}", t.params))
                        .at(format!("{path}/target-params")),
                );
            }
            c.targets.push(Target {
                addr: SocketAddr::new(udp.ip, udp.port),
                tags: t.tag,
                timeout_cs: t.timeout,
                retries: t.retries,
                params: t.params,
                name: t.name,
            });
        }
        for n in s.notify {
            c.notifies.push(Notify {
                tag: n.tag,
                inform: matches!(n.kind, NotifyType::Inform),
            });
        }
        Ok(c)
    }
}
