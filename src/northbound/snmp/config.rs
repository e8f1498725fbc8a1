//! The agent's configuration, read from `ietf-snmp` (RFC 7407) into plain values
//! the agent uses without touching libyang.
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use yang5::data::{Data, DataNodeRef};

use super::usm::{AuthProto, PrivProto, parse_hex};
use super::vacm::{Access, Group, Vacm, View};
use crate::datastore::tree::{Tree, leaf, leaves};

pub const ROOT: &str = "/ietf-snmp:snmp";

/// Security levels, ordered (RFC 3411).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    NoAuthNoPriv = 1,
    AuthNoPriv = 2,
    AuthPriv = 3,
}

impl Level {
    fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "no-auth-no-priv" => Level::NoAuthNoPriv,
            "auth-no-priv" => Level::AuthNoPriv,
            "auth-priv" => Level::AuthPriv,
            _ => return None,
        })
    }
}

/// Security models (RFC 3411): 1 v1, 2 v2c, 3 USM.
pub type Model = u8;
pub const MODEL_V1: Model = 1;
pub const MODEL_V2C: Model = 2;
pub const MODEL_USM: Model = 3;

fn model(s: &str) -> Option<Model> {
    match s {
        "v1" => Some(MODEL_V1),
        "v2c" => Some(MODEL_V2C),
        "usm" => Some(MODEL_USM),
        "tsm" => Some(4),
        n => n.parse::<i32>().ok().and_then(|n| u8::try_from(n).ok()),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommunityEntry {
    pub name: Vec<u8>,
    pub security_name: String,
    pub context: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub auth: Option<(AuthProto, Vec<u8>)>,
    pub privacy: Option<(PrivProto, Vec<u8>)>,
}

impl User {
    /// The highest level this user can use.
    pub fn level(&self) -> Level {
        match (&self.auth, &self.privacy) {
            (Some(_), Some(_)) => Level::AuthPriv,
            (Some(_), None) => Level::AuthNoPriv,
            _ => Level::NoAuthNoPriv,
        }
    }
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

fn user(node: &DataNodeRef<'_>) -> Result<User, String> {
    let name = leaf(node, "name").unwrap_or_default();
    let key = |rel: &str| -> Result<Option<Vec<u8>>, String> {
        match leaf(node, rel) {
            None => Ok(None),
            Some(k) => parse_hex(&k)
                .map(Some)
                .ok_or_else(|| format!("user {name}: {rel} is not hexadecimal")),
        }
    };
    let mut auth = None;
    for (rel, p) in [
        ("auth/md5/key", AuthProto::Md5),
        ("auth/sha/key", AuthProto::Sha1),
        ("auth/sha-224/key", AuthProto::Sha224),
        ("auth/sha-256/key", AuthProto::Sha256),
        ("auth/sha-384/key", AuthProto::Sha384),
        ("auth/sha-512/key", AuthProto::Sha512),
    ] {
        if let Some(k) = key(rel)? {
            if k.len() != p.key_len() {
                return Err(format!(
                    "user {name}: the {rel} must be {} octets (a localized key), not {}",
                    p.key_len(),
                    k.len()
                ));
            }
            auth = Some((p, k));
        }
    }
    let mut privacy = None;
    for (rel, p) in [
        ("priv/des/key", PrivProto::Des),
        ("priv/aes/key", PrivProto::Aes128),
    ] {
        if let Some(k) = key(rel)? {
            if k.len() < p.key_len() {
                return Err(format!(
                    "user {name}: the {rel} must be at least {} octets, not {}",
                    p.key_len(),
                    k.len()
                ));
            }
            privacy = Some((p, k));
        }
    }
    if privacy.is_some() && auth.is_none() {
        return Err(format!("user {name}: privacy needs authentication"));
    }
    Ok(User {
        name,
        auth,
        privacy,
    })
}

fn ip_port(node: &DataNodeRef<'_>, default_port: u16) -> Option<SocketAddr> {
    let ip: IpAddr = leaf(node, "udp/ip")?.split('%').next()?.parse().ok()?;
    let port = leaf(node, "udp/port")
        .and_then(|p| p.parse().ok())
        .unwrap_or(default_port);
    Some(SocketAddr::new(ip, port))
}

fn each<'a>(tree: &'a Tree, path: &str) -> Vec<DataNodeRef<'a>> {
    tree.find_xpath(path)
        .map(|s| s.collect())
        .unwrap_or_default()
}

/// Reads and checks the agent's configuration.
pub fn read(tree: &Tree) -> Result<Config, String> {
    let mut c = Config::default();
    let engine = |rel: &str| {
        each(tree, &format!("{ROOT}/engine/{rel}"))
            .first()
            .and_then(|n| n.value_canonical())
    };
    c.enabled = engine("enabled").is_some_and(|v| v == "true");
    c.authen_traps = engine("enable-authen-traps").is_some_and(|v| v == "true");
    c.v1 = !each(tree, &format!("{ROOT}/engine/version/v1")).is_empty();
    c.v2c = !each(tree, &format!("{ROOT}/engine/version/v2c")).is_empty();
    c.v3 = !each(tree, &format!("{ROOT}/engine/version/v3")).is_empty();
    if let Some(id) = engine("engine-id") {
        let id = parse_hex(&id).ok_or("the engine-id is not hexadecimal")?;
        if !(5..=32).contains(&id.len()) {
            return Err("the engine-id must be 5 to 32 octets".into());
        }
        c.engine_id = Some(id);
    }
    for n in each(tree, &format!("{ROOT}/engine/listen")) {
        let name = leaf(&n, "name").unwrap_or_default();
        c.listen
            .push(ip_port(&n, 161).ok_or(format!("listen {name}: no UDP address"))?);
    }
    for n in each(tree, &format!("{ROOT}/community")) {
        let name = match (leaf(&n, "text-name"), leaf(&n, "binary-name")) {
            (Some(t), _) => t.into_bytes(),
            (None, Some(b)) => {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .map_err(|_| "a community's binary-name is not base64")?
            }
            (None, None) => continue,
        };
        c.communities.push(CommunityEntry {
            name,
            security_name: leaf(&n, "security-name").unwrap_or_default(),
            context: leaf(&n, "context").unwrap_or_default(),
        });
    }
    for n in each(tree, &format!("{ROOT}/usm/local/user")) {
        let u = user(&n)?;
        c.users.insert(u.name.clone().into_bytes(), u);
    }
    for r in each(tree, &format!("{ROOT}/usm/remote")) {
        let id = leaf(&r, "engine-id")
            .and_then(|e| parse_hex(&e))
            .ok_or("a remote engine-id is not hexadecimal")?;
        let mut users = HashMap::new();
        for n in r.children().filter(|n| n.schema().name() == "user") {
            let u = user(&n)?;
            users.insert(u.name.clone().into_bytes(), u);
        }
        c.remote_users.insert(id, users);
    }
    for g in each(tree, &format!("{ROOT}/vacm/group")) {
        let mut group = Group {
            name: leaf(&g, "name").unwrap_or_default(),
            ..Default::default()
        };
        for m in g.children().filter(|n| n.schema().name() == "member") {
            let models = leaves(&m, "security-model")
                .iter()
                .filter_map(|s| model(s))
                .collect();
            group
                .members
                .push((leaf(&m, "security-name").unwrap_or_default(), models));
        }
        for a in g.children().filter(|n| n.schema().name() == "access") {
            let sm = leaf(&a, "security-model").unwrap_or_default();
            group.access.push(Access {
                context: leaf(&a, "context").unwrap_or_default(),
                prefix: leaf(&a, "context-match").is_some_and(|m| m == "prefix"),
                model: if sm == "any" { None } else { model(&sm) },
                level: leaf(&a, "security-level")
                    .and_then(|l| Level::parse(&l))
                    .unwrap_or(Level::NoAuthNoPriv),
                read: leaf(&a, "read-view"),
                write: leaf(&a, "write-view"),
                notify: leaf(&a, "notify-view"),
            });
        }
        c.vacm.groups.push(group);
    }
    for v in each(tree, &format!("{ROOT}/vacm/view")) {
        let name = leaf(&v, "name").unwrap_or_default();
        let view = View::new(&leaves(&v, "include"), &leaves(&v, "exclude"))
            .map_err(|bad| format!("view {name}: {bad} is not an object identifier"))?;
        c.vacm.views.insert(name, view);
    }
    for t in each(tree, &format!("{ROOT}/target")) {
        let name = leaf(&t, "name").unwrap_or_default();
        c.targets.push(Target {
            addr: ip_port(&t, 162).ok_or(format!("target {name}: no UDP address"))?,
            tags: leaves(&t, "tag"),
            timeout_cs: leaf(&t, "timeout")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1500),
            retries: leaf(&t, "retries")
                .and_then(|v| v.parse().ok())
                .unwrap_or(3),
            params: leaf(&t, "target-params").unwrap_or_default(),
            name,
        });
    }
    for p in each(tree, &format!("{ROOT}/target-params")) {
        let name = leaf(&p, "name").unwrap_or_default();
        let params = if let Some(s) = leaf(&p, "v1/security-name") {
            Params::V1(s)
        } else if let Some(s) = leaf(&p, "v2c/security-name") {
            Params::V2c(s)
        } else if let Some(user) = leaf(&p, "usm/user-name") {
            Params::Usm {
                user,
                level: leaf(&p, "usm/security-level")
                    .and_then(|l| Level::parse(&l))
                    .unwrap_or(Level::NoAuthNoPriv),
            }
        } else {
            continue;
        };
        c.params.insert(name, params);
    }
    for t in &c.targets {
        if !c.params.contains_key(&t.params) {
            return Err(format!(
                "target {}: no target-params named {}",
                t.name, t.params
            ));
        }
    }
    for n in each(tree, &format!("{ROOT}/notify")) {
        c.notifies.push(Notify {
            tag: leaf(&n, "tag").unwrap_or_default(),
            inform: leaf(&n, "type").is_some_and(|t| t == "inform"),
        });
    }
    Ok(c)
}
