//! The View-based Access Control Model (RFC 3415): which views a security name
//! at a security level may read, write and be notified of.
use std::collections::HashMap;

use super::security::{Level, Model};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    /// Members: security name and the security models it belongs with.
    pub members: Vec<(String, Vec<Model>)>,
    pub access: Vec<Access>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub context: String,
    pub prefix: bool,
    /// `None` is "any".
    pub model: Option<Model>,
    pub level: Level,
    pub read: Option<String>,
    pub write: Option<String>,
    pub notify: Option<String>,
}

/// A view: families of subtrees (with `*` wildcards), included or excluded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    /// Sorted most specific first: longest, then lexicographically greatest.
    families: Vec<(Vec<Option<u32>>, bool)>,
}

fn pattern(s: &str) -> Option<Vec<Option<u32>>> {
    let s = s.trim().trim_start_matches('.');
    if s.is_empty() {
        return Some(Vec::new());
    }
    s.split('.')
        .map(|p| match p {
            "*" => Some(None),
            n => n.parse::<u32>().ok().map(Some),
        })
        .collect()
}

impl View {
    /// Builds a view; an entry that is not an OID is returned as the error.
    pub fn new(include: &[String], exclude: &[String]) -> Result<View, String> {
        let mut families = Vec::new();
        for (list, inc) in [(include, true), (exclude, false)] {
            for s in list {
                families.push((pattern(s).ok_or_else(|| s.clone())?, inc));
            }
        }
        families.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(b.0.cmp(&a.0)));
        Ok(View { families })
    }

    pub fn contains(&self, oid: &[u32]) -> bool {
        for (p, inc) in &self.families {
            if oid.len() >= p.len() && p.iter().zip(oid).all(|(a, b)| a.is_none_or(|a| a == *b)) {
                return *inc;
            }
        }
        false
    }
}

#[derive(Debug, Clone, Default)]
pub struct Vacm {
    pub groups: Vec<Group>,
    pub views: HashMap<String, View>,
}

/// Why access was refused (RFC 3415 3.2), for error-status and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    NoGroupName,
    NoAccessEntry,
    NoSuchView,
}

/// The views that apply to one request.
#[derive(Debug, Clone, Copy)]
pub struct Views<'a> {
    pub read: Option<&'a View>,
    pub write: Option<&'a View>,
    pub notify: Option<&'a View>,
}

impl Vacm {
    pub fn resolve(
        &self,
        model: Model,
        name: &str,
        level: Level,
        context: &str,
    ) -> Result<Views<'_>, Denied> {
        let group = self
            .groups
            .iter()
            .find(|g| {
                g.members
                    .iter()
                    .any(|(n, models)| n == name && models.contains(&model))
            })
            .ok_or(Denied::NoGroupName)?;
        let best = group
            .access
            .iter()
            .filter(|a| a.model.is_none_or(|m| m == model) && a.level <= level)
            .filter(|a| {
                if a.prefix {
                    context.starts_with(&a.context)
                } else {
                    a.context == context
                }
            })
            .max_by_key(|a| (a.model.is_some(), !a.prefix, a.context.len(), a.level))
            .ok_or(Denied::NoAccessEntry)?;
        let view = |v: &Option<String>| v.as_ref().and_then(|v| self.views.get(v));
        Ok(Views {
            read: view(&best.read),
            write: view(&best.write),
            notify: view(&best.notify),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::northbound::snmp::security::{MODEL_USM, MODEL_V2C};

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn the_most_specific_family_decides() {
        let v = View::new(
            &s(&["1.3.6.1", "1.3.6.1.2.1.2.2.1.*.5"]),
            &s(&["1.3.6.1.2.1.2"]),
        )
        .unwrap();
        assert!(v.contains(&[1, 3, 6, 1, 2, 1, 1, 5, 0]));
        assert!(!v.contains(&[1, 3, 6, 1, 2, 1, 2, 1, 0]));
        assert!(v.contains(&[1, 3, 6, 1, 2, 1, 2, 2, 1, 10, 5]));
        assert!(!v.contains(&[1, 3, 6, 1, 2, 1, 2, 2, 1, 10, 6]));
        assert!(!v.contains(&[1, 3, 6, 2]));
        assert!(View::new(&s(&["1.3.x"]), &[]).is_err());
    }

    #[test]
    fn access_prefers_specific_models_and_levels() {
        let mut vacm = Vacm::default();
        vacm.views
            .insert("all".into(), View::new(&s(&["1"]), &[]).unwrap());
        vacm.views.insert(
            "sys".into(),
            View::new(&s(&["1.3.6.1.2.1.1"]), &[]).unwrap(),
        );
        let acc = |model, level, read: &str| Access {
            context: String::new(),
            prefix: false,
            model,
            level,
            read: Some(read.into()),
            write: None,
            notify: None,
        };
        vacm.groups.push(Group {
            name: "g".into(),
            members: vec![
                ("admin".into(), vec![MODEL_USM]),
                ("public".into(), vec![MODEL_V2C]),
            ],
            access: vec![
                acc(None, Level::NoAuthNoPriv, "sys"),
                acc(Some(MODEL_USM), Level::AuthPriv, "all"),
            ],
        });
        let r = |m, n, l| vacm.resolve(m, n, l, "").map(|v| v.read.unwrap().clone());
        assert_eq!(
            r(MODEL_USM, "admin", Level::AuthPriv).unwrap(),
            vacm.views["all"]
        );
        assert_eq!(
            r(MODEL_USM, "admin", Level::AuthNoPriv).unwrap(),
            vacm.views["sys"]
        );
        assert_eq!(
            r(MODEL_V2C, "public", Level::NoAuthNoPriv).unwrap(),
            vacm.views["sys"]
        );
        assert_eq!(
            r(MODEL_V2C, "admin", Level::NoAuthNoPriv).unwrap_err(),
            Denied::NoGroupName
        );
        // Whether a context exists is the agent's to say; VACM only matches it.
        assert_eq!(
            vacm.resolve(MODEL_USM, "admin", Level::AuthPriv, "other")
                .unwrap_err(),
            Denied::NoAccessEntry
        );
    }
}
