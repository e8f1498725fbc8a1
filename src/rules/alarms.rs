//! The alarm list of RFC 8632 (`ietf-alarms`), sans-IO: one alarm per
//! (resource, alarm type, qualifier), raised and cleared with a severity and
//! text, a bounded status-change history, operator states, shelving, purge
//! and compress. Every change that must be notified comes back as a
//! [`Notify`]; the service turns it into an `alarm-notification` event.
use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::config::{AlarmControl, NotifyMode, Shelf};

/// RFC 8632 severities, least severe first (`cleared` is not one of them).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "kebab-case")]
pub enum AlarmSeverity {
    Indeterminate,
    Warning,
    Minor,
    #[default]
    Major,
    Critical,
}

impl AlarmSeverity {
    pub const ALL: [AlarmSeverity; 5] = [
        AlarmSeverity::Indeterminate,
        AlarmSeverity::Warning,
        AlarmSeverity::Minor,
        AlarmSeverity::Major,
        AlarmSeverity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlarmSeverity::Indeterminate => "indeterminate",
            AlarmSeverity::Warning => "warning",
            AlarmSeverity::Minor => "minor",
            AlarmSeverity::Major => "major",
            AlarmSeverity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<AlarmSeverity> {
        AlarmSeverity::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The event severity an alarm change is reported with.
    pub fn event_severity(self) -> crate::events::Severity {
        use crate::events::Severity as S;
        match self {
            AlarmSeverity::Critical => S::Critical,
            AlarmSeverity::Major => S::Error,
            AlarmSeverity::Minor | AlarmSeverity::Warning => S::Warning,
            AlarmSeverity::Indeterminate => S::Notice,
        }
    }
}

/// The module our alarm types are identities of.
pub const MODULE: &str = "lifeline-auto-response";

/// An alarm's identity: resource, `module:identity` type, qualifier.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Key {
    pub resource: String,
    pub type_id: String,
    pub qualifier: String,
}

impl Key {
    /// A key with one of our alarm types (`uplink-down`).
    pub fn ours(resource: impl Into<String>, ty: &str, qualifier: impl Into<String>) -> Key {
        Key {
            resource: resource.into(),
            type_id: format!("{MODULE}:{ty}"),
            qualifier: qualifier.into(),
        }
    }

    fn list_keys(&self) -> Vec<String> {
        vec![
            self.resource.clone(),
            self.type_id.clone(),
            self.qualifier.clone(),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusChange {
    pub time: DateTime<Utc>,
    /// `None` is `cleared`.
    pub severity: Option<AlarmSeverity>,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OperatorState {
    None,
    Ack,
    Closed,
    Shelved,
    UnShelved,
}

impl OperatorState {
    pub fn as_str(self) -> &'static str {
        match self {
            OperatorState::None => "none",
            OperatorState::Ack => "ack",
            OperatorState::Closed => "closed",
            OperatorState::Shelved => "shelved",
            OperatorState::UnShelved => "un-shelved",
        }
    }

    pub fn parse(s: &str) -> Option<OperatorState> {
        [
            OperatorState::None,
            OperatorState::Ack,
            OperatorState::Closed,
            OperatorState::Shelved,
            OperatorState::UnShelved,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatorChange {
    pub time: DateTime<Utc>,
    pub operator: String,
    pub state: OperatorState,
    pub text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alarm {
    pub id: u32,
    pub time_created: DateTime<Utc>,
    pub is_cleared: bool,
    pub last_raised: DateTime<Utc>,
    pub last_changed: DateTime<Utc>,
    pub severity: AlarmSeverity,
    pub text: String,
    pub history: Vec<StatusChange>,
    pub operator: Vec<OperatorChange>,
    /// The shelf that holds it, if shelved.
    pub shelf: Option<String>,
}

impl Alarm {
    fn closed(&self) -> bool {
        self.operator
            .last()
            .is_some_and(|o| o.state == OperatorState::Closed)
    }
}

/// A state change to send as `alarm-notification`.
#[derive(Debug, Clone, PartialEq)]
pub struct Notify {
    pub key: Key,
    pub time: DateTime<Utc>,
    /// `None` is `cleared`.
    pub severity: Option<AlarmSeverity>,
    pub text: String,
}

impl Notify {
    /// The `alarm-notification` leaves, RFC 7951 JSON.
    pub fn fields(&self) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert("resource".into(), json!(self.key.resource));
        m.insert("alarm-type-id".into(), json!(self.key.type_id));
        m.insert("alarm-type-qualifier".into(), json!(self.key.qualifier));
        m.insert("time".into(), json!(stamp(&self.time)));
        m.insert(
            "perceived-severity".into(),
            json!(self.severity.map_or("cleared", AlarmSeverity::as_str)),
        );
        m.insert("alarm-text".into(), json!(self.text));
        m
    }
}

/// The alarm list and the shelved-alarm list, as persisted.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AlarmList {
    #[serde(with = "pairs")]
    alarms: BTreeMap<Key, Alarm>,
    next_id: u32,
    last_changed: Option<DateTime<Utc>>,
    shelved_changed: Option<DateTime<Utc>>,
    #[serde(skip)]
    control: AlarmControl,
}

/// The alarms as a list of (key, alarm) pairs: JSON keys must be strings.
mod pairs {
    use super::{Alarm, BTreeMap, Key};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(m: &BTreeMap<Key, Alarm>, s: S) -> Result<S::Ok, S::Error> {
        m.iter().collect::<Vec<_>>().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<Key, Alarm>, D::Error> {
        Ok(Vec::<(Key, Alarm)>::deserialize(d)?.into_iter().collect())
    }
}

/// Purge and compress criteria (the `filter-input` grouping).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Filter {
    #[serde(rename = "alarm-clearance-status")]
    pub clearance: Clearance,
    #[serde(rename = "older-than")]
    pub older_than: Option<OlderThan>,
    pub severity: Option<SeverityFilter>,
    #[serde(rename = "operator-state-filter")]
    pub operator: Option<OperatorFilter>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Clearance {
    #[default]
    Any,
    Cleared,
    NotCleared,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct OlderThan {
    seconds: Option<u16>,
    minutes: Option<u16>,
    hours: Option<u16>,
    days: Option<u16>,
    weeks: Option<u16>,
}

impl OlderThan {
    fn age(&self) -> Duration {
        let n = |v: Option<u16>, s: i64| v.map_or(0, |v| i64::from(v) * s);
        Duration::seconds(
            n(self.seconds, 1)
                + n(self.minutes, 60)
                + n(self.hours, 3600)
                + n(self.days, 86_400)
                + n(self.weeks, 604_800),
        )
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct SeverityFilter {
    below: Option<AlarmSeverity>,
    is: Option<AlarmSeverity>,
    above: Option<AlarmSeverity>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct OperatorFilter {
    state: Option<String>,
    user: Option<String>,
}

impl Filter {
    fn matches(&self, a: &Alarm, now: DateTime<Utc>) -> bool {
        let clear = match self.clearance {
            Clearance::Any => true,
            Clearance::Cleared => a.is_cleared,
            Clearance::NotCleared => !a.is_cleared,
        };
        let age = self
            .older_than
            .as_ref()
            .is_none_or(|o| a.last_changed <= now - o.age());
        let sev = self.severity.as_ref().is_none_or(|s| {
            s.below.is_none_or(|b| a.severity < b)
                && s.is.is_none_or(|b| a.severity == b)
                && s.above.is_none_or(|b| a.severity > b)
        });
        let op = self.operator.as_ref().is_none_or(|f| {
            let last = a.operator.last();
            f.state.as_ref().is_none_or(|s| {
                last.map_or(OperatorState::None, |o| o.state).as_str() == s.as_str()
            }) && f
                .user
                .as_ref()
                .is_none_or(|u| last.is_some_and(|o| &o.operator == u))
        });
        clear && age && sev && op
    }
}

/// RFC 3339 with microseconds, as the list's `time` keys are.
pub fn stamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// A time after `last` (list keys must differ; changes can share a microsecond).
fn after(last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DateTime<Utc> {
    match last {
        Some(l) if l >= now => l + Duration::microseconds(1),
        _ => now,
    }
}

impl AlarmList {
    pub fn set_control(&mut self, control: AlarmControl, now: DateTime<Utc>) {
        self.control = control;
        self.trim_all();
        self.reshelve(now);
    }

    pub fn len(&self) -> usize {
        self.alarms.values().filter(|a| a.shelf.is_none()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, key: &Key) -> Option<&Alarm> {
        self.alarms.get(key)
    }

    /// The raised alarms' keys.
    pub fn raised(&self) -> Vec<Key> {
        self.alarms
            .iter()
            .filter(|(_, a)| !a.is_cleared)
            .map(|(k, _)| k.clone())
            .collect()
    }

    pub fn active(&self, key: &Key) -> bool {
        self.alarms.get(key).is_some_and(|a| !a.is_cleared)
    }

    /// Raises the alarm, or changes its severity or text; `None` when nothing
    /// changed.
    pub fn raise(
        &mut self,
        key: &Key,
        severity: AlarmSeverity,
        text: &str,
        now: DateTime<Utc>,
    ) -> Option<Notify> {
        let shelf = self.shelf_for(key);
        let id = &mut self.next_id;
        let a = self.alarms.entry(key.clone()).or_insert_with(|| {
            *id = id.wrapping_add(1).max(1);
            Alarm {
                id: *id,
                time_created: now,
                is_cleared: true,
                last_raised: now,
                last_changed: now,
                severity,
                text: String::new(),
                history: Vec::new(),
                operator: Vec::new(),
                shelf: shelf.clone(),
            }
        });
        if !a.is_cleared && a.severity == severity && a.text == text {
            return None;
        }
        let raised = a.is_cleared;
        let time = after(a.history.last().map(|h| h.time), now);
        a.is_cleared = false;
        if raised {
            a.last_raised = time;
        }
        let prev = a.severity;
        a.severity = severity;
        a.text = text.to_string();
        a.last_changed = time;
        a.history.push(StatusChange {
            time,
            severity: Some(severity),
            text: text.to_string(),
        });
        let shelved = a.shelf.is_some();
        self.trim(key);
        self.touch(shelved, time);
        let notify = !shelved
            && match self.control.notify {
                NotifyMode::AllStateChanges => true,
                NotifyMode::RaiseAndClear => raised,
                // A raise at or above the level, or a change that crosses it
                // or stays above it.
                NotifyMode::SeverityLevel(level) => severity >= level || !raised && prev >= level,
            };
        notify.then(|| Notify {
            key: key.clone(),
            time,
            severity: Some(severity),
            text: text.to_string(),
        })
    }

    /// Clears the alarm if it is raised.
    pub fn clear(&mut self, key: &Key, text: &str, now: DateTime<Utc>) -> Option<Notify> {
        let a = self.alarms.get_mut(key).filter(|a| !a.is_cleared)?;
        let time = after(a.history.last().map(|h| h.time), now);
        a.is_cleared = true;
        a.last_changed = time;
        if !text.is_empty() {
            a.text = text.to_string();
        }
        a.history.push(StatusChange {
            time,
            severity: None,
            text: a.text.clone(),
        });
        let text = a.text.clone();
        let shelved = a.shelf.is_some();
        self.trim(key);
        self.touch(shelved, time);
        (!shelved).then(|| Notify {
            key: key.clone(),
            time,
            severity: None,
            text,
        })
    }

    /// `set-operator-state` on an alarm of the (unshelved) list.
    pub fn set_operator_state(
        &mut self,
        key: &Key,
        state: OperatorState,
        text: Option<String>,
        operator: &str,
        now: DateTime<Utc>,
    ) -> Option<OperatorChange> {
        let a = self.alarms.get_mut(key).filter(|a| a.shelf.is_none())?;
        let time = after(a.operator.last().map(|o| o.time), now);
        let change = OperatorChange {
            time,
            operator: operator.to_string(),
            state,
            text,
        };
        a.operator.push(change.clone());
        // Bounded as the status changes are (the newest kept).
        let max = usize::from(self.control.max_status_changes.unwrap_or(u16::MAX).max(1));
        if a.operator.len() > max {
            a.operator.drain(..a.operator.len() - max);
        }
        a.last_changed = time;
        self.touch(false, time);
        Some(change)
    }

    /// `purge-alarms` (or `purge-shelved-alarms`): removes the matching
    /// alarms; returns how many.
    pub fn purge(&mut self, f: &Filter, shelved: bool, now: DateTime<Utc>) -> u32 {
        let before = self.alarms.len();
        self.alarms
            .retain(|_, a| a.shelf.is_some() != shelved || !f.matches(a, now));
        let n = (before - self.alarms.len()) as u32;
        if n > 0 {
            self.touch(shelved, now);
        }
        n
    }

    /// `compress-alarms`: keeps only the latest status change of each
    /// matching alarm; returns how many alarms were compressed.
    pub fn compress(
        &mut self,
        resource: Option<&str>,
        type_id: Option<&str>,
        qualifier: Option<&str>,
        shelved: bool,
    ) -> u32 {
        let mut n = 0;
        for (k, a) in &mut self.alarms {
            let hit = a.shelf.is_some() == shelved
                && resource.is_none_or(|r| resource_matches(r, &k.resource))
                && type_id.is_none_or(|t| same_identity(t, &k.type_id))
                && qualifier.is_none_or(|q| q == k.qualifier);
            if hit && a.history.len() > 1 {
                a.history.drain(..a.history.len() - 1);
                n += 1;
            }
        }
        n
    }

    fn touch(&mut self, shelved: bool, t: DateTime<Utc>) {
        if shelved {
            self.shelved_changed = Some(t);
        } else {
            self.last_changed = Some(t);
        }
    }

    fn trim(&mut self, key: &Key) {
        if let (Some(max), Some(a)) = (self.control.max_status_changes, self.alarms.get_mut(key)) {
            let max = max.max(1) as usize;
            if a.history.len() > max {
                a.history.drain(..a.history.len() - max);
            }
        }
    }

    fn trim_all(&mut self) {
        let keys: Vec<Key> = self.alarms.keys().cloned().collect();
        for k in keys {
            self.trim(&k);
        }
    }

    fn shelf_for(&self, key: &Key) -> Option<String> {
        self.control
            .shelves
            .iter()
            .find(|s| shelf_matches(s, key))
            .map(|s| s.name.clone())
    }

    /// Moves alarms in and out of the shelved list after the shelves changed.
    fn reshelve(&mut self, now: DateTime<Utc>) {
        let mut changed = (false, false);
        let moves: Vec<(Key, Option<String>)> = self
            .alarms
            .iter()
            .filter_map(|(k, a)| {
                let s = self.shelf_for(k);
                (s != a.shelf).then_some((k.clone(), s))
            })
            .collect();
        for (k, s) in moves {
            let Some(a) = self.alarms.get_mut(&k) else {
                continue;
            };
            let state = if s.is_some() {
                OperatorState::Shelved
            } else {
                OperatorState::UnShelved
            };
            let time = after(a.operator.last().map(|o| o.time), now);
            a.operator.push(OperatorChange {
                time,
                operator: "system".into(),
                state,
                text: None,
            });
            a.shelf = s;
            changed = (true, true);
        }
        if changed.0 {
            self.touch(false, now);
            self.touch(true, now);
        }
    }

    /// Every alarm of one list, in key order, as `(keys, entry)` rows.
    pub fn rows(&self, shelved: bool) -> Vec<(Vec<String>, Value)> {
        self.alarms
            .iter()
            .filter(|(_, a)| a.shelf.is_some() == shelved)
            .map(|(k, a)| (k.list_keys(), entry(k, a, shelved)))
            .collect()
    }

    pub fn alarm_list_json(&self) -> Value {
        let mut v = json!({ "number-of-alarms": self.len() });
        if let Some(t) = &self.last_changed {
            v["last-changed"] = json!(stamp(t));
        }
        v
    }

    pub fn shelved_json(&self) -> Value {
        let n = self.alarms.values().filter(|a| a.shelf.is_some()).count();
        let mut v = json!({ "number-of-shelved-alarms": n });
        if let Some(t) = &self.shelved_changed {
            v["shelved-alarms-last-changed"] = json!(stamp(t));
        }
        v
    }

    /// `/alarms/summary`: counts per severity, shelved alarms left out.
    pub fn summary_json(&self) -> Value {
        let mut rows = Vec::new();
        for sev in AlarmSeverity::ALL {
            let of: Vec<&Alarm> = self
                .alarms
                .values()
                .filter(|a| a.shelf.is_none() && a.severity == sev)
                .collect();
            if of.is_empty() {
                continue;
            }
            let count = |f: &dyn Fn(&Alarm) -> bool| of.iter().filter(|a| f(a)).count();
            rows.push(json!({
                "severity": sev.as_str(),
                "total": of.len(),
                "not-cleared": count(&|a| !a.is_cleared),
                "cleared": count(&|a| a.is_cleared),
                "cleared-not-closed": count(&|a| a.is_cleared && !a.closed()),
                "cleared-closed": count(&|a| a.is_cleared && a.closed()),
                "not-cleared-closed": count(&|a| !a.is_cleared && a.closed()),
                "not-cleared-not-closed": count(&|a| !a.is_cleared && !a.closed()),
            }));
        }
        let mut v = json!({ "alarm-summary": rows });
        if self.alarms.values().any(|a| a.shelf.is_some()) {
            v["shelves-active"] = json!([null]);
        }
        v
    }
}

fn entry(k: &Key, a: &Alarm, shelved: bool) -> Value {
    let history: Vec<Value> = a
        .history
        .iter()
        .map(|h| {
            json!({
                "time": stamp(&h.time),
                "perceived-severity": h.severity.map_or("cleared", AlarmSeverity::as_str),
                "alarm-text": h.text,
            })
        })
        .collect();
    let ops: Vec<Value> = a
        .operator
        .iter()
        .map(|o| {
            let mut v = json!({
                "time": stamp(&o.time),
                "operator": o.operator,
                "state": o.state.as_str(),
            });
            if let Some(t) = &o.text {
                v["text"] = json!(t);
            }
            v
        })
        .collect();
    let mut v = json!({
        "resource": k.resource,
        "alarm-type-id": k.type_id,
        "alarm-type-qualifier": k.qualifier,
        "is-cleared": a.is_cleared,
        "last-raised": stamp(&a.last_raised),
        "last-changed": stamp(&a.last_changed),
        "perceived-severity": a.severity.as_str(),
        "alarm-text": a.text,
        "status-change": history,
    });
    if !ops.is_empty() {
        v["operator-state-change"] = json!(ops);
    }
    if shelved {
        if let Some(s) = &a.shelf {
            v["shelf-name"] = json!(s);
        }
    } else {
        // Only the alarm list has these (RFC 8632's shelved-alarm does not).
        v["time-created"] = json!(stamp(&a.time_created));
        v[format!("{MODULE}:alarm-id")] = json!(a.id);
    }
    v
}

/// Whether identity `want` is `have` or a base of it: our types all derive
/// from `lifeline-alarm`, which derives from `ietf-alarms:alarm-type-id`.
fn same_identity(want: &str, have: &str) -> bool {
    let local = |s: &str| s.rsplit(':').next().unwrap_or(s).to_string();
    want == have
        || local(want) == local(have)
        || local(want) == "alarm-type-id"
        || (local(want) == "lifeline-alarm" && have.starts_with(MODULE))
}

/// `resource-match`: the resource itself, or a node set given as a path
/// without predicates that the resource is an instance of (a list path
/// matches all its entries), or an object-identifier prefix.
fn resource_matches(pattern: &str, resource: &str) -> bool {
    if pattern == resource {
        return true;
    }
    if pattern.starts_with('/') {
        let bare: String = {
            let mut out = String::new();
            let mut depth = 0;
            for c in resource.chars() {
                match c {
                    '[' => depth += 1,
                    ']' => depth -= 1,
                    c if depth == 0 => out.push(c),
                    _ => {}
                }
            }
            out
        };
        return bare == pattern
            || bare.starts_with(pattern) && bare[pattern.len()..].starts_with('/');
    }
    pattern.chars().all(|c| c.is_ascii_digit() || c == '.')
        && resource.starts_with(pattern)
        && resource[pattern.len()..].starts_with('.')
}

fn shelf_matches(s: &Shelf, k: &Key) -> bool {
    let res = s.resource.is_empty() || s.resource.iter().any(|r| resource_matches(r, &k.resource));
    let ty = s.alarm_type.is_empty()
        || s.alarm_type.iter().any(|t| {
            same_identity(&t.alarm_type_id, &k.type_id) && t.qualifier_match.is_match(&k.qualifier)
        });
    res && ty
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::config::ShelfType;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn key() -> Key {
        Key::ours(
            "/lifeline-ports:ports/port[name='p3']",
            "port-device-missing",
            "",
        )
    }

    #[test]
    fn raise_change_clear_with_bounded_history() {
        let mut l = AlarmList::default();
        l.set_control(
            AlarmControl {
                max_status_changes: Some(3),
                ..Default::default()
            },
            t(0),
        );
        let n = l.raise(&key(), AlarmSeverity::Major, "gone", t(1)).unwrap();
        assert_eq!(n.severity, Some(AlarmSeverity::Major));
        assert!(
            l.raise(&key(), AlarmSeverity::Major, "gone", t(2))
                .is_none()
        );
        assert!(
            l.raise(&key(), AlarmSeverity::Critical, "gone", t(3))
                .is_some()
        );
        assert!(l.clear(&key(), "back", t(4)).is_some());
        assert!(l.clear(&key(), "back", t(5)).is_none());
        l.raise(&key(), AlarmSeverity::Minor, "gone again", t(6));
        let a = l.get(&key()).unwrap();
        assert_eq!(a.history.len(), 3);
        assert_eq!(a.history[0].severity, Some(AlarmSeverity::Critical));
        assert_eq!(a.last_raised, t(6));
        assert_eq!(a.time_created, t(1));
        assert!(!a.is_cleared);
    }

    #[test]
    fn notify_modes_follow_rfc_8632() {
        let mut l = AlarmList::default();
        l.set_control(
            AlarmControl {
                notify: NotifyMode::SeverityLevel(AlarmSeverity::Major),
                ..Default::default()
            },
            t(0),
        );
        // The RFC's example: major, minor, warning, minor, major, critical,
        // major, clear -> T1, T2, T5, T6, T7 and T8.
        use AlarmSeverity::*;
        let seq = [Major, Minor, Warning, Minor, Major, Critical, Major];
        let sent: Vec<bool> = seq
            .iter()
            .enumerate()
            .map(|(i, s)| l.raise(&key(), *s, "x", t(i as i64 + 1)).is_some())
            .collect();
        assert_eq!(sent, [true, true, false, false, true, true, true]);
        assert!(l.clear(&key(), "", t(9)).is_some());
    }

    #[test]
    fn operator_state_purge_and_summary() {
        let mut l = AlarmList::default();
        l.raise(&key(), AlarmSeverity::Major, "gone", t(1));
        let k2 = Key::ours(
            "/lifeline-uplinks:uplinks/uplink[name='wan']",
            "uplink-down",
            "",
        );
        l.raise(&k2, AlarmSeverity::Major, "down", t(1));
        l.clear(&k2, "up", t(2));
        assert!(
            l.set_operator_state(&k2, OperatorState::Closed, None, "admin", t(3))
                .is_some()
        );
        let s = l.summary_json();
        assert_eq!(s["alarm-summary"][0]["total"], 2);
        assert_eq!(s["alarm-summary"][0]["cleared-closed"], 1);
        assert_eq!(s["alarm-summary"][0]["not-cleared-not-closed"], 1);
        let f = Filter {
            clearance: Clearance::Cleared,
            ..Default::default()
        };
        assert_eq!(l.purge(&f, false, t(4)), 1);
        assert_eq!(l.len(), 1);
        let old = Filter {
            older_than: Some(OlderThan {
                seconds: Some(10),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(l.purge(&old, false, t(5)), 0);
        assert_eq!(l.purge(&old, false, t(20)), 1);
    }

    #[test]
    fn shelves_hide_alarms_and_give_them_back() {
        let mut l = AlarmList::default();
        l.raise(&key(), AlarmSeverity::Major, "gone", t(1));
        let shelf = Shelf {
            name: "ports".into(),
            resource: vec!["/lifeline-ports:ports/port".into()],
            alarm_type: vec![ShelfType {
                alarm_type_id: "lifeline-auto-response:lifeline-alarm".into(),
                qualifier_match: regex::Regex::new("^.*$").unwrap(),
            }],
        };
        l.set_control(
            AlarmControl {
                shelves: vec![shelf],
                ..Default::default()
            },
            t(2),
        );
        assert_eq!(l.len(), 0);
        assert_eq!(l.rows(true).len(), 1);
        assert!(
            l.clear(&key(), "back", t(3)).is_none(),
            "shelved: no notification"
        );
        l.set_control(AlarmControl::default(), t(4));
        assert_eq!(l.len(), 1);
        let a = l.get(&key()).unwrap();
        let states: Vec<_> = a.operator.iter().map(|o| o.state).collect();
        assert_eq!(states, [OperatorState::Shelved, OperatorState::UnShelved]);
        assert!(a.is_cleared, "state kept while shelved");
    }

    #[test]
    fn the_list_survives_a_round_trip_through_json() {
        let mut l = AlarmList::default();
        l.raise(&key(), AlarmSeverity::Major, "gone", t(1));
        l.set_operator_state(
            &key(),
            OperatorState::Ack,
            Some("on it".into()),
            "ops",
            t(2),
        );
        let back: AlarmList = serde_json::from_slice(&serde_json::to_vec(&l).unwrap()).unwrap();
        assert_eq!(back.get(&key()), l.get(&key()));
        assert_eq!(back.rows(false), l.rows(false));
    }

    #[test]
    fn resource_match_forms() {
        let r = "/lifeline-ports:ports/port[name='p3']";
        assert!(resource_matches(r, r));
        assert!(resource_matches("/lifeline-ports:ports/port", r));
        assert!(resource_matches("/lifeline-ports:ports", r));
        assert!(!resource_matches("/lifeline-ports:por", r));
        assert!(resource_matches("1.3.6.1.2", "1.3.6.1.2.1.1"));
        assert!(!resource_matches("1.3.6.1.2", "1.3.6.1.21"));
    }
}
