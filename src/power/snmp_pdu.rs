//! SNMP-managed PDUs: an SNMP manager over the agent's own BER and USM code
//! (v1, v2c, v3 with discovery, MD5/SHA/SHA-2 and DES/AES), and vendor
//! profiles as data (which OIDs, which values), not code. The manager's core
//! ([`Manager::seal`], [`Manager::open`]) is sans-IO; [`Snmp`] sends and waits
//! with a timeout and retries.
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use super::config::{AuthProtocol, PrivProtocol, Profile as ProfileKind, SnmpPdu, Version};
use super::{DriverError, OutletReading, OutletState, Reading};
use crate::snmp::ber::{Oid, Value};
use crate::snmp::message::{self, FLAG_AUTH, FLAG_PRIV, FLAG_REPORTABLE, Pdu, PduType};
use crate::snmp::seal::{Seal, User, seal};
use crate::snmp::usm::{self, AuthProto, PrivProto};

/// APC PowerNet-MIB rPDUOutletControlTable: names and the command column.
const APC_NAME: &[u32] = &[1, 3, 6, 1, 4, 1, 318, 1, 1, 12, 3, 3, 1, 1, 2];
const APC_COMMAND: &[u32] = &[1, 3, 6, 1, 4, 1, 318, 1, 1, 12, 3, 3, 1, 1, 4];
/// usmStatsNotInTimeWindows and usmStatsUnknownEngineIDs.
const NOT_IN_TIME: &[u32] = &[1, 3, 6, 1, 6, 3, 15, 1, 1, 2, 0];
const UNKNOWN_ENGINE: &[u32] = &[1, 3, 6, 1, 6, 3, 15, 1, 1, 4, 0];

/// How a PDU's outlets are read and switched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub control: Vec<u32>,
    pub state: Vec<u32>,
    pub name: Option<Vec<u32>>,
    pub on: i32,
    pub off: i32,
    /// The device's own cycle command, if it has one.
    pub cycle: Option<i32>,
}

impl Profile {
    pub fn of(c: &SnmpPdu) -> Result<Profile, DriverError> {
        Ok(match c.profile {
            // The state reads back from the command column.
            ProfileKind::ApcRpdu => Profile {
                control: APC_COMMAND.to_vec(),
                state: APC_COMMAND.to_vec(),
                name: Some(APC_NAME.to_vec()),
                on: 1,
                off: 2,
                cycle: Some(3),
            },
            ProfileKind::Generic => {
                let control = c.control_oid.clone().ok_or_else(|| {
                    DriverError::Invalid("the generic profile needs outlet-control-oid".into())
                })?;
                // YANG gives the generic profile its on and off values.
                let (on, off) = c.on_value.zip(c.off_value).ok_or_else(|| {
                    DriverError::Invalid("the generic profile needs on-value and off-value".into())
                })?;
                Profile {
                    state: c.state_oid.clone().unwrap_or_else(|| control.clone()),
                    control,
                    name: c.name_oid.clone(),
                    on,
                    off,
                    cycle: c.cycle_value,
                }
            }
        })
    }

    pub fn state_of(&self, v: &Value) -> OutletState {
        match v {
            Value::Integer(i) if *i == self.on => OutletState::On,
            Value::Integer(i) if *i == self.off => OutletState::Off,
            _ => OutletState::Unknown,
        }
    }
}

/// What the manager knows of a v3 agent after discovery.
struct Engine {
    id: Vec<u8>,
    boots: u32,
    time: u32,
    at: Instant,
    user: User,
}

enum Security {
    Community(i64, Vec<u8>),
    Usm {
        name: String,
        auth: Option<(AuthProto, Vec<u8>)>,
        privacy: Option<(PrivProto, Vec<u8>)>,
        context: Vec<u8>,
        /// Boxed: the localized keys make it large beside a community.
        engine: Option<Box<Engine>>,
    },
}

/// The manager's side of the messages, sans-IO.
pub struct Manager {
    security: Security,
    next_id: i32,
}

/// What an answer was.
#[derive(Debug)]
pub enum Opened {
    Response(Pdu),
    /// A v3 report that asks for discovery or a new time: send again.
    Resync,
}

impl Manager {
    pub fn new(c: &SnmpPdu) -> Result<Manager, DriverError> {
        let security = match c.version {
            Version::V1 => Security::Community(message::V1, c.community.clone().into_bytes()),
            Version::V2c => Security::Community(message::V2C, c.community.clone().into_bytes()),
            Version::V3 => {
                let name = c
                    .user
                    .clone()
                    .ok_or_else(|| DriverError::Invalid("SNMPv3 needs a user".into()))?;
                let proto = match c.auth_protocol {
                    AuthProtocol::Md5 => AuthProto::Md5,
                    AuthProtocol::Sha => AuthProto::Sha1,
                    AuthProtocol::Sha256 => AuthProto::Sha256,
                    AuthProtocol::Sha512 => AuthProto::Sha512,
                };
                let auth = c
                    .auth_key
                    .as_ref()
                    .map(|k| (proto, proto.password_to_key(k.as_bytes())));
                let privacy = match (&auth, &c.priv_key) {
                    (Some((p, _)), Some(k)) => Some((
                        match c.priv_protocol {
                            PrivProtocol::Des => PrivProto::Des,
                            PrivProtocol::Aes => PrivProto::Aes128,
                        },
                        // RFC 3414 A.2: privacy keys are localized with the auth hash.
                        p.password_to_key(k.as_bytes()),
                    )),
                    (None, Some(_)) => {
                        return Err(DriverError::Invalid(
                            "SNMPv3 privacy needs an auth-key".into(),
                        ));
                    }
                    _ => None,
                };
                Security::Usm {
                    name,
                    auth,
                    privacy,
                    context: c.context.clone().into_bytes(),
                    engine: None,
                }
            }
        };
        Ok(Manager {
            security,
            next_id: (rand::random::<u32>() & 0x3fff_ffff) as i32,
        })
    }

    fn id(&mut self) -> i32 {
        self.next_id = self.next_id.wrapping_add(1) & 0x7fff_ffff;
        self.next_id
    }

    /// The bytes of a request (a discovery probe first, for v3), and the id
    /// its answer carries.
    pub fn seal(
        &mut self,
        kind: PduType,
        varbinds: &[(Oid, Value)],
        bulk: Option<i32>,
    ) -> (Vec<u8>, i32) {
        let id = self.id();
        let pdu = Pdu {
            kind,
            request_id: id,
            error_status: 0,
            error_index: bulk.unwrap_or(0),
            varbinds: varbinds.to_vec(),
        };
        match &self.security {
            Security::Community(v, c) => (message::encode_community(*v, c, &pdu), id),
            Security::Usm { engine: None, .. } => (message::discovery_probe(id), id),
            Security::Usm {
                engine: Some(e),
                context,
                ..
            } => {
                let scoped = message::encode_scoped(&e.id, context, &pdu);
                let level = e.user.level();
                let s = Seal {
                    user: &e.user,
                    level,
                    msg_id: id,
                    flags: FLAG_REPORTABLE,
                    engine: &e.id,
                    boots: e.boots,
                    time: e.time.saturating_add(e.at.elapsed().as_secs() as u32),
                    salt: rand::random(),
                };
                (seal(&s, &scoped), id)
            }
        }
    }

    /// Reads an answer to request `id`: `None` if it answers something else
    /// (a late answer to an earlier try).
    pub fn open(&mut self, b: &[u8], id: i32) -> Result<Option<Opened>, DriverError> {
        let garbage = |what: &str| DriverError::Protocol(format!("SNMP: {what}"));
        let msg = message::decode(b).map_err(|_| garbage("an answer that does not decode"))?;
        match (&mut self.security, msg) {
            (Security::Community(..), message::Message::Community(c)) => {
                if c.pdu.request_id != id {
                    return Ok(None);
                }
                Ok(Some(Opened::Response(c.pdu)))
            }
            (
                Security::Usm {
                    name,
                    auth,
                    privacy,
                    engine,
                    ..
                },
                message::Message::V3(m),
            ) => {
                if m.msg_id != id {
                    return Ok(None);
                }
                // Discovery: the report names the engine and its clock.
                if engine.is_none() || m.flags & FLAG_AUTH == 0 {
                    let plain = message::decode_scoped(m.data)
                        .map_err(|_| garbage("a report that does not decode"))?;
                    if plain.pdu.kind != PduType::Report {
                        return Err(garbage("an answer without authentication"));
                    }
                    let reported = plain.pdu.varbinds.first().map(|(o, _)| o.0.clone());
                    let resync = engine.is_none()
                        || reported.as_deref() == Some(NOT_IN_TIME)
                        || reported.as_deref() == Some(UNKNOWN_ENGINE);
                    if !resync {
                        return Err(report_error(reported));
                    }
                    let id_ = m.usm.engine_id.to_vec();
                    let localize = |k: &Option<(AuthProto, Vec<u8>)>| {
                        k.as_ref().map(|(p, ku)| (*p, p.localize(ku, &id_)))
                    };
                    let user = User {
                        name: name.clone(),
                        auth: localize(auth),
                        privacy: privacy.as_ref().and_then(|(pp, ku)| {
                            let (ap, _) = auth.as_ref()?;
                            Some((*pp, ap.localize(ku, &id_)))
                        }),
                    };
                    *engine = Some(Box::new(Engine {
                        id: id_.clone(),
                        boots: m.usm.boots.max(0) as u32,
                        time: m.usm.time.max(0) as u32,
                        at: Instant::now(),
                        user,
                    }));
                    return Ok(Some(Opened::Resync));
                }
                let e = engine.as_mut().expect("checked");
                if m.usm.engine_id != e.id.as_slice() {
                    return Err(garbage("an answer from another engine"));
                }
                if let Some((proto, key)) = &e.user.auth {
                    let off = m.usm.auth_offset;
                    if m.flags & FLAG_AUTH == 0
                        || m.usm.auth.len() != proto.mac_len()
                        || off + proto.mac_len() > b.len()
                        || !usm::mac_eq(&proto.mac(key, b, off), m.usm.auth)
                    {
                        return Err(DriverError::Refused(
                            "SNMPv3: the answer did not authenticate (wrong auth-key?)".into(),
                        ));
                    }
                    e.boots = m.usm.boots.max(0) as u32;
                    e.time = m.usm.time.max(0) as u32;
                    e.at = Instant::now();
                }
                let plain;
                let data = match &e.user.privacy {
                    Some((proto, key)) if m.flags & FLAG_PRIV != 0 => {
                        plain = usm::decrypt(
                            *proto,
                            key,
                            m.usm.boots as u32,
                            m.usm.time as u32,
                            m.usm.privacy,
                            m.data,
                        )
                        .map_err(|_| {
                            DriverError::Refused(
                                "SNMPv3: the answer did not decrypt (wrong priv-key?)".into(),
                            )
                        })?;
                        &plain[..]
                    }
                    _ => m.data,
                };
                let scoped = message::decode_scoped(data)
                    .map_err(|_| garbage("a scoped PDU that does not decode"))?;
                if scoped.pdu.kind == PduType::Report {
                    let reported = scoped.pdu.varbinds.first().map(|(o, _)| o.0.clone());
                    if reported.as_deref() == Some(NOT_IN_TIME) {
                        return Ok(Some(Opened::Resync));
                    }
                    return Err(report_error(reported));
                }
                Ok(Some(Opened::Response(scoped.pdu)))
            }
            _ => Err(garbage("an answer of another SNMP version")),
        }
    }

    fn is_v1(&self) -> bool {
        matches!(self.security, Security::Community(v, _) if v == message::V1)
    }
}

/// What a USM report (RFC 3414 usmStats) says went wrong.
fn report_error(oid: Option<Vec<u32>>) -> DriverError {
    const USM_STATS: &[u32] = &[1, 3, 6, 1, 6, 3, 15, 1, 1];
    let what = match oid.as_deref() {
        Some(o) if o.len() == 11 && o.starts_with(USM_STATS) => match o[9] {
            1 => "does not support our security level".to_string(),
            3 => "does not know the user".to_string(),
            5 => "found a wrong digest (wrong auth-key?)".to_string(),
            6 => "could not decrypt the request (wrong priv-key?)".to_string(),
            n => format!("reported usmStats.{n}"),
        },
        Some(o) => format!("reported {}", Oid(o.to_vec())),
        None => "reported an error".to_string(),
    };
    DriverError::Refused(format!("SNMPv3: the agent {what}"))
}

/// An SNMP session with one PDU.
pub struct Snmp {
    sock: UdpSocket,
    to: SocketAddr,
    manager: Manager,
    timeout: Duration,
    retries: u8,
}

const ERRORS: &[&str] = &[
    "noError",
    "tooBig",
    "noSuchName",
    "badValue",
    "readOnly",
    "genErr",
    "noAccess",
    "wrongType",
    "wrongLength",
    "wrongEncoding",
    "wrongValue",
    "noCreation",
    "inconsistentValue",
    "resourceUnavailable",
    "commitFailed",
    "undoFailed",
    "authorizationError",
    "notWritable",
    "inconsistentName",
];

impl Snmp {
    pub async fn new(c: &SnmpPdu) -> Result<Snmp, DriverError> {
        let to = tokio::net::lookup_host((c.host.as_str(), c.port))
            .await
            .map_err(|e| DriverError::Unreachable(format!("{}: {e}", c.host)))?
            .next()
            .ok_or_else(|| DriverError::Unreachable(format!("{}: no address", c.host)))?;
        let local: SocketAddr = if to.is_ipv4() {
            "0.0.0.0:0".parse().expect("literal")
        } else {
            "[::]:0".parse().expect("literal")
        };
        let sock = UdpSocket::bind(local).await?;
        Ok(Snmp {
            sock,
            to,
            manager: Manager::new(c)?,
            timeout: Duration::from_millis(c.timeout.into()),
            retries: c.retries,
        })
    }

    /// One request and its response, with retries and v3 resynchronisation.
    async fn request(
        &mut self,
        kind: PduType,
        vbs: &[(Oid, Value)],
        bulk: Option<i32>,
    ) -> Result<Pdu, DriverError> {
        let mut resyncs = 0;
        let mut tries = 0;
        loop {
            let (bytes, id) = self.manager.seal(kind, vbs, bulk);
            self.sock.send_to(&bytes, self.to).await?;
            let deadline = tokio::time::Instant::now() + self.timeout;
            let mut buf = vec![0u8; 65536];
            let got = loop {
                let recv = tokio::time::timeout_at(deadline, self.sock.recv_from(&mut buf)).await;
                let Ok(r) = recv else { break None };
                let (n, from) = r?;
                if from != self.to {
                    continue;
                }
                match self.manager.open(&buf[..n], id)? {
                    Some(o) => break Some(o),
                    None => continue,
                }
            };
            match got {
                Some(Opened::Response(pdu)) => {
                    if pdu.error_status != 0 {
                        let name = ERRORS
                            .get(pdu.error_status as usize)
                            .copied()
                            .unwrap_or("an error");
                        return Err(DriverError::Refused(format!(
                            "SNMP {name} (varbind {})",
                            pdu.error_index
                        )));
                    }
                    return Ok(pdu);
                }
                Some(Opened::Resync) => {
                    resyncs += 1;
                    if resyncs > 3 {
                        return Err(DriverError::Protocol(
                            "SNMPv3 discovery does not settle".into(),
                        ));
                    }
                }
                None => {
                    tries += 1;
                    if tries > self.retries {
                        return Err(DriverError::Timeout(format!(
                            "{} did not answer SNMP in {:?} ({} tries)",
                            self.to, self.timeout, tries
                        )));
                    }
                }
            }
        }
    }

    /// Every object under `base` (GETNEXT for v1, GETBULK otherwise).
    pub async fn walk(&mut self, base: &[u32]) -> Result<Vec<(Oid, Value)>, DriverError> {
        let mut out = Vec::new();
        let mut cursor = Oid(base.to_vec());
        loop {
            let (kind, bulk) = if self.manager.is_v1() {
                (PduType::GetNext, None)
            } else {
                (PduType::GetBulk, Some(32))
            };
            let pdu = match self
                .request(kind, &[(cursor.clone(), Value::Null)], bulk)
                .await
            {
                Ok(p) => p,
                // v1's end of the MIB.
                Err(DriverError::Refused(e)) if e.contains("noSuchName") => return Ok(out),
                Err(e) => return Err(e),
            };
            if pdu.varbinds.is_empty() {
                return Ok(out);
            }
            for (oid, v) in pdu.varbinds {
                if !oid.starts_with(base) || matches!(v, Value::EndOfMibView) {
                    return Ok(out);
                }
                if oid <= cursor {
                    return Err(DriverError::Protocol("SNMP walk went backwards".into()));
                }
                if out.len() >= 10_000 {
                    return Err(DriverError::Protocol("SNMP table without end".into()));
                }
                cursor = oid.clone();
                out.push((oid, v));
            }
        }
    }

    pub async fn get(&mut self, oid: &[u32]) -> Result<Value, DriverError> {
        let pdu = self
            .request(PduType::Get, &[(Oid(oid.to_vec()), Value::Null)], None)
            .await?;
        match pdu.varbinds.into_iter().next() {
            Some((_, v @ (Value::NoSuchObject | Value::NoSuchInstance))) => Err(
                DriverError::Refused(format!("the PDU has no {} ({v:?})", Oid(oid.to_vec()))),
            ),
            Some((_, v)) => Ok(v),
            None => Err(DriverError::Protocol("an empty SNMP response".into())),
        }
    }

    pub async fn set(&mut self, oid: &[u32], v: Value) -> Result<(), DriverError> {
        self.request(PduType::Set, &[(Oid(oid.to_vec()), v)], None)
            .await
            .map(|_| ())
    }

    /// The outlets of a PDU as its profile reads them.
    pub async fn read(&mut self, p: &Profile) -> Result<Reading, DriverError> {
        let mut r = Reading::default();
        let names: BTreeMap<u32, String> = match &p.name {
            Some(base) => self
                .walk(base)
                .await?
                .into_iter()
                .filter_map(|(o, v)| match v {
                    Value::OctetString(b) => {
                        Some((*o.0.last()?, String::from_utf8_lossy(&b).into_owned()))
                    }
                    _ => None,
                })
                .collect(),
            None => BTreeMap::new(),
        };
        for (o, v) in self.walk(&p.state).await? {
            let Some(&n) = o.0.last() else { continue };
            r.outlets.insert(
                n.to_string(),
                OutletReading {
                    state: p.state_of(&v),
                    switchable: true,
                    description: names.get(&n).cloned(),
                },
            );
        }
        Ok(r)
    }

    /// Sends a profile's value for `op` to outlet `id` and reads the state back.
    pub async fn switch(
        &mut self,
        p: &Profile,
        id: &str,
        value: i32,
    ) -> Result<OutletState, DriverError> {
        let n: u32 = id
            .parse()
            .map_err(|_| DriverError::Invalid(format!("SNMP outlet {id:?} is not a number")))?;
        let mut control = p.control.clone();
        control.push(n);
        self.set(&control, Value::Integer(value)).await?;
        let mut state = p.state.clone();
        state.push(n);
        Ok(p.state_of(&self.get(&state).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(version: Version) -> SnmpPdu {
        crate::power::fuzz::apc(version, "admin", "adminadmin", "adminadmin")
    }

    #[test]
    fn community_answers_are_matched_by_id() {
        let mut m = Manager::new(&cfg(Version::V2c)).unwrap();
        let (_, id) = m.seal(PduType::Get, &[], None);
        let answer = message::encode_community(
            message::V2C,
            b"private",
            &Pdu::response(id, vec![(Oid(vec![1, 3]), Value::Integer(1))]),
        );
        assert!(matches!(
            m.open(&answer, id).unwrap(),
            Some(Opened::Response(_))
        ));
        assert!(m.open(&answer, id + 1).unwrap().is_none());
        assert!(m.open(b"\x30\x03garbage", id).is_err());
    }

    #[test]
    fn v3_starts_with_discovery() {
        let mut m = Manager::new(&cfg(Version::V3)).unwrap();
        let (probe, id) = m.seal(PduType::Get, &[], None);
        assert_eq!(probe, message::discovery_probe(id));
        assert!(m.open(&probe, id).is_err(), "a probe is no report");
    }
}
