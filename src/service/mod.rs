//! The platform every service (ports, power, uplinks, rules, AAA, the faces'
//! own settings) plugs into. A service
//! - owns configuration subtrees and receives them at each commit as a typed
//!   value built from the validated tree ([`config`]): YANG is the only source of
//!   defaults, and a value that does not convert refuses the commit with its path;
//! - answers reads of its `config false` nodes as a [`state::StateProvider`],
//!   lazily, off the datastore's thread;
//! - runs its YANG actions as an [`action::ActionHandler`], called by anyone
//!   (faces and other services) only through the datastore, so NACM decides;
//! - reports what happens as typed events on the bus (`crate::events`).
pub mod action;
pub mod config;
pub mod state;

use std::sync::Arc;

use serde::de::DeserializeOwned;

pub use action::{ActionFuture, ActionHandler, ActionRequest, DataPath};
pub use config::ConfigDoc;
pub use state::{Registry, StatePage, StateProvider, StateQuery};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOp {
    Create,
    Delete,
    Replace,
}

impl ChangeOp {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeOp::Create => "create",
            ChangeOp::Delete => "delete",
            ChangeOp::Replace => "replace",
        }
    }
}

/// One changed node: its data path and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub op: ChangeOp,
    pub path: String,
}

/// A change a service has checked and is ready to make. Dropping it is the abort.
pub trait Prepared: Send {
    fn apply(self: Box<Self>);
}

/// A prepared change that does nothing when applied.
pub struct NoChange;

impl Prepared for NoChange {
    fn apply(self: Box<Self>) {}
}

/// What kind of failure a refusal is, for the protocol error a face sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The request or configuration holds a value the service cannot use.
    Invalid,
    /// Something the request names does not exist.
    Missing,
    /// The operation could not be carried out (a device refused, timed out).
    Failed,
    /// The caller may not do this.
    Denied,
}

/// A service's refusal, shown to the operator.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub message: String,
    /// The data path the refusal is about, if any.
    pub path: Option<String>,
    pub reason: Reason,
    /// The rpc-error's error-app-tag, for callers that act on the kind of
    /// failure (a power device that refused, timed out, was unreachable).
    pub app_tag: Option<&'static str>,
}

impl Refusal {
    pub fn new(reason: Reason, message: impl Into<String>) -> Refusal {
        Refusal {
            message: message.into(),
            path: None,
            reason,
            app_tag: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Refusal {
        Refusal::new(Reason::Invalid, message)
    }

    pub fn failed(message: impl Into<String>) -> Refusal {
        Refusal::new(Reason::Failed, message)
    }

    pub fn missing(message: impl Into<String>) -> Refusal {
        Refusal::new(Reason::Missing, message)
    }

    pub fn tagged(mut self, tag: &'static str) -> Refusal {
        self.app_tag = Some(tag);
        self
    }

    pub fn at(mut self, path: impl Into<String>) -> Refusal {
        self.path = Some(path.into());
        self
    }
}

/// A service of the appliance. Its configuration arrives as `Config`, built by
/// serde from the RFC 7951 JSON of the validated configuration with every
/// default filled in; its fields name the top-level nodes it reads
/// (`#[serde(rename = "lifeline-ports:ports")]`).
pub trait Service: Send + 'static {
    type Config: DeserializeOwned + Send;

    fn name(&self) -> &'static str;

    /// Data paths of the configuration subtrees this service applies. Every
    /// subtree has at most one owner.
    fn owns(&self) -> Vec<&'static str>;

    /// Other subtrees whose changes this service must see (it is asked to
    /// prepare when they change, as when they change its own).
    fn watches(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// Checks the new configuration; `changes` are those under `owns` and
    /// `watches`, deletes first (empty at boot, when everything is new).
    fn prepare(
        &mut self,
        config: Self::Config,
        changes: &[Change],
    ) -> Result<Box<dyn Prepared>, Refusal>;
}

/// A service with its configuration type erased, as the datastore holds it.
pub trait AnyService: Send {
    fn name(&self) -> &'static str;
    fn owns(&self) -> Vec<&'static str>;
    fn watches(&self) -> Vec<&'static str>;
    fn prepare_doc(
        &mut self,
        doc: &ConfigDoc,
        changes: &[Change],
    ) -> Result<Box<dyn Prepared>, Refusal>;
}

impl<S: Service> AnyService for S {
    fn name(&self) -> &'static str {
        Service::name(self)
    }

    fn owns(&self) -> Vec<&'static str> {
        Service::owns(self)
    }

    fn watches(&self) -> Vec<&'static str> {
        Service::watches(self)
    }

    fn prepare_doc(
        &mut self,
        doc: &ConfigDoc,
        changes: &[Change],
    ) -> Result<Box<dyn Prepared>, Refusal> {
        let config = doc.typed::<S::Config>()?;
        self.prepare(config, changes)
    }
}

/// What a service is built with: the datastore, the bus, the registry it adds
/// its state providers and action handlers to, and the runtime.
#[derive(Clone)]
pub struct Platform {
    pub ds: crate::datastore::Handle,
    pub events: crate::events::EventBus,
    pub registry: Arc<Registry>,
    pub rt: tokio::runtime::Handle,
    pub shutdown: crate::shutdown::Shutdown,
}
