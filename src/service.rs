//! The API every service (ports, power, uplinks, rules, the SNMP agent's config)
//! plugs into. A service owns a subtree of the model: at commit it gets the whole
//! old and new configuration and the changes under its prefixes, and either
//! returns a prepared change (applied if every service agreed, dropped otherwise)
//! or refuses, which fails the commit everywhere.
use std::future::Future;
use std::pin::Pin;

use crate::datastore::tree::Tree;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOp {
    Create,
    Delete,
    Replace,
}

/// One changed node: its data path and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub op: ChangeOp,
    pub path: String,
}

/// What a service sees at prepare time.
pub struct CommitView<'a> {
    pub old: &'a Tree,
    pub new: &'a Tree,
    /// The changes under this service's prefixes, deletes first.
    pub changes: &'a [Change],
}

/// A change a service has checked and is ready to make. Dropping it is the abort.
pub trait Prepared: Send {
    fn apply(self: Box<Self>);
}

/// A service's refusal, shown to the operator.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub message: String,
    pub path: Option<String>,
}

/// A request for live state: a node of the service's subtree (a list or a
/// container, by data path without keys), optionally resuming after the entry with
/// these keys, and a budget of entries.
#[derive(Debug, Clone)]
pub struct StateQuery {
    pub path: String,
    pub after: Option<Vec<String>>,
    pub limit: Option<usize>,
}

/// State values as (data path with keys, value) pairs; `None` for containers and
/// list entries without leaves to report.
pub type StateEntries = Vec<(String, Option<String>)>;

pub type ActionFuture =
    Pin<Box<dyn Future<Output = Result<Vec<(String, String)>, Refusal>> + Send>>;

pub trait Service: Send {
    fn name(&self) -> &str;

    /// Data paths of the configuration subtrees this service owns.
    fn prefixes(&self) -> Vec<String>;

    /// Checks the new configuration of the service's subtrees.
    fn prepare(&mut self, view: &CommitView<'_>) -> Result<Box<dyn Prepared>, Refusal>;

    /// Live state under `query.path`, lazily: only the entries asked for.
    fn state(&self, _query: &StateQuery) -> StateEntries {
        Vec::new()
    }

    /// Data paths (without keys) of the state this service provides, at the top of
    /// each subtree it answers for. An operational read asks the service for each.
    fn state_roots(&self) -> Vec<String> {
        Vec::new()
    }

    /// Runs a YANG action or RPC owned by this service. `path` is the data path of
    /// the action (with keys); `input` the input leaves by name.
    fn action(&self, _path: &str, _input: &[(String, String)]) -> Option<ActionFuture> {
        None
    }

    /// Schema paths of the RPCs and actions this service handles.
    fn actions(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A prepared change that does nothing when applied, for services with nothing
/// to do for a commit.
pub struct NoChange;

impl Prepared for NoChange {
    fn apply(self: Box<Self>) {}
}
