//! The datastore: running, candidate and startup, their locks, validation, commits
//! that all services agree to or none see, confirmed commits, persistence and the
//! rollback history. One actor thread owns all of it; faces and services hold a
//! [`Handle`], whose methods (`requests.rs`) are every request the actor takes.
//! Reads of live state never reach the actor: they go to the services' state
//! providers from the caller's task (`operational.rs`).
pub mod access;
mod actor;
pub mod edit;
pub mod error;
pub mod filter;
pub mod monitoring;
pub mod operational;
pub mod persist;
mod requests;
pub mod state;
pub mod tree;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use tokio::sync::{mpsc, oneshot};
use yang5::context::Context;

pub use actor::{ActionCall, Actor, BootOptions, Workspace, parse_instance, validate, wd_flags};
pub use error::{Error, ErrorTag, ErrorType, Result};
pub use filter::Filter;
pub use requests::ActionOutput;

use crate::aaa::Aaa;
use crate::events::EventBus;
use crate::service::{ConfigDoc, Registry};

/// The configuration datastores of RFC 6241.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datastore {
    Running,
    Candidate,
    Startup,
}

impl Datastore {
    pub fn as_str(self) -> &'static str {
        match self {
            Datastore::Running => "running",
            Datastore::Candidate => "candidate",
            Datastore::Startup => "startup",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A RESTCONF edit of one resource (see `Handle::edit_resource`).
pub struct ResourceEdit {
    /// The resource's data path; empty for the whole datastore.
    pub xpath: String,
    /// Create (POST), Replace (PUT), Merge (PATCH) or Delete (DELETE).
    pub op: edit::Operation,
    /// The parsed body, holding the resource (with its ancestors); none for
    /// a delete.
    pub body: Option<tree::Tree>,
    /// If-Match: the top-level node and the version its entity-tag named.
    pub if_version: Option<(String, u64)>,
}

/// The app-tag of an edit refused by its If-Match precondition (HTTP 412).
pub const PRECONDITION_FAILED: &str = "lifeline-precondition-failed";

/// Which management face a session came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    Netconf,
    Cli,
    Snmp,
    /// A console session's escape menu (power control).
    Console,
    /// A rule of the auto-response service, acting as its run-as user.
    Automation,
    /// RESTCONF and the web console (HTTPS).
    Restconf,
    /// The appliance itself (boot, confirmed-commit timeouts): the only caller
    /// NACM does not apply to, and it runs no actions.
    System,
}

impl Face {
    pub fn as_str(self) -> &'static str {
        match self {
            Face::Netconf => "netconf",
            Face::Cli => "cli",
            Face::Snmp => "snmp",
            Face::Console => "console",
            Face::Automation => "automation",
            Face::Restconf => "restconf",
            Face::System => "system",
        }
    }
}

/// Who is asking: every request is made on behalf of a session (the principal).
#[derive(Debug, Clone)]
pub struct Session {
    pub id: u32,
    pub user: String,
    pub face: Face,
    /// The peer, for monitoring and events.
    pub source: Option<String>,
}

impl Session {
    /// The appliance acting on its own (boot, timeouts); NACM does not apply.
    pub fn system() -> Session {
        Session {
            id: 0,
            user: "system".into(),
            face: Face::System,
            source: None,
        }
    }
}

/// RFC 6243 with-defaults retrieval modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WithDefaults {
    ReportAll,
    ReportAllTagged,
    Trim,
    Explicit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestOption {
    TestThenSet,
    Set,
    TestOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorOption {
    StopOnError,
    ContinueOnError,
    RollbackOnError,
}

/// Source of a copy-config or validate.
#[derive(Debug, Clone)]
pub enum Source {
    Datastore(Datastore),
    /// Inline configuration: a sequence of top-level XML elements.
    Config(String),
}

/// The parameters of a confirmed commit (RFC 6241 section 8.4).
#[derive(Debug, Clone)]
pub struct Confirm {
    pub timeout: Duration,
    pub persist: Option<String>,
}

/// Options of a commit.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    pub confirm: Option<Confirm>,
    /// Confirms (or extends) a confirmed commit made with `persist`.
    pub persist_id: Option<String>,
    pub comment: Option<String>,
    /// Any session may confirm or extend a pending confirmed commit (the CLI's
    /// way, as on routers); NETCONF keeps RFC 6241's session and persist-id rules.
    pub force_confirm: bool,
}

type Job = Box<dyn FnOnce(&mut Actor) + Send>;

/// NACM's denied-operations, denied-data-writes and denied-notifications.
#[derive(Default)]
pub struct Denied {
    pub operations: AtomicU32,
    pub data_writes: AtomicU32,
    pub notifications: AtomicU32,
}

impl Denied {
    pub fn count(c: &AtomicU32) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// What the actor publishes for readers that do not wait for it.
pub struct Shared {
    /// The running configuration as of the last commit, and its generation
    /// (which changes at every commit).
    running: RwLock<(ConfigDoc, u64)>,
    generation: std::sync::atomic::AtomicU64,
    /// Per top-level node (`module:name`), how often its configuration changed.
    versions: RwLock<std::collections::HashMap<String, u64>>,
    pub aaa: Aaa,
    pub registry: Arc<Registry>,
    /// Namespace to module name, for filters.
    pub modules: std::collections::HashMap<String, String>,
    pub monitoring: Mutex<monitoring::Monitoring>,
    pub denied: Denied,
    /// The rollback history's records, oldest first.
    pub history: RwLock<Vec<persist::CommitRecord>>,
}

/// Cloneable handle to the datastore actor.
#[derive(Clone)]
pub struct Handle {
    tx: mpsc::Sender<Job>,
    pub ctx: &'static Context,
    pub events: EventBus,
    next_session: Arc<AtomicU32>,
    pub shared: Arc<Shared>,
}

impl Handle {
    /// Runs `f` on the actor and returns its result; waits for room in the
    /// mailbox (back-pressure) rather than queueing without bound.
    async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Actor) -> R + Send + 'static,
    ) -> Result<R> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |actor| {
            let _ = tx.send(f(actor));
        });
        let gone =
            || Error::application(ErrorTag::OperationFailed, "the datastore is shutting down");
        self.tx.send(job).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())
    }

    /// Like `call`, for closures that return a `Result` themselves.
    async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Actor) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        self.call(f).await?
    }

    /// A new management session id (never 0, which is the system's).
    pub fn new_session(&self, user: &str, face: Face, source: Option<String>) -> Session {
        Session {
            id: self.next_session.fetch_add(1, Ordering::Relaxed),
            user: user.into(),
            face,
            source,
        }
    }

    /// The running configuration as of the last commit, with its generation.
    pub fn running(&self) -> (ConfigDoc, u64) {
        self.shared.running.read().clone()
    }

    /// The generation of the running configuration (changes at every commit).
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }

    /// How often the configuration under top-level node `top` changed.
    pub fn version(&self, top: &str) -> u64 {
        self.shared.versions.read().get(top).copied().unwrap_or(0)
    }

    pub fn aaa(&self) -> &Aaa {
        &self.shared.aaa
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.shared.registry
    }
}

/// The actor's end of the handle's channel.
pub struct Mailbox(mpsc::Receiver<Job>);

/// How many requests may wait for the actor before callers wait to send.
const MAILBOX: usize = 1024;

/// Creates a handle before the actor exists, so services built before the boot can
/// hold it; requests wait in the mailbox until [`run`] starts the actor.
pub fn channel(
    ctx: &'static Context,
    events: EventBus,
    aaa: Aaa,
    registry: Arc<Registry>,
) -> (Handle, Mailbox) {
    let (tx, rx) = mpsc::channel::<Job>(MAILBOX);
    let shared = Arc::new(Shared {
        running: RwLock::new((ConfigDoc::empty(ctx), 0)),
        generation: std::sync::atomic::AtomicU64::new(0),
        versions: RwLock::default(),
        aaa,
        registry,
        modules: crate::schema::namespaces(ctx),
        monitoring: Mutex::new(monitoring::Monitoring::default()),
        denied: Denied::default(),
        history: RwLock::default(),
    });
    let handle = Handle {
        tx,
        ctx,
        events,
        next_session: Arc::new(AtomicU32::new(1)),
        shared,
    };
    (handle, Mailbox(rx))
}

/// Runs the booted actor on its own thread.
pub fn run(mut actor: Actor, mailbox: Mailbox, handle: &Handle) {
    let mut rx = mailbox.0;
    actor.attach(handle.tx.downgrade(), tokio::runtime::Handle::current());
    std::thread::Builder::new()
        .name("datastore".into())
        .spawn(move || {
            while let Some(job) = rx.blocking_recv() {
                // A bug behind one request must not take the datastore down: the
                // requester sees its reply channel dropped, the others go on.
                let run = std::panic::AssertUnwindSafe(|| job(&mut actor));
                if std::panic::catch_unwind(run).is_err() {
                    tracing::error!("a datastore request panicked; the request failed");
                }
            }
        })
        .expect("spawn datastore thread");
}
