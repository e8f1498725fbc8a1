//! Live state, read lazily and off the datastore's thread. A provider answers for
//! the state under some roots of the model (a list such as
//! `/lifeline-ports:ports/port`, or a container) from its own tables; a read
//! names the root, optionally one entry by its keys or a resume point after some
//! keys, and a budget of entries. Entries are RFC 7951 JSON objects of the list
//! entry (keys included) holding only its state nodes.
use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use serde_json::Value;

use super::action::ActionHandler;

/// Which entries of a root a read wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Select {
    /// Every entry (in pages).
    #[default]
    All,
    /// Only the entries with these keys (in the list's key order).
    Keys(Vec<Vec<String>>),
}

#[derive(Debug, Clone)]
pub struct StateQuery {
    /// One of the provider's roots (a data path without keys).
    pub root: String,
    pub select: Select,
    /// Resume after the entry with these keys (paging `All`).
    pub after: Option<Vec<String>>,
    /// At most this many entries.
    pub limit: usize,
}

impl StateQuery {
    pub fn all(root: impl Into<String>) -> StateQuery {
        StateQuery {
            root: root.into(),
            select: Select::All,
            after: None,
            limit: usize::MAX,
        }
    }

    pub fn keys(root: impl Into<String>, keys: Vec<Vec<String>>) -> StateQuery {
        StateQuery {
            root: root.into(),
            select: Select::Keys(keys),
            after: None,
            limit: usize::MAX,
        }
    }

    /// Whether the entry with `key` (one key value) is wanted, for providers
    /// keyed by one leaf.
    pub fn wants(&self, key: &str) -> bool {
        match &self.select {
            Select::All => self
                .after
                .as_ref()
                .is_none_or(|a| key_cmp(&[key.to_string()], a).is_gt()),
            Select::Keys(keys) => keys.iter().any(|k| k.first().is_some_and(|k| k == key)),
        }
    }
}

/// A page of entries; `next` is where the following page starts, if any.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatePage {
    pub entries: Vec<Value>,
    pub next: Option<Vec<String>>,
}

impl StatePage {
    /// A page of entries from rows sorted by their keys, given as (keys,
    /// entry), honouring the query's selection, resume point and budget.
    pub fn from_sorted<I>(q: &StateQuery, rows: I) -> StatePage
    where
        I: IntoIterator<Item = (Vec<String>, Value)>,
    {
        let mut page = StatePage::default();
        let mut last: Option<Vec<String>> = None;
        for (keys, entry) in rows {
            let wanted = match &q.select {
                Select::All => q.after.as_ref().is_none_or(|a| key_cmp(&keys, a).is_gt()),
                Select::Keys(ks) => ks.contains(&keys),
            };
            if !wanted {
                continue;
            }
            if page.entries.len() == q.limit {
                page.next = last;
                break;
            }
            page.entries.push(entry);
            last = Some(keys);
        }
        page
    }
}

/// The order of list entries by their keys: integers numerically, anything
/// else as text. Providers list their entries in this order (a `BTreeMap` keyed
/// by the key's own type does), so reads can resume after a key.
pub fn key_cmp(a: &[String], b: &[String]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = match (x.parse::<i64>(), y.parse::<i64>()) {
            (Ok(i), Ok(j)) => i.cmp(&j),
            _ => x.cmp(y),
        };
        if o.is_ne() {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

/// A source of live state.
pub trait StateProvider: Send + Sync + 'static {
    /// The data paths (without keys) this provider answers for.
    fn roots(&self) -> Vec<&'static str>;

    /// The entries of one root that the query asks for.
    fn read(&self, q: &StateQuery) -> StatePage;
}

/// The providers and action handlers of every service, shared by the datastore
/// and the faces. Filled while the appliance is built, read afterwards.
#[derive(Default)]
pub struct Registry {
    providers: RwLock<Vec<(String, Arc<dyn StateProvider>)>>,
    actions: RwLock<HashMap<String, Arc<dyn ActionHandler>>>,
}

impl Registry {
    pub fn new() -> Arc<Registry> {
        Arc::new(Registry::default())
    }

    /// Adds a provider. Several may answer for one root (the ports' own state
    /// and the power state of their outlets): their entries are merged.
    pub fn provide(&self, p: Arc<dyn StateProvider>) {
        let mut all = self.providers.write();
        for root in p.roots() {
            all.push((root.to_string(), p.clone()));
        }
        all.sort_by(|a, b| a.0.cmp(&b.0));
    }

    /// Puts a provider in the place of every other for its roots (a test or
    /// benchmark standing in for the host).
    pub fn replace(&self, p: Arc<dyn StateProvider>) {
        {
            let mut all = self.providers.write();
            for root in p.roots() {
                all.retain(|(r, _)| r != root);
            }
        }
        self.provide(p);
    }

    /// Registers the handler of the action or RPC at `schema_path` (a data
    /// path without keys, such as `/lifeline-ports:ports/port/send-break`).
    pub fn handle(&self, schema_path: &str, h: Arc<dyn ActionHandler>) {
        self.actions.write().insert(schema_path.to_string(), h);
    }

    pub fn action(&self, schema_path: &str) -> Option<Arc<dyn ActionHandler>> {
        self.actions.read().get(schema_path).cloned()
    }

    /// Every (root, provider), sorted by root.
    pub fn roots(&self) -> Vec<(String, Arc<dyn StateProvider>)> {
        self.providers.read().clone()
    }

    /// The (first) provider of a root.
    pub fn provider(&self, root: &str) -> Option<Arc<dyn StateProvider>> {
        self.providers
            .read()
            .iter()
            .find(|(r, _)| r == root)
            .map(|(_, p)| p.clone())
    }

    /// Every entry of a root that the selection asks for, from every provider
    /// of it, page by page (one list entry may come from several).
    pub fn read_all(&self, root: &str, select: Select) -> Vec<Value> {
        let providers: Vec<_> = self
            .providers
            .read()
            .iter()
            .filter(|(r, _)| r == root)
            .map(|(_, p)| p.clone())
            .collect();
        providers
            .into_iter()
            .flat_map(|p| read_pages(&*p, root, select.clone()))
            .collect()
    }
}

/// Every entry of one provider's root, page by page.
pub fn read_pages(p: &dyn StateProvider, root: &str, select: Select) -> Vec<Value> {
    {
        let mut q = StateQuery {
            root: root.to_string(),
            select,
            after: None,
            limit: PAGE,
        };
        let mut out = Vec::new();
        loop {
            let page = p.read(&q);
            out.extend(page.entries);
            match page.next {
                Some(next) if out.len() < MAX_ENTRIES => q.after = Some(next),
                _ => return out,
            }
        }
    }
}

/// Entries asked of a provider at a time.
pub const PAGE: usize = 1024;
/// A read stops after this many entries of one root, whatever is left.
const MAX_ENTRIES: usize = 1 << 20;
