//! The generic table engine: every MIB object is declared as data (a scalar or a
//! table column mapped onto a node of the model), and a snapshot of the
//! operational datastore is turned into one ordered map of OIDs. GET is a map
//! lookup, GETNEXT a range query, so walks cross tables and MIBs in
//! lexicographic order by construction.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;

use yang5::data::{Data, DataNodeRef};
use yang5::iter::NodeIterable;

use super::ber::{Oid, Value};
use crate::datastore::tree::{self, Tree};

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
}

/// A value the agent fills in when it answers, not when the snapshot is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Live {
    /// sysUpTime: hundredths of a second since the agent started.
    SysUpTime,
    /// snmpEngineTime.
    EngineTime,
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

/// The MIB as of one moment.
#[derive(Default)]
pub struct Snapshot {
    pub objects: BTreeMap<Oid, Cell>,
    pub writable: HashMap<Oid, Writable>,
    /// The OIDs of the object types served (scalars and columns, without
    /// instance), present even when a table is empty.
    pub types: HashSet<Vec<u32>>,
}

impl Snapshot {
    pub fn get(&self, oid: &Oid) -> Option<&Cell> {
        self.objects.get(oid)
    }

    /// The first object after `oid`.
    pub fn next_after<'a>(&'a self, oid: &Oid) -> impl Iterator<Item = (&'a Oid, &'a Cell)> {
        self.objects
            .range((Bound::Excluded(oid.clone()), Bound::Unbounded))
    }

    /// Whether `oid` names an instance of an object type we serve (so a miss
    /// is noSuchInstance rather than noSuchObject).
    pub fn is_instance_of_type(&self, oid: &Oid) -> bool {
        (1..oid.0.len()).any(|l| self.types.contains(&oid.0[..l]))
    }

    pub fn insert(&mut self, oid: Oid, cell: Cell) {
        self.objects.insert(oid, cell);
    }

    pub fn add_type(&mut self, oid: &[u32]) {
        self.types.insert(oid.to_vec());
    }
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

fn int_of(node: &DataNodeRef<'_>, leaf: &str) -> Option<u32> {
    tree::leaf(node, leaf)?.parse().ok()
}

fn str_index(out: &mut Vec<u32>, s: &str) {
    out.push(s.len() as u32);
    out.extend(s.bytes().map(u32::from));
}

/// The nearest enclosing list entry of a node.
fn parent_entry<'a>(node: &DataNodeRef<'a>) -> Option<DataNodeRef<'a>> {
    let mut cur = node.parent()?;
    loop {
        if cur.schema().kind() == yang5::schema::SchemaNodeKind::List {
            return Some(cur);
        }
        cur = cur.parent()?;
    }
}

fn row_index(node: &DataNodeRef<'_>, parts: &[Index]) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for p in parts {
        match *p {
            Index::Int(l) => out.push(int_of(node, l)?),
            Index::Str(l) => str_index(&mut out, &tree::leaf(node, l)?),
            Index::ParentInt(l) => out.push(int_of(&parent_entry(node)?, l)?),
            Index::ParentStr(l) => str_index(&mut out, &tree::leaf(&parent_entry(node)?, l)?),
            Index::Const(c) => out.push(c),
        }
    }
    Some(out)
}

fn nodes<'a>(t: &'a Tree, xpath: &str) -> Vec<DataNodeRef<'a>> {
    t.find_xpath(xpath).map(|s| s.collect()).unwrap_or_default()
}

/// Adds the declared scalars and tables, as the operational tree `t` has them.
pub fn fill(snap: &mut Snapshot, t: &Tree, scalars: &[Scalar], tables: &[Table]) {
    for s in scalars {
        snap.add_type(s.oid);
        let oid = Oid(s.oid.to_vec()).child(&[0]);
        let found = nodes(t, s.path);
        let value = match s.conv {
            Conv::Count => Some(Value::Integer(found.len() as i32)),
            Conv::Const(_) | Conv::ConstOid(_) if s.path.is_empty() || !found.is_empty() => {
                to_snmp(s.conv, "")
            }
            Conv::Const(_) | Conv::ConstOid(_) => None,
            _ => found
                .first()
                .and_then(|n| n.value_canonical())
                .or(s.default.map(str::to_string))
                .and_then(|v| to_snmp(s.conv, &v)),
        };
        if let Some(path) = s.write {
            snap.writable.insert(
                oid.clone(),
                Writable {
                    path: path.into(),
                    conv: s.conv,
                },
            );
        }
        if let Some(v) = value {
            snap.insert(oid, Cell::Value(v));
        }
    }
    for table in tables {
        for c in table.columns {
            let mut ty = table.entry.to_vec();
            ty.push(c.id);
            snap.add_type(&ty);
        }
        for node in nodes(t, table.list) {
            let Some(index) = row_index(&node, table.index) else {
                continue;
            };
            if index.len() > 64 {
                continue;
            }
            let base = tree::path(&node);
            for c in table.columns {
                let value = match c.conv {
                    Conv::Const(_) | Conv::ConstOid(_) | Conv::Action(_) => to_snmp(c.conv, ""),
                    Conv::Count => Some(Value::Gauge32(
                        node.find_xpath(c.leaf).map(|s| s.count()).unwrap_or(0) as u32,
                    )),
                    _ => tree::leaf(&node, c.leaf)
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
                        Conv::Action(_) => base.clone(),
                        _ => format!("{base}/{}", c.leaf),
                    };
                    snap.writable
                        .insert(oid.clone(), Writable { path, conv: c.conv });
                }
                snap.insert(oid, Cell::Value(v));
            }
        }
    }
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
