//! The generic table engine: every MIB object is declared as data (a scalar or a
//! table column mapped onto a node of the model). The MIB is cut into
//! segments (one per scalar, per table entry, per object of the agent's own),
//! each an ordered map of OIDs built from the running configuration and the
//! state providers when a request reaches it and its data is stale. GET is a
//! map lookup, GETNEXT a range query, so walks cross tables and MIBs in
//! lexicographic order by construction.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use serde_json::Value as JsonValue;

use super::ber::{Oid, Value};
use crate::service::ConfigDoc;
use crate::service::config::{quote, scalar_text};

/// How a YANG value becomes an SNMP value (and back, for writable objects).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conv {
    /// INTEGER / Integer32.
    Int,
    /// Unsigned32 / Gauge32 (clamped).
    Gauge,
    /// Counter32 (a 64-bit YANG counter, wrapped).
    Counter32,
    Counter64,
    /// OCTET STRING / DisplayString / SnmpAdminString.
    Str,
    /// TruthValue: true(1), false(2).
    Truth,
    /// An enumeration by YANG name.
    Enum(&'static [(&'static str, i32)]),
    /// A MAC address `aa:bb:..` as octets.
    PhysAddr,
    /// A yang:date-and-time as SNMPv2-TC DateAndTime.
    DateAndTime,
    /// An iana-if-type identity as its IANAifType number.
    IfType,
    /// A number divided by this (bits/s to Mb/s), as Gauge32.
    Div(u64),
    /// A number divided by this (seconds to minutes), as INTEGER.
    DivInt(u64),
    /// A decimal times ten (volts to tenths), as Gauge32.
    Tenths,
    /// A decimal rounded, as INTEGER.
    Round,
    /// NUT's status flags as UPS-MIB upsBatteryStatus.
    UpsBattery,
    /// A control column: reads as the first value; a write runs the action
    /// named by the value, on the row's node.
    Action(&'static [(&'static str, i32)]),
    /// A fixed INTEGER, whatever the value.
    Const(i32),
    /// A fixed OBJECT IDENTIFIER.
    ConstOid(&'static [u32]),
    /// The number of nodes the scalar's path selects, as INTEGER.
    Count,
    /// Decimal seconds as TimeTicks (hundredths).
    Ticks,
    /// An enumeration by YANG name as an OBJECT IDENTIFIER (hrStorageType).
    OidEnum(&'static [(&'static str, &'static [u32])]),
}

/// One column of a table: a leaf relative to the list entry.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub id: u32,
    pub leaf: &'static str,
    pub conv: Conv,
    pub write: bool,
    /// The value when the leaf is missing (the MIB's "0 if unknown").
    pub default: Option<&'static str>,
}

pub const fn col(id: u32, leaf: &'static str, conv: Conv) -> Column {
    Column {
        id,
        leaf,
        conv,
        write: false,
        default: None,
    }
}

/// A column with a value for rows whose leaf is missing.
pub const fn col_or(id: u32, leaf: &'static str, conv: Conv, default: &'static str) -> Column {
    Column {
        id,
        leaf,
        conv,
        write: false,
        default: Some(default),
    }
}

pub const fn rw(id: u32, leaf: &'static str, conv: Conv) -> Column {
    Column {
        id,
        leaf,
        conv,
        write: true,
        default: None,
    }
}

/// One part of a row's index.
#[derive(Debug, Clone, Copy)]
pub enum Index {
    /// An integer leaf of the entry.
    Int(&'static str),
    /// A string leaf of the entry, length-prefixed.
    Str(&'static str),
    /// An integer leaf of the nearest enclosing list entry.
    ParentInt(&'static str),
    /// A string leaf of the nearest enclosing list entry, length-prefixed.
    ParentStr(&'static str),
    /// A fixed sub-identifier.
    Const(u32),
}

/// A conceptual table over a YANG list. Several tables may share an entry OID
/// (one per fixed index part, e.g. one per modem signal).
#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub entry: &'static [u32],
    /// An XPath selecting the list entries (rows).
    pub list: &'static str,
    pub index: &'static [Index],
    pub columns: &'static [Column],
}

/// A scalar object (instance `.0`) over an XPath selecting one leaf.
#[derive(Debug, Clone, Copy)]
pub struct Scalar {
    pub oid: &'static [u32],
    pub path: &'static str,
    pub conv: Conv,
    /// The data path to write, if writable (the leaf is created if missing).
    pub write: Option<&'static str>,
    /// Shown when the leaf is missing; without it the object is absent.
    pub default: Option<&'static str>,
    /// Computed when the leaf is missing and there is no default.
    pub fallback: Option<fn() -> String>,
}

/// A value the agent fills in when it answers, not when the snapshot is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Live {
    /// sysUpTime: hundredths of a second since the agent started.
    SysUpTime,
    /// snmpEngineTime.
    EngineTime,
    /// snmpEngineID (the configured one, or the generated).
    EngineId,
    /// One of the agent's counters.
    Stat(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Value(Value),
    Live(Live),
}

/// Where a SET of an object goes.
#[derive(Debug, Clone)]
pub struct Writable {
    pub path: String,
    pub conv: Conv,
}

/// Converts a YANG canonical value.
pub fn to_snmp(conv: Conv, v: &str) -> Option<Value> {
    Some(match conv {
        Conv::Int => Value::Integer(
            v.parse::<i64>()
                .ok()?
                .clamp(i32::MIN as i64, i32::MAX as i64) as i32,
        ),
        Conv::Gauge => Value::Gauge32(v.parse::<u64>().ok()?.min(u32::MAX as u64) as u32),
        Conv::Counter32 => Value::Counter32(v.parse::<u64>().ok()? as u32),
        Conv::Counter64 => Value::Counter64(v.parse().ok()?),
        Conv::Str => Value::octets(v),
        Conv::Truth => Value::Integer(if v == "true" { 1 } else { 2 }),
        Conv::Enum(map) => Value::Integer(map.iter().find(|(n, _)| *n == v)?.1),
        Conv::PhysAddr => Value::OctetString(super::usm::parse_hex(v)?),
        Conv::DateAndTime => Value::OctetString(date_and_time(v)?),
        Conv::IfType => Value::Integer(if_type(v)),
        Conv::Div(d) => Value::Gauge32((v.parse::<u64>().ok()? / d).min(u32::MAX as u64) as u32),
        Conv::DivInt(d) => Value::Integer((v.parse::<u64>().ok()? / d).min(i32::MAX as u64) as i32),
        Conv::Tenths => Value::Gauge32((v.parse::<f64>().ok()? * 10.0).round().max(0.0) as u32),
        Conv::Round => Value::Integer(v.parse::<f64>().ok()?.round() as i32),
        Conv::UpsBattery => Value::Integer(if v.split_whitespace().any(|f| f == "LB") {
            3
        } else {
            2
        }),
        Conv::Action(map) => Value::Integer(map.first()?.1),
        Conv::Const(i) => Value::Integer(i),
        Conv::ConstOid(o) => Value::ObjectId(Oid(o.to_vec())),
        Conv::Count => return None,
        Conv::Ticks => {
            Value::TimeTicks((v.parse::<f64>().ok()? * 100.0).clamp(0.0, u32::MAX as f64) as u32)
        }
        Conv::OidEnum(map) => Value::ObjectId(Oid(map.iter().find(|(n, _)| *n == v)?.1.to_vec())),
    })
}

/// The error-status of a SET value that does not fit the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadValue {
    WrongType,
    WrongValue,
    WrongLength,
}

/// Converts a SET value into the YANG value to write.
pub fn to_yang(conv: Conv, v: &Value) -> Result<String, BadValue> {
    match (conv, v) {
        (Conv::Str, Value::OctetString(b)) => {
            if b.len() > 255 {
                return Err(BadValue::WrongLength);
            }
            String::from_utf8(b.clone()).map_err(|_| BadValue::WrongValue)
        }
        (Conv::Int, Value::Integer(i)) => Ok(i.to_string()),
        (Conv::Gauge, Value::Gauge32(i)) => Ok(i.to_string()),
        (Conv::Truth, Value::Integer(1)) => Ok("true".into()),
        (Conv::Truth, Value::Integer(2)) => Ok("false".into()),
        (Conv::Truth, Value::Integer(_)) => Err(BadValue::WrongValue),
        (Conv::Enum(map) | Conv::Action(map), Value::Integer(i)) => map
            .iter()
            .find(|(_, n)| n == i)
            .map(|(s, _)| s.to_string())
            .ok_or(BadValue::WrongValue),
        _ => Err(BadValue::WrongType),
    }
}

fn if_type(identity: &str) -> i32 {
    match identity.rsplit(':').next().unwrap_or("") {
        "ethernetCsmacd" => 6,
        "softwareLoopback" => 24,
        "ppp" => 23,
        "tunnel" => 131,
        "ieee80211" => 71,
        "l2vlan" => 135,
        "bridge" => 209,
        "wwanPP" | "wwanPP2" => 243,
        _ => 1,
    }
}

/// RFC 3339 to SNMPv2-TC DateAndTime (11 octets, with the UTC offset).
fn date_and_time(v: &str) -> Option<Vec<u8>> {
    use chrono::{Datelike, Timelike};
    let t = chrono::DateTime::parse_from_rfc3339(v).ok()?;
    let off = t.offset().local_minus_utc();
    let year = u16::try_from(t.year()).ok()?.to_be_bytes();
    Some(vec![
        year[0],
        year[1],
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
        t.second().min(60) as u8,
        (t.nanosecond() / 100_000_000).min(9) as u8,
        if off < 0 { b'-' } else { b'+' },
        (off.abs() / 3600) as u8,
        (off.abs() % 3600 / 60) as u8,
    ])
}

// ----- the lazy MIB: segments built from the model when asked for -----

/// Where the MIB's values come from: the running configuration and the state
/// providers (JSON as the model has it).
pub trait Source: Send + Sync + 'static {
    /// The running configuration and its generation.
    fn config(&self) -> (ConfigDoc, u64);
    /// The generation alone (cheap: asked at every request).
    fn generation(&self) -> u64;
    /// How often the configuration under a top-level node (`module:name`)
    /// changed: parts of the MIB over other nodes survive a commit.
    fn version(&self, top: &str) -> u64;
    /// The state roots there are providers for (data paths without keys).
    fn roots(&self) -> Vec<String>;
    /// Every entry of one state root.
    fn state(&self, root: &str) -> Vec<JsonValue>;
}

/// What a segment adds besides the catalog: the agent's own objects.
pub type Own = Box<dyn Fn() -> Vec<(Oid, Cell)> + Send + Sync>;

enum Content {
    Scalar(&'static Scalar),
    Tables(Vec<&'static Table>),
    Own(Own),
    /// Fixed objects (tests and the fuzz target).
    Fixed,
}

impl Built {
    /// Built from the configuration as it is now: of this generation, or of
    /// an earlier one that changed none of the segment's top-level nodes.
    fn current(&self, seg: &Segment, source: &dyn Source, generation: u64) -> bool {
        if self.generation.load(Ordering::Relaxed) == generation {
            return true;
        }
        if self.at.is_none() || seg.version(source) != self.version {
            return false;
        }
        self.generation.store(generation, Ordering::Relaxed);
        true
    }

    /// Young enough to answer from: a second old, or ten times what building
    /// it cost (a big table is rebuilt less often); segments of the agent's
    /// own objects never age (their live values are read when answering).
    fn young(&self, seg: &Segment) -> bool {
        matches!(seg.content, Content::Own(_))
            || self
                .at
                .is_some_and(|at| at.elapsed() < FRESH.max(self.cost * 10))
    }
}

#[derive(Default)]
struct Built {
    at: Option<Instant>,
    generation: std::sync::atomic::AtomicU64,
    /// The segment's configuration version it was built from.
    version: u64,
    /// How long building took: data costing more is kept longer.
    cost: Duration,
    objects: BTreeMap<Oid, Cell>,
    writable: HashMap<Oid, Writable>,
}

/// A subtree of the MIB no other segment's OIDs fall in, built on its own.
struct Segment {
    prefix: Vec<u32>,
    content: Content,
    built: RwLock<Arc<Built>>,
    building: Mutex<()>,
    /// A background build is under way.
    rebuilding: std::sync::atomic::AtomicBool,
}

/// The MIB the agent answers from. Each segment (a scalar, a table or tables
/// sharing an entry, an object of the agent's own) is built from the model only
/// when a request reaches it and its data is older than a second (or ten times
/// what building it cost); a walk crosses segments in OID order. Nothing is
/// built on the datastore's thread.
pub struct Mib {
    segments: Vec<Segment>,
    types: HashSet<Vec<u32>>,
    source: Option<Arc<dyn Source>>,
    /// Merged configuration and state per top-level node, shared by the
    /// segments built from it within the same second.
    docs: Mutex<HashMap<String, Merged>>,
    /// List keys by schema path.
    keys: Mutex<HashMap<String, Vec<String>>>,
    /// The SNMP context this MIB serves (`[$context]` in paths is its
    /// entry); `None` for the default context, where it is the first entry.
    context: Option<String>,
}

/// A top-level node's configuration with its state: when, of which version
/// of that node's configuration.
type Merged = (Instant, u64, Arc<JsonValue>);

/// Data cheaper than this to build is built by the request that finds it stale.
const INLINE: Duration = Duration::from_millis(20);

/// Data at most this old answers requests.
const FRESH: Duration = Duration::from_secs(1);

fn prefix_of(a: &[u32], b: &[u32]) -> bool {
    b.len() >= a.len() && b[..a.len()] == *a
}

impl Mib {
    /// The MIB of the catalog and the agent's own objects (by type OID).
    pub fn new(
        source: Arc<dyn Source>,
        scalars: impl IntoIterator<Item = &'static Scalar>,
        tables: impl IntoIterator<Item = &'static Table>,
        own: Vec<(Vec<u32>, Own)>,
    ) -> Mib {
        let mut segments = Vec::new();
        let mut types = HashSet::new();
        for s in scalars {
            types.insert(s.oid.to_vec());
            segments.push(Segment::new(s.oid.to_vec(), Content::Scalar(s)));
        }
        let mut by_entry: BTreeMap<Vec<u32>, Vec<&'static Table>> = BTreeMap::new();
        for t in tables {
            for c in t.columns {
                let mut ty = t.entry.to_vec();
                ty.push(c.id);
                types.insert(ty);
            }
            by_entry.entry(t.entry.to_vec()).or_default().push(t);
        }
        for (entry, ts) in by_entry {
            segments.push(Segment::new(entry, Content::Tables(ts)));
        }
        for (ty, f) in own {
            types.insert(ty.clone());
            segments.push(Segment::new(ty, Content::Own(f)));
        }
        segments.sort_by(|a, b| a.prefix.cmp(&b.prefix));
        Mib {
            segments,
            types,
            source: Some(source),
            docs: Mutex::default(),
            keys: Mutex::default(),
            context: None,
        }
    }

    /// The same objects for the SNMP context `name`.
    pub fn in_context(mut self, name: &str) -> Mib {
        self.context = Some(name.to_string());
        self
    }

    /// The key values of the entries `list` selects (the context names).
    pub fn keys_of(&self, list: &str) -> Vec<String> {
        let Some(source) = &self.source else {
            return Vec::new();
        };
        let (doc, hits) = self.nodes(source.as_ref(), list);
        let Some(key) = hits.first().and_then(|h| {
            self.list_keys(source.config().0.ctx, &h.schema)
                .into_iter()
                .next()
        }) else {
            return Vec::new();
        };
        hits.iter()
            .filter_map(|h| resolve(&doc, &h.at)?.get(&key).and_then(scalar_text))
            .collect()
    }

    /// A MIB of fixed objects (tests, the fuzz target).
    pub fn fixed(objects: BTreeMap<Oid, Cell>, writable: HashMap<Oid, Writable>) -> Mib {
        let seg = Segment::new(Vec::new(), Content::Fixed);
        *seg.built.write() = Arc::new(Built {
            at: None,
            generation: 0.into(),
            version: 0,
            cost: Duration::ZERO,
            objects,
            writable,
        });
        Mib {
            segments: vec![seg],
            types: HashSet::new(),
            source: None,
            docs: Mutex::default(),
            keys: Mutex::default(),
            context: None,
        }
    }

    /// Every pair of segments is disjoint: no prefix lies inside another.
    pub fn check(&self) -> Result<(), String> {
        for w in self.segments.windows(2) {
            if prefix_of(&w[0].prefix, &w[1].prefix) {
                return Err(format!(
                    "MIB segments {:?} and {:?} overlap",
                    w[0].prefix, w[1].prefix
                ));
            }
        }
        Ok(())
    }

    /// A view for one request: each segment's data is looked up once.
    pub fn view(self: &Arc<Self>) -> View<'_> {
        View {
            mib: self,
            seen: Vec::new(),
        }
    }

    /// Whether `oid` names an instance of an object type we serve (so a miss
    /// is noSuchInstance rather than noSuchObject).
    pub fn is_instance_of_type(&self, oid: &Oid) -> bool {
        (1..oid.0.len()).any(|l| self.types.contains(&oid.0[..l]))
    }

    /// Forgets every built segment (after a commit that changed the agent).
    pub fn invalidate(&self) {
        for s in &self.segments {
            if !matches!(s.content, Content::Fixed) {
                *s.built.write() = Arc::new(Built::default());
            }
        }
        self.docs.lock().clear();
    }

    /// A segment's data. Stale data that was cheap to build is built again by
    /// the request; stale data that was dear is served while a background task
    /// builds it again (so a big table never holds up a request); a segment
    /// never built, or whose configuration changed, is built by the request
    /// that needs it.
    fn data(self: &Arc<Self>, i: usize) -> Arc<Built> {
        let seg = &self.segments[i];
        let Some(source) = &self.source else {
            return seg.built.read().clone();
        };
        let generation = source.generation();
        let current = seg.built.read().clone();
        if !current.current(seg, source.as_ref(), generation) {
            return self.build(i);
        }
        if current.young(seg) {
            return current;
        }
        // Cheap data is rebuilt at once: the answer is fresh.
        if current.cost < INLINE {
            return self.build(i);
        }
        if !seg.rebuilding.swap(true, Ordering::AcqRel) {
            let me = self.clone();
            let rebuild = move || {
                me.build(i);
                me.segments[i].rebuilding.store(false, Ordering::Release);
            };
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => {
                    rt.spawn_blocking(rebuild);
                }
                Err(_) => rebuild(),
            }
        }
        current
    }

    /// Builds segment `i` (once, however many ask at the same time).
    fn build(&self, i: usize) -> Arc<Built> {
        let seg = &self.segments[i];
        let Some(source) = &self.source else {
            return seg.built.read().clone();
        };
        let _guard = seg.building.lock();
        let generation = source.generation();
        let current = seg.built.read().clone();
        if current.current(seg, source.as_ref(), generation)
            && current.young(seg)
            && !seg.rebuilding.load(Ordering::Acquire)
        {
            return current;
        }
        let started = Instant::now();
        let mut b = Built {
            generation: generation.into(),
            version: seg.version(source.as_ref()),
            ..Default::default()
        };
        match &seg.content {
            Content::Scalar(s) => self.fill_scalar(source.as_ref(), &mut b, s),
            Content::Tables(ts) => {
                for t in ts {
                    self.fill_table(source.as_ref(), &mut b, t);
                }
            }
            Content::Own(f) => b.objects.extend(f()),
            Content::Fixed => {}
        }
        b.cost = started.elapsed();
        b.at = Some(Instant::now());
        let b = Arc::new(b);
        *seg.built.write() = b.clone();
        b
    }

    /// The configuration under top-level node `top` (`module:name`) with the
    /// state of every provider under it merged in.
    fn doc(&self, source: &dyn Source, top: &str) -> Arc<JsonValue> {
        let (config, _) = source.config();
        let version = source.version(top);
        if let Some((at, v, d)) = self.docs.lock().get(top)
            && *v == version
            && at.elapsed() < FRESH
        {
            return d.clone();
        }
        let mut doc = config
            .json
            .get(top)
            .cloned()
            .unwrap_or(JsonValue::Object(Default::default()));
        let prefix = format!("/{top}");
        for root in source.roots() {
            if root != prefix && !root.starts_with(&format!("{prefix}/")) {
                continue;
            }
            let entries = source.state(&root);
            let steps: Vec<&str> = root[prefix.len()..]
                .split('/')
                .filter(|s| !s.is_empty())
                .collect();
            let keys = self.list_keys(config.ctx, &root);
            merge_at(&mut doc, &steps, entries, &keys);
        }
        let doc = Arc::new(doc);
        self.docs
            .lock()
            .insert(top.to_string(), (Instant::now(), version, doc.clone()));
        doc
    }

    fn list_keys(&self, ctx: &yang5::context::Context, schema_path: &str) -> Vec<String> {
        if let Some(k) = self.keys.lock().get(schema_path) {
            return k.clone();
        }
        let k: Vec<String> = ctx
            .find_path(schema_path)
            .map(|s| s.list_keys().map(|k| k.name().to_string()).collect())
            .unwrap_or_default();
        self.keys.lock().insert(schema_path.to_string(), k.clone());
        k
    }

    /// The nodes a catalog path selects, with their data paths.
    fn nodes(&self, source: &dyn Source, path: &str) -> (Arc<JsonValue>, Vec<Hit>) {
        let Some(rest) = path.strip_prefix('/') else {
            return (Arc::new(JsonValue::Null), Vec::new());
        };
        let (top, rest) = match rest.split_once('/') {
            Some((t, r)) => (t, r),
            None => (rest, ""),
        };
        let (top_name, top_preds) = split_preds(top);
        let doc = self.doc(source, top_name);
        let ctx = source.config().0.ctx;
        let mut hits = vec![Hit {
            at: Vec::new(),
            path: format!("/{top_name}"),
            schema: format!("/{top_name}"),
            parent_entry: None,
        }];
        if !top_preds.is_empty() {
            return (doc, Vec::new());
        }
        for step in rest.split('/').filter(|s| !s.is_empty()) {
            let (name, preds) = split_preds(step);
            let mut next = Vec::new();
            for h in &hits {
                let Some(node) = resolve(&doc, &h.at) else {
                    continue;
                };
                let local = name.rsplit(':').next().unwrap_or(name);
                let (key, child) = match node.get(name) {
                    Some(c) => (name.to_string(), c),
                    None => match node.get(local) {
                        Some(c) => (local.to_string(), c),
                        None => continue,
                    },
                };
                let schema = format!("{}/{name}", h.schema);
                let shown = if name.contains(':') {
                    format!("{}/{name}", h.path)
                } else {
                    format!("{}/{local}", h.path)
                };
                let mut found: Vec<Hit> = match child {
                    JsonValue::Array(items) if items.iter().all(JsonValue::is_object) => {
                        let keys = self.list_keys(ctx, &schema);
                        items
                            .iter()
                            .enumerate()
                            .map(|(i, e)| {
                                let mut p = shown.clone();
                                for k in &keys {
                                    let v = e.get(k).and_then(scalar_text).unwrap_or_default();
                                    p.push_str(&format!("[{k}={}]", quote(&v)));
                                }
                                let mut at = h.at.clone();
                                at.push(Step::Member(key.clone()));
                                at.push(Step::Index(i));
                                Hit {
                                    parent_entry: enclosing(&h.at),
                                    at,
                                    path: p,
                                    schema: schema.clone(),
                                }
                            })
                            .collect()
                    }
                    _ => {
                        let mut at = h.at.clone();
                        at.push(Step::Member(key.clone()));
                        vec![Hit {
                            at,
                            path: shown,
                            schema: schema.clone(),
                            parent_entry: enclosing(&h.at),
                        }]
                    }
                };
                for p in &preds {
                    if *p == "$context" {
                        found = self.in_scope(&doc, ctx, &schema, found);
                        continue;
                    }
                    match p.parse::<usize>() {
                        Ok(n) => {
                            found = found
                                .into_iter()
                                .nth(n.saturating_sub(1))
                                .into_iter()
                                .collect()
                        }
                        Err(_) => found
                            .retain(|f| resolve(&doc, &f.at).is_some_and(|v| v.get(*p).is_some())),
                    }
                }
                next.extend(found);
            }
            hits = next;
        }
        (doc, hits)
    }

    /// The entry of this MIB's context among `found`: the one whose key is
    /// the context's name, or the first in the default context.
    fn in_scope(
        &self,
        doc: &JsonValue,
        ctx: &yang5::context::Context,
        schema: &str,
        found: Vec<Hit>,
    ) -> Vec<Hit> {
        let Some(name) = &self.context else {
            return found.into_iter().take(1).collect();
        };
        let Some(key) = self.list_keys(ctx, schema).into_iter().next() else {
            return Vec::new();
        };
        found
            .into_iter()
            .filter(|h| {
                resolve(doc, &h.at)
                    .and_then(|e| e.get(&key))
                    .and_then(scalar_text)
                    .is_some_and(|k| k == *name)
            })
            .collect()
    }

    fn fill_scalar(&self, source: &dyn Source, b: &mut Built, s: &Scalar) {
        let oid = Oid(s.oid.to_vec()).child(&[0]);
        let (doc, found) = self.nodes(source, s.path);
        let value = match s.conv {
            Conv::Count => Some(Value::Integer(found.len() as i32)),
            Conv::Const(_) | Conv::ConstOid(_) if s.path.is_empty() || !found.is_empty() => {
                to_snmp(s.conv, "")
            }
            Conv::Const(_) | Conv::ConstOid(_) => None,
            _ => found
                .first()
                .and_then(|h| resolve(&doc, &h.at))
                .and_then(scalar_text)
                .or(s.default.map(str::to_string))
                .or_else(|| s.fallback.map(|f| f()))
                .and_then(|v| to_snmp(s.conv, &v)),
        };
        if let Some(path) = s.write {
            b.writable.insert(
                oid.clone(),
                Writable {
                    path: path.into(),
                    conv: s.conv,
                },
            );
        }
        if let Some(v) = value {
            b.objects.insert(oid, Cell::Value(v));
        }
    }

    fn fill_table(&self, source: &dyn Source, b: &mut Built, table: &Table) {
        let (doc, rows) = self.nodes(source, table.list);
        for row in rows {
            let Some(node) = resolve(&doc, &row.at) else {
                continue;
            };
            let parent = row.parent_entry.as_ref().and_then(|p| resolve(&doc, p));
            let Some(index) = row_index(node, parent, table.index) else {
                continue;
            };
            if index.len() > 64 {
                continue;
            }
            for c in table.columns {
                let value = match c.conv {
                    Conv::Const(_) | Conv::ConstOid(_) | Conv::Action(_) => to_snmp(c.conv, ""),
                    Conv::Count => Some(Value::Gauge32(
                        leaf(node, c.leaf)
                            .and_then(|v| v.as_array())
                            .map_or(0, |a| a.len()) as u32,
                    )),
                    _ => leaf(node, c.leaf)
                        .and_then(scalar_text)
                        .or(c.default.map(str::to_string))
                        .and_then(|v| to_snmp(c.conv, &v)),
                };
                let Some(v) = value else { continue };
                let mut oid = Vec::with_capacity(table.entry.len() + 1 + index.len());
                oid.extend_from_slice(table.entry);
                oid.push(c.id);
                oid.extend_from_slice(&index);
                let oid = Oid(oid);
                if c.write {
                    let path = match c.conv {
                        Conv::Action(_) => row.path.clone(),
                        _ => format!("{}/{}", row.path, c.leaf),
                    };
                    b.writable
                        .insert(oid.clone(), Writable { path, conv: c.conv });
                }
                b.objects.insert(oid, Cell::Value(v));
            }
        }
    }
}

/// The SNMP contexts beyond the default, each a MIB of its own built when a
/// request first names it; a context is known while the entry it names is.
pub struct Contexts {
    /// The entries that are contexts, by key.
    list: &'static str,
    make: Box<dyn Fn(&str) -> Mib + Send + Sync>,
    mibs: Mutex<HashMap<String, Arc<Mib>>>,
}

impl Contexts {
    pub fn new(list: &'static str, make: Box<dyn Fn(&str) -> Mib + Send + Sync>) -> Contexts {
        Contexts {
            list,
            make,
            mibs: Mutex::default(),
        }
    }

    pub fn clear(&self) {
        self.mibs.lock().clear();
    }

    /// The MIB of context `name`, if `default` (the default context's MIB,
    /// whose data names the contexts) knows it.
    pub fn get(&self, default: &Mib, name: &str) -> Option<Arc<Mib>> {
        let names = default.keys_of(self.list);
        let mut mibs = self.mibs.lock();
        mibs.retain(|n, _| names.contains(n));
        if !names.iter().any(|n| n == name) {
            return None;
        }
        Some(
            mibs.entry(name.to_string())
                .or_insert_with(|| Arc::new((self.make)(name)))
                .clone(),
        )
    }
}

/// The MIB as one request sees it: each segment's data is fetched once (and
/// its reference count touched once: both cores walk the same segments).
pub struct View<'m> {
    mib: &'m Arc<Mib>,
    /// (segment index, its data), for the segments this request reached.
    seen: Vec<(usize, Arc<Built>)>,
}

impl View<'_> {
    fn data(&mut self, i: usize) -> &Built {
        let at = match self.seen.iter().position(|(j, _)| *j == i) {
            Some(at) => at,
            None => {
                let b = self.mib.data(i);
                self.seen.push((i, b));
                self.seen.len() - 1
            }
        };
        &self.seen[at].1
    }

    /// The segment holding `oid`.
    fn segment_of(&self, oid: &Oid) -> Option<usize> {
        let segs = &self.mib.segments;
        let i = segs.partition_point(|s| s.prefix.as_slice() <= oid.0.as_slice());
        let i = i.checked_sub(1)?;
        prefix_of(&segs[i].prefix, &oid.0).then_some(i)
    }

    pub fn get(&mut self, oid: &Oid) -> Option<Cell> {
        let i = self.segment_of(oid)?;
        self.data(i).objects.get(oid).cloned()
    }

    pub fn writable(&mut self, oid: &Oid) -> Option<Writable> {
        let i = self.segment_of(oid)?;
        self.data(i).writable.get(oid).cloned()
    }

    /// The first object after `oid` that `ok` accepts.
    pub fn next(
        &mut self,
        oid: &Oid,
        mut ok: impl FnMut(&Oid, &Cell) -> bool,
    ) -> Option<(Oid, Cell)> {
        let n = self.mib.segments.len();
        // Segments wholly before `oid` hold nothing after it.
        let start = self.mib.segments.partition_point(|s| {
            s.prefix.as_slice() < oid.0.as_slice() && !prefix_of(&s.prefix, &oid.0)
        });
        for i in start..n {
            let data = self.data(i);
            let found = data
                .objects
                .range((Bound::Excluded(oid.clone()), Bound::Unbounded))
                .find(|(o, c)| ok(o, c));
            if let Some((o, c)) = found {
                return Some((o.clone(), c.clone()));
            }
        }
        None
    }

    pub fn is_instance_of_type(&self, oid: &Oid) -> bool {
        self.mib.is_instance_of_type(oid)
    }
}

impl Segment {
    /// The configuration version of the top-level nodes the segment reads.
    fn version(&self, source: &dyn Source) -> u64 {
        let top = |path: &str| -> u64 {
            let t = path.trim_start_matches('/');
            let t = t.split(['/', '[']).next().unwrap_or("");
            source.version(t)
        };
        match &self.content {
            Content::Scalar(s) => top(s.path),
            Content::Tables(ts) => ts.iter().map(|t| top(t.list)).sum(),
            Content::Own(_) | Content::Fixed => 0,
        }
    }

    fn new(prefix: Vec<u32>, content: Content) -> Segment {
        Segment {
            prefix,
            content,
            built: RwLock::new(Arc::new(Built::default())),
            building: Mutex::new(()),
            rebuilding: Default::default(),
        }
    }
}

/// A step into a JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Member(String),
    Index(usize),
}

/// A node a path selected: where it is, its data path and schema path, and
/// the list entry enclosing it (for parent indexes).
struct Hit {
    at: Vec<Step>,
    path: String,
    schema: String,
    parent_entry: Option<Vec<Step>>,
}

fn resolve<'a>(doc: &'a JsonValue, at: &[Step]) -> Option<&'a JsonValue> {
    let mut cur = doc;
    for s in at {
        cur = match s {
            Step::Member(m) => cur.get(m.as_str())?,
            Step::Index(i) => cur.get(*i)?,
        };
    }
    Some(cur)
}

/// The innermost list entry at or above `at`.
fn enclosing(at: &[Step]) -> Option<Vec<Step>> {
    let i = at.iter().rposition(|s| matches!(s, Step::Index(_)))?;
    Some(at[..=i].to_vec())
}

/// `name[a][1]` as its name and predicates.
fn split_preds(step: &str) -> (&str, Vec<&str>) {
    match step.find('[') {
        None => (step, Vec::new()),
        Some(i) => (
            &step[..i],
            step[i..]
                .split(']')
                .filter_map(|p| p.strip_prefix('['))
                .collect(),
        ),
    }
}

/// The descendant at a relative path of leaves and containers.
fn leaf<'a>(node: &'a JsonValue, rel: &str) -> Option<&'a JsonValue> {
    let mut cur = node;
    for name in rel.split('/') {
        if name.is_empty() {
            return None;
        }
        let obj = cur.as_object()?;
        cur = obj.get(name).or_else(|| {
            obj.iter()
                .find(|(k, _)| k.rsplit(':').next() == Some(name))
                .map(|(_, v)| v)
        })?;
    }
    Some(cur)
}

/// Merges provider entries into the configuration at the root's steps: list
/// entries matched by their keys, objects merged member by member.
fn merge_at(doc: &mut JsonValue, steps: &[&str], entries: Vec<JsonValue>, keys: &[String]) {
    let Some((last, path)) = steps.split_last() else {
        for e in entries {
            merge(doc, e);
        }
        return;
    };
    let mut cur = doc;
    for s in path {
        let Some(obj) = cur.as_object_mut() else {
            return;
        };
        cur = obj
            .entry(s.to_string())
            .or_insert_with(|| JsonValue::Object(Default::default()));
    }
    let Some(obj) = cur.as_object_mut() else {
        return;
    };
    if keys.is_empty() {
        let slot = obj
            .entry(last.to_string())
            .or_insert_with(|| JsonValue::Object(Default::default()));
        for e in entries {
            merge(slot, e);
        }
        return;
    }
    let list = obj
        .entry(last.to_string())
        .or_insert_with(|| JsonValue::Array(Vec::new()));
    let Some(items) = list.as_array_mut() else {
        return;
    };
    let key_of = |e: &JsonValue| -> Vec<Option<String>> {
        keys.iter()
            .map(|k| e.get(k).and_then(scalar_text))
            .collect()
    };
    let mut at: HashMap<Vec<Option<String>>, usize> = items
        .iter()
        .enumerate()
        .map(|(i, e)| (key_of(e), i))
        .collect();
    for e in entries {
        let k = key_of(&e);
        match at.get(&k) {
            Some(&i) => merge(&mut items[i], e),
            None => {
                at.insert(k, items.len());
                items.push(e);
            }
        }
    }
}

fn merge(into: &mut JsonValue, from: JsonValue) {
    match (into, from) {
        (JsonValue::Object(a), JsonValue::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

fn int_of(node: &JsonValue, l: &str) -> Option<u32> {
    scalar_text(leaf(node, l)?)?.parse().ok()
}

fn str_index(out: &mut Vec<u32>, s: &str) {
    out.push(s.len() as u32);
    out.extend(s.bytes().map(u32::from));
}

fn row_index(node: &JsonValue, parent: Option<&JsonValue>, parts: &[Index]) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for p in parts {
        match *p {
            Index::Int(l) => out.push(int_of(node, l)?),
            Index::Str(l) => str_index(&mut out, &scalar_text(leaf(node, l)?)?),
            Index::ParentInt(l) => out.push(int_of(parent?, l)?),
            Index::ParentStr(l) => str_index(&mut out, &scalar_text(leaf(parent?, l)?)?),
            Index::Const(c) => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(to_snmp(Conv::Truth, "false"), Some(Value::Integer(2)));
        assert_eq!(
            to_snmp(Conv::Counter32, "4294967301"),
            Some(Value::Counter32(5))
        );
        assert_eq!(
            to_snmp(Conv::Div(1_000_000), "1000000000"),
            Some(Value::Gauge32(1000))
        );
        assert_eq!(to_snmp(Conv::Tenths, "229.6"), Some(Value::Gauge32(2296)));
        assert_eq!(
            to_snmp(Conv::IfType, "iana-if-type:ethernetCsmacd"),
            Some(Value::Integer(6))
        );
        assert_eq!(
            to_snmp(Conv::PhysAddr, "02:42:ac:11:00:02"),
            Some(Value::OctetString(vec![2, 0x42, 0xac, 0x11, 0, 2]))
        );
        assert_eq!(
            to_snmp(Conv::DateAndTime, "2026-11-25T10:20:30+01:00"),
            Some(Value::OctetString(vec![
                0x07, 0xea, 11, 25, 10, 20, 30, 0, b'+', 1, 0
            ]))
        );
        let e = Conv::Enum(&[("none", 1), ("even", 2)]);
        assert_eq!(to_snmp(e, "even"), Some(Value::Integer(2)));
        assert_eq!(to_yang(e, &Value::Integer(1)), Ok("none".into()));
        assert_eq!(to_yang(e, &Value::Integer(9)), Err(BadValue::WrongValue));
        assert_eq!(
            to_yang(Conv::Str, &Value::Integer(9)),
            Err(BadValue::WrongType)
        );
    }
}
