//! The command responder, sans-IO: a request's bytes in, a response's bytes (or a
//! SET to commit) out. Message processing (RFC 3412), community and USM
//! security (RFC 3584, 3414), VACM (RFC 3415) and the PDU operations of RFC 3416.
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use parking_lot::RwLock;
use std::time::Instant;

use super::ber::{self, Oid, Value};
use super::config::{Config, Level, MODEL_USM, MODEL_V1, MODEL_V2C, User};
use super::message::{
    self, ErrorStatus, FLAG_AUTH, FLAG_PRIV, FLAG_REPORTABLE, Message, Pdu, PduType,
};
use super::mib::{self, BadValue, Cell, Contexts, Conv, Live, Mib, View as MibView};
use super::usm;
use super::vacm::View;

/// The agent's counters (SNMPv2-MIB snmp group, MPD, USM, target MIB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    InPkts,
    OutPkts,
    InBadVersions,
    InBadCommunityNames,
    InBadCommunityUses,
    InAsnParseErrs,
    SilentDrops,
    ProxyDrops,
    UnknownSecurityModels,
    InvalidMsgs,
    UnknownPduHandlers,
    UnsupportedSecLevels,
    NotInTimeWindows,
    UnknownUserNames,
    UnknownEngineIds,
    WrongDigests,
    DecryptionErrors,
    UnknownContexts,
    UnavailableContexts,
    TrapsSent,
    InformsUnacknowledged,
}

pub const STATS: usize = 21;

/// Where each counter lives in the MIB (`.0` instances).
pub const STAT_OIDS: &[(Stat, &[u32])] = &[
    (Stat::InPkts, &[1, 3, 6, 1, 2, 1, 11, 1]),
    (Stat::OutPkts, &[1, 3, 6, 1, 2, 1, 11, 2]),
    (Stat::InBadVersions, &[1, 3, 6, 1, 2, 1, 11, 3]),
    (Stat::InBadCommunityNames, &[1, 3, 6, 1, 2, 1, 11, 4]),
    (Stat::InBadCommunityUses, &[1, 3, 6, 1, 2, 1, 11, 5]),
    (Stat::InAsnParseErrs, &[1, 3, 6, 1, 2, 1, 11, 6]),
    (Stat::SilentDrops, &[1, 3, 6, 1, 2, 1, 11, 31]),
    (Stat::ProxyDrops, &[1, 3, 6, 1, 2, 1, 11, 32]),
    (Stat::UnavailableContexts, &[1, 3, 6, 1, 6, 3, 12, 1, 4]),
    (Stat::UnknownContexts, &[1, 3, 6, 1, 6, 3, 12, 1, 5]),
    (
        Stat::UnknownSecurityModels,
        &[1, 3, 6, 1, 6, 3, 11, 2, 1, 1],
    ),
    (Stat::InvalidMsgs, &[1, 3, 6, 1, 6, 3, 11, 2, 1, 2]),
    (Stat::UnknownPduHandlers, &[1, 3, 6, 1, 6, 3, 11, 2, 1, 3]),
    (Stat::UnsupportedSecLevels, &[1, 3, 6, 1, 6, 3, 15, 1, 1, 1]),
    (Stat::NotInTimeWindows, &[1, 3, 6, 1, 6, 3, 15, 1, 1, 2]),
    (Stat::UnknownUserNames, &[1, 3, 6, 1, 6, 3, 15, 1, 1, 3]),
    (Stat::UnknownEngineIds, &[1, 3, 6, 1, 6, 3, 15, 1, 1, 4]),
    (Stat::WrongDigests, &[1, 3, 6, 1, 6, 3, 15, 1, 1, 5]),
    (Stat::DecryptionErrors, &[1, 3, 6, 1, 6, 3, 15, 1, 1, 6]),
];

pub use crate::snmp::seal::{MAX_MESSAGE, Seal, seal};
/// The USM time window, seconds.
const TIME_WINDOW: i64 = 150;

/// The agent's configuration with what it derives from it.
pub struct Runtime {
    pub config: Config,
    pub engine_id: Vec<u8>,
}

pub struct Agent {
    pub runtime: RwLock<Arc<Runtime>>,
    pub boots: u32,
    pub start: Instant,
    stats: [AtomicU32; STATS],
    /// The default context's MIB.
    pub mib: Arc<Mib>,
    contexts: Option<Contexts>,
    salt: AtomicU64,
}

/// What the agent makes of a request.
pub enum Outcome {
    /// Nothing to send (dropped, counted).
    Drop,
    Reply(Vec<u8>),
    /// A SET that passed its checks: commit `edits`, then call `finish_set`.
    Set(SetJob),
    /// A bad community or digest: drop, and tell the NMS if it wants to know.
    AuthFailure,
}

/// One write of a SET: a leaf value, or an action on a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    Leaf { path: String, value: String },
    Action { path: String, name: String },
}

/// A checked SET waiting for its commit.
pub struct SetJob {
    pub edits: Vec<Edit>,
    pub security_name: String,
    reply: Reply,
    pdu: Pdu,
}

/// How to wrap a response PDU.
#[derive(Clone)]
enum Reply {
    Community {
        version: i64,
        community: Vec<u8>,
    },
    V3 {
        msg_id: i32,
        level: Level,
        user: User,
        context_name: Vec<u8>,
        max_size: usize,
    },
}

/// Why a SET's commit failed: the varbind at fault (0-based) if known.
pub struct SetFailure {
    pub index: Option<usize>,
    pub status: ErrorStatus,
}

struct Ctx<'a> {
    /// The MIB of the request's context.
    mib: Arc<Mib>,
    version: i64,
    read: Option<&'a View>,
    write: Option<&'a View>,
    max: usize,
}

impl Agent {
    pub fn new(runtime: Runtime, boots: u32, mib: Arc<Mib>) -> Agent {
        Agent {
            runtime: RwLock::new(Arc::new(runtime)),
            boots,
            start: Instant::now(),
            stats: Default::default(),
            mib,
            contexts: None,
            salt: AtomicU64::new(rand::random()),
        }
    }

    /// Serves `contexts` beside the default context.
    pub fn with_contexts(mut self, contexts: Contexts) -> Agent {
        self.contexts = Some(contexts);
        self
    }

    /// Forgets what every MIB built (after a commit that changed the agent).
    pub fn invalidate(&self) {
        self.mib.invalidate();
        if let Some(c) = &self.contexts {
            c.clear();
        }
    }

    /// The MIB of a context, if the agent knows it.
    fn mib_of(&self, context: &[u8]) -> Option<Arc<Mib>> {
        if context.is_empty() {
            return Some(self.mib.clone());
        }
        let name = std::str::from_utf8(context).ok()?;
        self.contexts.as_ref()?.get(&self.mib, name)
    }

    pub fn count(&self, s: Stat) {
        self.stats[s as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn stat(&self, s: Stat) -> u32 {
        self.stats[s as usize].load(Ordering::Relaxed)
    }

    pub fn uptime_centis(&self) -> u32 {
        (self.start.elapsed().as_millis() / 10) as u32
    }

    pub fn engine_time(&self) -> u32 {
        self.start.elapsed().as_secs().min(i32::MAX as u64) as u32
    }

    fn live(&self, cell: &Cell) -> Value {
        match cell {
            Cell::Value(v) => v.clone(),
            Cell::Live(Live::SysUpTime) => Value::TimeTicks(self.uptime_centis()),
            Cell::Live(Live::EngineTime) => Value::Integer(self.engine_time() as i32),
            Cell::Live(Live::EngineId) => Value::OctetString(self.runtime.read().engine_id.clone()),
            Cell::Live(Live::Stat(i)) => {
                Value::Counter32(self.stats.get(*i).map_or(0, |a| a.load(Ordering::Relaxed)))
            }
        }
    }

    /// Handles one datagram.
    pub fn handle(&self, packet: &[u8]) -> Outcome {
        self.count(Stat::InPkts);
        let rt = self.runtime.read().clone();
        match message::decode(packet) {
            Err(_) => {
                self.count(Stat::InAsnParseErrs);
                Outcome::Drop
            }
            Ok(Message::Community(m)) => self.community(&rt, m),
            Ok(Message::V3(m)) => self.v3(&rt, packet, m),
        }
    }

    fn community(&self, rt: &Runtime, m: message::Community<'_>) -> Outcome {
        let cfg = &rt.config;
        let (enabled, model) = if m.version == message::V1 {
            (cfg.v1, MODEL_V1)
        } else {
            (cfg.v2c, MODEL_V2C)
        };
        if !enabled {
            self.count(Stat::InBadVersions);
            return Outcome::Drop;
        }
        let Some(entry) = cfg.communities.iter().find(|c| c.name == m.community) else {
            self.count(Stat::InBadCommunityNames);
            return Outcome::AuthFailure;
        };
        if !m.pdu.kind.confirmed()
            || m.pdu.kind == PduType::Inform
            || (m.version == message::V1 && m.pdu.kind == PduType::GetBulk)
        {
            self.count(Stat::UnknownPduHandlers);
            return Outcome::Drop;
        }
        let Some(mib) = self.mib_of(entry.context.as_bytes()) else {
            self.count(Stat::UnknownContexts);
            return Outcome::Drop;
        };
        let views = match cfg.vacm.resolve(
            model,
            &entry.security_name,
            Level::NoAuthNoPriv,
            &entry.context,
        ) {
            Ok(v) => v,
            Err(_) => {
                self.count(Stat::InBadCommunityUses);
                return Outcome::Drop;
            }
        };
        let ctx = Ctx {
            mib,
            version: m.version,
            read: views.read,
            write: views.write,
            max: MAX_MESSAGE - 48 - m.community.len(),
        };
        let reply = Reply::Community {
            version: m.version,
            community: m.community.to_vec(),
        };
        self.execute(&ctx, m.pdu, reply, &entry.security_name, rt)
    }

    fn v3(&self, rt: &Runtime, whole: &[u8], m: message::V3Message<'_>) -> Outcome {
        let cfg = &rt.config;
        if !cfg.v3 {
            self.count(Stat::InBadVersions);
            return Outcome::Drop;
        }
        if m.security_model != MODEL_USM as i32 {
            self.count(Stat::UnknownSecurityModels);
            return Outcome::Drop;
        }
        if m.flags & FLAG_PRIV != 0 && m.flags & FLAG_AUTH == 0 {
            self.count(Stat::InvalidMsgs);
            return Outcome::Drop;
        }
        let reportable = m.flags & FLAG_REPORTABLE != 0;
        let level = match m.flags & 3 {
            0 => Level::NoAuthNoPriv,
            1 => Level::AuthNoPriv,
            _ => Level::AuthPriv,
        };
        let max_size = (m.max_size as usize).min(MAX_MESSAGE);
        // The request-id for a report, when the PDU is readable without keys.
        let plain_id = || {
            (m.flags & FLAG_PRIV == 0)
                .then(|| {
                    message::decode_scoped(m.data)
                        .ok()
                        .map(|s| s.pdu.request_id)
                })
                .flatten()
                .unwrap_or(0)
        };
        let report = |stat: Stat, user: Option<&User>, lvl: Level| -> Outcome {
            self.count(stat);
            if !reportable {
                return Outcome::Drop;
            }
            let anon = User {
                name: String::from_utf8_lossy(m.usm.user).into_owned(),
                auth: None,
                privacy: None,
            };
            let reply = Reply::V3 {
                msg_id: m.msg_id,
                level: lvl,
                user: user.cloned().unwrap_or(anon),
                context_name: Vec::new(),
                max_size,
            };
            let oid = STAT_OIDS
                .iter()
                .find(|(s, _)| *s == stat)
                .map(|(_, o)| Oid(o.to_vec()).child(&[0]))
                .unwrap_or_default();
            let pdu = Pdu {
                kind: PduType::Report,
                request_id: plain_id(),
                error_status: 0,
                error_index: 0,
                varbinds: vec![(oid, Value::Counter32(self.stat(stat)))],
            };
            self.wrap(rt, &reply, &pdu)
                .map_or(Outcome::Drop, Outcome::Reply)
        };
        if m.usm.engine_id != rt.engine_id.as_slice() {
            return report(Stat::UnknownEngineIds, None, Level::NoAuthNoPriv);
        }
        let Some(user) = cfg.users.get(m.usm.user) else {
            return report(Stat::UnknownUserNames, None, Level::NoAuthNoPriv);
        };
        if level > user.level() {
            return report(Stat::UnsupportedSecLevels, None, Level::NoAuthNoPriv);
        }
        if let Some((proto, key)) = &user.auth
            && level >= Level::AuthNoPriv
        {
            let off = m.usm.auth_offset;
            if m.usm.auth.len() != proto.mac_len() || off + proto.mac_len() > whole.len() {
                self.count(Stat::WrongDigests);
                return Outcome::AuthFailure;
            }
            if !usm::mac_eq(&proto.mac(key, whole, off), m.usm.auth) {
                // RFC 3414 3.2 step 6: counted and reported, unauthenticated.
                let out = report(Stat::WrongDigests, None, Level::NoAuthNoPriv);
                return match out {
                    Outcome::Reply(r) => Outcome::Reply(r),
                    _ => Outcome::AuthFailure,
                };
            }
            let ours = self.engine_time() as i64;
            if m.usm.boots as u32 != self.boots
                || m.usm.boots == i32::MAX
                || (m.usm.time as i64 - ours).abs() > TIME_WINDOW
            {
                return report(Stat::NotInTimeWindows, Some(user), Level::AuthNoPriv);
            }
        }
        let plain;
        let data = match (&user.privacy, level) {
            (Some((proto, key)), Level::AuthPriv) => {
                match usm::decrypt(
                    *proto,
                    key,
                    m.usm.boots as u32,
                    m.usm.time as u32,
                    m.usm.privacy,
                    m.data,
                ) {
                    Ok(p) => {
                        plain = p;
                        &plain[..]
                    }
                    Err(_) => return report(Stat::DecryptionErrors, None, Level::NoAuthNoPriv),
                }
            }
            _ => m.data,
        };
        let Ok(scoped) = message::decode_scoped(data) else {
            self.count(Stat::InAsnParseErrs);
            return Outcome::Drop;
        };
        if !scoped.context_engine.is_empty() && scoped.context_engine != rt.engine_id.as_slice() {
            self.count(Stat::UnknownPduHandlers);
            return Outcome::Drop;
        }
        let Some(mib) = self.mib_of(scoped.context_name) else {
            return report(
                Stat::UnknownContexts,
                Some(user),
                level.min(Level::AuthNoPriv),
            );
        };
        let context = String::from_utf8_lossy(scoped.context_name).into_owned();
        if !scoped.pdu.kind.confirmed() || scoped.pdu.kind == PduType::Inform {
            self.count(Stat::UnknownPduHandlers);
            return Outcome::Drop;
        }
        let reply = Reply::V3 {
            msg_id: m.msg_id,
            level,
            user: user.clone(),
            context_name: scoped.context_name.to_vec(),
            max_size,
        };
        let views = match cfg.vacm.resolve(MODEL_USM, &user.name, level, &context) {
            Ok(v) => v,
            Err(_) => {
                let mut r = Pdu::response(scoped.pdu.request_id, scoped.pdu.varbinds);
                r.error_status = ErrorStatus::AuthorizationError as i32;
                return self
                    .wrap(rt, &reply, &r)
                    .map_or(Outcome::Drop, Outcome::Reply);
            }
        };
        // Room for the v3 header, the security parameters and padding.
        let overhead = 120 + rt.engine_id.len() + user.name.len();
        let ctx = Ctx {
            mib,
            version: message::V3,
            read: views.read,
            write: views.write,
            max: max_size.saturating_sub(overhead),
        };
        self.execute(&ctx, scoped.pdu, reply, &user.name, rt)
    }

    /// Wraps a response PDU in the request's message format.
    fn wrap(&self, rt: &Runtime, reply: &Reply, pdu: &Pdu) -> Option<Vec<u8>> {
        self.count(Stat::OutPkts);
        match reply {
            Reply::Community { version, community } => {
                let mut p = pdu.clone();
                if *version == message::V1 {
                    p.error_status = v1_status(p.error_status);
                }
                Some(message::encode_community(*version, community, &p))
            }
            Reply::V3 {
                msg_id,
                level,
                user,
                context_name,
                max_size,
            } => {
                let scoped = message::encode_scoped(&rt.engine_id, context_name, pdu);
                let salt = match &user.privacy {
                    Some((proto, _)) => self.next_salt(*proto),
                    None => [0; 8],
                };
                let out = seal(
                    &Seal {
                        user,
                        level: *level,
                        msg_id: *msg_id,
                        flags: 0,
                        engine: &rt.engine_id,
                        boots: self.boots,
                        time: self.engine_time(),
                        salt,
                    },
                    &scoped,
                );
                (out.len() <= *max_size).then_some(out)
            }
        }
    }

    fn next_salt(&self, proto: usm::PrivProto) -> [u8; 8] {
        let n = self.salt.fetch_add(1, Ordering::Relaxed);
        match proto {
            // DES: engine boots, then a counter (RFC 3414 8.1.1.1).
            usm::PrivProto::Des => {
                let mut s = [0u8; 8];
                s[..4].copy_from_slice(&self.boots.to_be_bytes());
                s[4..].copy_from_slice(&(n as u32).to_be_bytes());
                s
            }
            usm::PrivProto::Aes128 => n.to_be_bytes(),
        }
    }

    fn execute(&self, ctx: &Ctx<'_>, pdu: Pdu, reply: Reply, name: &str, rt: &Runtime) -> Outcome {
        let mut view = ctx.mib.view();
        let snap = &mut view;
        let response = match pdu.kind {
            PduType::Get => self.get(ctx, snap, &pdu),
            PduType::GetNext => self.get_next(ctx, snap, &pdu),
            PduType::GetBulk => self.get_bulk(ctx, snap, &pdu),
            PduType::Set => match self.test_set(ctx, snap, &pdu) {
                Ok(edits) => {
                    return Outcome::Set(SetJob {
                        edits,
                        security_name: name.to_string(),
                        reply,
                        pdu,
                    });
                }
                Err(r) => r,
            },
            _ => return Outcome::Drop,
        };
        let response = self.fit(ctx, &pdu, response);
        self.wrap(rt, &reply, &response)
            .map_or(Outcome::Drop, Outcome::Reply)
    }

    /// A response too big for the request's limit becomes tooBig.
    fn fit(&self, ctx: &Ctx<'_>, req: &Pdu, resp: Pdu) -> Pdu {
        let size: usize = resp
            .varbinds
            .iter()
            .map(|(o, v)| ber::encoded_len(o, v))
            .sum();
        if size + 32 <= ctx.max {
            return resp;
        }
        let varbinds = if ctx.version == message::V1 {
            req.varbinds.clone()
        } else {
            Vec::new()
        };
        error(req, ErrorStatus::TooBig, 0, varbinds)
    }

    fn readable(ctx: &Ctx<'_>, oid: &Oid) -> bool {
        ctx.read.is_some_and(|v| v.contains(&oid.0))
    }

    fn get(&self, ctx: &Ctx<'_>, snap: &mut MibView<'_>, pdu: &Pdu) -> Pdu {
        let mut out = Vec::with_capacity(pdu.varbinds.len());
        for (i, (oid, _)) in pdu.varbinds.iter().enumerate() {
            let cell = Self::readable(ctx, oid).then(|| snap.get(oid)).flatten();
            let value = match cell {
                Some(c) => self.live(&c),
                None if ctx.version == message::V1 => {
                    return error(pdu, ErrorStatus::NoSuchName, i + 1, pdu.varbinds.clone());
                }
                None if Self::readable(ctx, oid) && snap.is_instance_of_type(oid) => {
                    Value::NoSuchInstance
                }
                None => Value::NoSuchObject,
            };
            out.push((oid.clone(), value));
        }
        Pdu::response(pdu.request_id, out)
    }

    /// The next readable object after `oid`, skipping what v1 cannot carry.
    fn next(&self, ctx: &Ctx<'_>, snap: &mut MibView<'_>, oid: &Oid) -> Option<(Oid, Value)> {
        // v1 cannot carry a Counter64: such objects are skipped.
        snap.next(oid, |o, c| {
            Self::readable(ctx, o)
                && (ctx.version != message::V1 || !matches!(c, Cell::Value(Value::Counter64(_))))
        })
        .map(|(o, c)| {
            let v = self.live(&c);
            (o, v)
        })
    }

    fn get_next(&self, ctx: &Ctx<'_>, snap: &mut MibView<'_>, pdu: &Pdu) -> Pdu {
        let mut out = Vec::with_capacity(pdu.varbinds.len());
        for (i, (oid, _)) in pdu.varbinds.iter().enumerate() {
            match self.next(ctx, snap, oid) {
                Some(vb) => out.push(vb),
                None if ctx.version == message::V1 => {
                    return error(pdu, ErrorStatus::NoSuchName, i + 1, pdu.varbinds.clone());
                }
                None => out.push((oid.clone(), Value::EndOfMibView)),
            }
        }
        Pdu::response(pdu.request_id, out)
    }

    fn get_bulk(&self, ctx: &Ctx<'_>, snap: &mut MibView<'_>, pdu: &Pdu) -> Pdu {
        let n = pdu.varbinds.len();
        let non_rep = (pdu.error_status.max(0) as usize).min(n);
        let max_rep = pdu.error_index.max(0) as usize;
        let budget = ctx.max.saturating_sub(32);
        let mut used = 0;
        let mut out = Vec::new();
        let mut push = |out: &mut Vec<(Oid, Value)>, vb: (Oid, Value)| -> bool {
            let len = ber::encoded_len(&vb.0, &vb.1);
            if used + len > budget || out.len() >= 4096 {
                return false;
            }
            used += len;
            out.push(vb);
            true
        };
        for (oid, _) in &pdu.varbinds[..non_rep] {
            let vb = self
                .next(ctx, snap, oid)
                .unwrap_or((oid.clone(), Value::EndOfMibView));
            if !push(&mut out, vb) {
                // Even the non-repeaters do not fit.
                return error(pdu, ErrorStatus::TooBig, 0, Vec::new());
            }
        }
        let mut cursors: Vec<Oid> = pdu.varbinds[non_rep..]
            .iter()
            .map(|(o, _)| o.clone())
            .collect();
        let mut ended = vec![false; cursors.len()];
        'rep: for _ in 0..max_rep {
            if ended.iter().all(|e| *e) {
                break;
            }
            for (c, end) in cursors.iter_mut().zip(ended.iter_mut()) {
                let vb = if *end {
                    (c.clone(), Value::EndOfMibView)
                } else {
                    match self.next(ctx, snap, c) {
                        Some(vb) => {
                            *c = vb.0.clone();
                            vb
                        }
                        None => {
                            *end = true;
                            (c.clone(), Value::EndOfMibView)
                        }
                    }
                };
                if !push(&mut out, vb) {
                    break 'rep;
                }
            }
        }
        Pdu::response(pdu.request_id, out)
    }

    /// The test phase of a SET (RFC 3416 4.2.5): every varbind is checked
    /// before anything is written.
    fn test_set(&self, ctx: &Ctx<'_>, snap: &mut MibView<'_>, pdu: &Pdu) -> Result<Vec<Edit>, Pdu> {
        let mut edits = Vec::with_capacity(pdu.varbinds.len());
        for (i, (oid, value)) in pdu.varbinds.iter().enumerate() {
            let fail = |s: ErrorStatus| error(pdu, s, i + 1, pdu.varbinds.clone());
            if !ctx.write.is_some_and(|v| v.contains(&oid.0)) {
                return Err(fail(ErrorStatus::NoAccess));
            }
            let Some(w) = snap.writable(oid) else {
                return Err(fail(if snap.get(oid).is_some() {
                    ErrorStatus::NotWritable
                } else {
                    ErrorStatus::NoCreation
                }));
            };
            let v = mib::to_yang(w.conv, value).map_err(|b| {
                fail(match b {
                    BadValue::WrongType => ErrorStatus::WrongType,
                    BadValue::WrongValue => ErrorStatus::WrongValue,
                    BadValue::WrongLength => ErrorStatus::WrongLength,
                })
            })?;
            edits.push(match w.conv {
                Conv::Action(_) if v == "none" => continue,
                Conv::Action(_) => Edit::Action {
                    path: w.path.clone(),
                    name: v,
                },
                _ => Edit::Leaf {
                    path: w.path.clone(),
                    value: v,
                },
            });
        }
        Ok(edits)
    }

    /// The response to a SET once its commit is done.
    pub fn finish_set(&self, job: SetJob, result: Result<(), SetFailure>) -> Option<Vec<u8>> {
        let pdu = match result {
            Ok(()) => Pdu::response(job.pdu.request_id, job.pdu.varbinds.clone()),
            Err(f) => error(
                &job.pdu,
                f.status,
                f.index.map_or(1, |i| i + 1),
                job.pdu.varbinds.clone(),
            ),
        };
        let rt = self.runtime.read().clone();
        self.wrap(&rt, &job.reply, &pdu)
    }
}

fn error(req: &Pdu, status: ErrorStatus, index: usize, varbinds: Vec<(Oid, Value)>) -> Pdu {
    Pdu {
        kind: PduType::Response,
        request_id: req.request_id,
        error_status: status as i32,
        error_index: index as i32,
        varbinds,
    }
}

fn v1_status(s: i32) -> i32 {
    use ErrorStatus::*;
    let all = [
        NoError,
        TooBig,
        NoSuchName,
        BadValue,
        ReadOnly,
        GenErr,
        NoAccess,
        WrongType,
        WrongLength,
        WrongEncoding,
        WrongValue,
        NoCreation,
        InconsistentValue,
        ResourceUnavailable,
        CommitFailed,
        UndoFailed,
        AuthorizationError,
        NotWritable,
        InconsistentName,
    ];
    all.get(s as usize).map_or(s, |e| e.to_v1() as i32)
}
