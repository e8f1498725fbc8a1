//! The datastore actor: the one owner of every datastore, lock and commit. Its
//! work is split the way a request flows:
//! - `boot`: the state dir to a running configuration, services started;
//! - `access`: NACM on writes and operations;
//! - `reads`: get-config, and the configuration part of a get;
//! - `writes`: edit-config, copy-config, delete-config, validate;
//! - `workspace`: the CLI's shared and private candidates;
//! - `commit`: validate, let services prepare, persist, apply, record;
//! - `confirmed`: RFC 6241's confirmed commit and its rollback;
//! - `locks`: datastore locks and the end of a session;
//! - `rpc`: YANG actions and RPCs, checked and handed to their service.
mod access;
mod boot;
mod commit;
mod confirmed;
mod locks;
mod reads;
mod rpc;
mod workspace;
mod writes;

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use yang5::context::Context;
use yang5::data::{Data, DataFormat, DataPrinterFlags, DataValidationFlags};

use super::error::{Error, ErrorTag, Result};
use super::persist::StateDir;
use super::tree::{self, Tree};
use super::{Datastore, Job, Shared, WithDefaults};
use crate::events::EventBus;
use crate::service::AnyService;

pub use boot::BootOptions;
pub use rpc::{ActionCall, Run};
pub use workspace::Workspace;

/// A confirmed commit waiting for its confirmation.
struct Pending {
    /// The configuration to return to, as persisted in the state dir.
    rollback: String,
    persist: Option<String>,
    owner: u32,
    /// Which armed timer may roll it back (a later one replaces it).
    timer: u64,
}

pub struct Actor {
    ctx: &'static Context,
    modules: Arc<HashMap<String, String>>,
    running: Tree,
    candidate: Tree,
    candidate_dirty: bool,
    startup: Tree,
    locks: [Option<(u32, chrono::DateTime<chrono::Utc>)>; 3],
    pending: Option<Pending>,
    /// Bumped by every confirmed-commit timer armed, so a stale one does nothing.
    timer: u64,
    dir: StateDir,
    next_commit: u32,
    /// Bumped by every commit: readers of the published configuration know
    /// when theirs is old.
    generation: u64,
    services: Vec<Box<dyn AnyService>>,
    events: EventBus,
    shared: Arc<Shared>,
    me: Option<mpsc::WeakSender<Job>>,
    rt: Option<tokio::runtime::Handle>,
    /// Private workspaces of CLI sessions, by session id.
    privates: HashMap<u32, Vec<workspace::WorkEdit>>,
}

/// Parses instance data (XML, possibly wrapped in a NETCONF `<config>` or `<data>`,
/// or JSON) and validates it as a complete configuration.
pub fn parse_instance(ctx: &'static Context, text: &str) -> Result<Tree> {
    let text = super::persist::strip_record(text);
    let trimmed = text.trim_start();
    let mut t = if trimmed.starts_with('{') {
        use yang5::data::{DataParserFlags, DataTree};
        DataTree::parse_string(
            ctx,
            text,
            DataFormat::JSON,
            DataParserFlags::NO_VALIDATION | DataParserFlags::STRICT | DataParserFlags::NO_STATE,
            DataValidationFlags::NO_STATE,
        )
        .map_err(|e| Error::from_yang(&e, ErrorTag::InvalidValue))?
    } else {
        let xml = unwrap_config(text)?;
        tree::parse_config_xml(ctx, &xml)
            .map_err(|e| Error::from_yang(&e, ErrorTag::InvalidValue))?
    };
    validate(&mut t)?;
    Ok(t)
}

/// Strips a `<config>`/`<data>` wrapper of the NETCONF base namespace, if any.
fn unwrap_config(text: &str) -> Result<String> {
    const NC: &str = "urn:ietf:params:xml:ns:netconf:base:1.0";
    if text.trim().is_empty() {
        return Ok(String::new());
    }
    // Several top-level elements are not one XML document: libyang reads them as is.
    match crate::xml::parse(text) {
        Ok(root) if root.ns == NC && (root.name == "config" || root.name == "data") => {
            Ok(root.children_xml())
        }
        _ => Ok(text.to_string()),
    }
}

pub fn validate(t: &mut Tree) -> Result<()> {
    t.validate(DataValidationFlags::NO_STATE)
        .map_err(|e| Error::from_yang(&e, ErrorTag::OperationFailed))
}

/// Prints a tree as XML with the given with-defaults mode.
pub fn print(t: &Tree, wd: WithDefaults) -> Result<String> {
    print_as(t, wd, DataFormat::XML)
}

/// Prints a tree in `format` with the given with-defaults mode.
pub fn print_as(t: &Tree, wd: WithDefaults, format: DataFormat) -> Result<String> {
    if t.reference().is_none() {
        return Ok(String::new());
    }
    tree::print(
        t,
        format,
        DataPrinterFlags::WITH_SIBLINGS | DataPrinterFlags::SHRINK | wd_flags(wd),
    )
}

/// The printer flags of a with-defaults mode (RFC 6243).
pub fn wd_flags(wd: WithDefaults) -> DataPrinterFlags {
    match wd {
        WithDefaults::ReportAll => DataPrinterFlags::WD_ALL,
        WithDefaults::ReportAllTagged => {
            DataPrinterFlags::from_bits_retain(yang5::ffi::LYD_PRINT_WD_ALL_TAG)
        }
        WithDefaults::Trim => DataPrinterFlags::WD_TRIM,
        WithDefaults::Explicit => DataPrinterFlags::WD_EXPLICIT,
    }
}

/// The configuration as the JSON document services are built from (RFC 7951,
/// every default present).
pub fn config_doc(t: &Tree) -> Result<crate::service::ConfigDoc> {
    let text = tree::print(
        t,
        DataFormat::JSON,
        DataPrinterFlags::WITH_SIBLINGS | DataPrinterFlags::SHRINK | DataPrinterFlags::WD_ALL,
    )?;
    let json = if text.trim().is_empty() {
        serde_json::Value::Object(Default::default())
    } else {
        serde_json::from_str(&text).map_err(|e| {
            Error::application(
                ErrorTag::OperationFailed,
                format!("the configuration did not print as JSON: {e}"),
            )
        })?
    };
    Ok(crate::service::ConfigDoc::new(t.context(), json))
}

/// Whether data path `path` is at or below `prefix`.
pub(super) fn under(path: &str, prefix: &str) -> bool {
    path.starts_with(prefix)
        && matches!(
            path.as_bytes().get(prefix.len()),
            None | Some(b'/') | Some(b'[')
        )
}

impl Actor {
    pub(super) fn attach(&mut self, me: mpsc::WeakSender<Job>, rt: tokio::runtime::Handle) {
        self.me = Some(me);
        self.rt = Some(rt);
    }

    pub fn ctx(&self) -> &'static Context {
        self.ctx
    }

    /// The running configuration (validated, with defaults).
    pub fn running(&self) -> &Tree {
        &self.running
    }

    pub fn events(&self) -> &EventBus {
        &self.events
    }

    fn tree(&self, ds: Datastore) -> &Tree {
        match ds {
            Datastore::Running => &self.running,
            Datastore::Candidate => &self.candidate,
            Datastore::Startup => &self.startup,
        }
    }

    /// What a filter selects of a datastore, before NACM (the caller prunes).
    pub(super) fn select(&self, ds: Datastore, filter: &super::Filter) -> Result<Tree> {
        super::filter::select(self.tree(ds), filter, &self.modules)
    }

    /// Runs `job` on the actor after `delay` (timers of confirmed commits).
    fn after(&self, delay: std::time::Duration, job: impl FnOnce(&mut Actor) + Send + 'static) {
        let (Some(me), Some(rt)) = (self.me.clone(), self.rt.clone()) else {
            return;
        };
        rt.spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(tx) = me.upgrade() {
                let _ = tx.send(Box::new(job) as Job).await;
            }
        });
    }
}
