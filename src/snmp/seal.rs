//! Outgoing SNMPv3 messages: a ScopedPDU encrypted and authenticated for a
//! USM user (RFC 3414 3.1), for the agent's responses and notifications and
//! for the power service's requests to PDUs.
use super::message::{self, FLAG_AUTH, FLAG_PRIV, V3Out};
use super::security::Level;
use super::usm::{AuthProto, PrivProto};

/// The largest message we send or accept.
pub const MAX_MESSAGE: usize = 65507;

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

/// How to secure an outgoing v3 message: the user and level, and the
/// authoritative engine (us for responses and traps, the receiver for informs).
pub struct Seal<'a> {
    pub user: &'a User,
    pub level: Level,
    pub msg_id: i32,
    /// Flags besides auth and priv (reportable, for informs).
    pub flags: u8,
    pub engine: &'a [u8],
    pub boots: u32,
    pub time: u32,
    /// The privacy salt (msgPrivacyParameters), unused without privacy.
    pub salt: [u8; 8],
}

/// A v3 message around a ScopedPDU: encrypted and authenticated as the user's
/// keys and the level say (RFC 3414 3.1).
pub fn seal(s: &Seal<'_>, scoped: &[u8]) -> Vec<u8> {
    let mut flags = s.flags;
    let data = match (&s.user.privacy, s.level) {
        (Some((proto, key)), Level::AuthPriv) => {
            flags |= FLAG_PRIV;
            super::usm::encrypt(*proto, key, s.boots, s.time, s.salt, scoped)
        }
        _ => scoped.to_vec(),
    };
    let auth = s
        .user
        .auth
        .as_ref()
        .filter(|_| s.level >= Level::AuthNoPriv);
    if auth.is_some() {
        flags |= FLAG_AUTH;
    }
    let (mut out, off) = message::encode_v3(&V3Out {
        msg_id: s.msg_id,
        max_size: MAX_MESSAGE as i32,
        flags,
        engine_id: s.engine,
        boots: s.boots,
        time: s.time,
        user: s.user.name.as_bytes(),
        auth_len: auth.map_or(0, |(p, _)| p.mac_len()),
        privacy: if flags & FLAG_PRIV != 0 { &s.salt } else { &[] },
        data: &data,
    });
    if let Some((proto, key)) = auth {
        let mac = proto.mac(key, &out, off);
        out[off..off + mac.len()].copy_from_slice(&mac);
    }
    out
}
