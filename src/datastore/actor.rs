//! The datastore actor: the one owner of every datastore, lock and commit.
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;
use yang5::context::Context;
use yang5::data::{
    Data, DataDiffFlags, DataDiffOp, DataFormat, DataPrinterFlags, DataValidationFlags,
};

use super::edit::{self, Operation};
use super::error::{Error, ErrorTag, Result};
use super::filter::{self, Filter};
use super::monitoring::Monitoring;
use super::persist::{self, CommitRecord, StateDir};
use super::tree::{self, Tree};
use super::{
    CommitOptions, Datastore, ErrorOption, Face, Job, Session, Source, TestOption, WithDefaults,
};
use crate::aaa::nacm::{Access, Policy};
use crate::events::{EventBus, EventKind, Severity};
use crate::service::{
    ActionFuture, Change, ChangeOp, CommitView, Prepared, Service, StateEntries, StateQuery,
};

pub struct BootOptions {
    pub state_dir: PathBuf,
    /// The factory default configuration (XML or JSON instance data).
    pub factory: String,
}

/// A confirmed commit waiting for its confirmation.
struct Pending {
    /// The configuration to return to, as persisted in the state dir.
    rollback: String,
    persist: Option<String>,
    owner: u32,
    generation: u64,
}

/// What a commit does to the persisted confirmed-commit state, before the new
/// configuration is persisted.
enum PendingChange {
    Keep,
    Begin(String),
    End,
}

pub struct Actor {
    ctx: &'static Context,
    modules: HashMap<String, String>,
    running: Tree,
    candidate: Tree,
    candidate_dirty: bool,
    startup: Tree,
    locks: [Option<(u32, chrono::DateTime<chrono::Utc>)>; 3],
    pending: Option<Pending>,
    generation: u64,
    dir: StateDir,
    next_commit: u32,
    services: Vec<Box<dyn Service>>,
    events: EventBus,
    me: Option<mpsc::WeakSender<Job>>,
    rt: Option<tokio::runtime::Handle>,
    pub monitoring: Monitoring,
    /// Private workspaces of CLI sessions, by session id.
    privates: HashMap<u32, Vec<WorkEdit>>,
    /// NACM's denied-operations, denied-data-writes, denied-notifications.
    denied: [std::cell::Cell<u32>; 3],
}

/// Where the CLI's configuration edits go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workspace {
    /// The shared candidate datastore.
    Shared,
    /// The session's own copy.
    Private,
}

/// An edit of a private workspace. The edits are replayed on the running
/// configuration of the moment, so other sessions' commits merge in.
enum WorkEdit {
    Set(String, Option<String>),
    Delete(String),
    Load(String),
}

/// Parses instance data (XML, possibly wrapped in a NETCONF `<config>` or `<data>`,
/// or JSON) and validates it as a complete configuration.
pub fn parse_instance(ctx: &'static Context, text: &str) -> Result<Tree> {
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

/// The text a configuration is persisted as: one XML document.
pub fn persist_text(t: &Tree) -> String {
    format!(
        "<config xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\">{}</config>\n",
        print(t, WithDefaults::Explicit)
    )
}

pub fn validate(t: &mut Tree) -> Result<()> {
    t.validate(DataValidationFlags::NO_STATE)
        .map_err(|e| Error::from_yang(&e, ErrorTag::OperationFailed))
}

/// Prints a tree as XML with the given with-defaults mode.
pub fn print(t: &Tree, wd: WithDefaults) -> String {
    if t.reference().is_none() {
        return String::new();
    }
    let wd = match wd {
        WithDefaults::ReportAll => DataPrinterFlags::WD_ALL,
        WithDefaults::ReportAllTagged => {
            DataPrinterFlags::from_bits_retain(yang5::ffi::LYD_PRINT_WD_ALL_TAG)
        }
        WithDefaults::Trim => DataPrinterFlags::WD_TRIM,
        WithDefaults::Explicit => DataPrinterFlags::WD_EXPLICIT,
    };
    t.print_string(
        DataFormat::XML,
        DataPrinterFlags::WITH_SIBLINGS | DataPrinterFlags::SHRINK | wd,
    )
    .unwrap_or_default()
}

fn under(path: &str, prefix: &str) -> bool {
    path.starts_with(prefix)
        && matches!(
            path.as_bytes().get(prefix.len()),
            None | Some(b'/') | Some(b'[')
        )
}

impl Actor {
    /// Boots the datastore from the state dir: the startup configuration, unless a
    /// confirmed commit was pending at the last stop (then the configuration from
    /// before it), or the factory default when there is none or it is unusable.
    pub fn boot(
        ctx: &'static Context,
        opts: BootOptions,
        events: EventBus,
        services: Vec<Box<dyn Service>>,
    ) -> std::result::Result<Actor, String> {
        let dir = StateDir::open(&opts.state_dir)
            .map_err(|e| format!("state dir {}: {e}", opts.state_dir.display()))?;
        let factory = parse_instance(ctx, &opts.factory)
            .map_err(|e| format!("factory configuration: {e}"))?;
        let mut boot = None;
        let confirmed = dir.confirmed();
        if let Ok(text) = std::fs::read_to_string(&confirmed) {
            match parse_instance(ctx, &text) {
                Ok(t) => {
                    persist::write_atomic(&dir.startup(), text.as_bytes())
                        .map_err(|e| e.to_string())?;
                    events.publish(
                        EventKind::CommitRollback,
                        Severity::Warning,
                        "datastore",
                        "restarted while a confirmed commit was pending: its changes are rolled back",
                        vec![("reason".into(), "restart".into())],
                    );
                    boot = Some(t);
                }
                Err(e) => tracing::error!("unusable confirmed-commit rollback file: {e}"),
            }
            persist::remove_durable(&confirmed).map_err(|e| e.to_string())?;
        }
        if boot.is_none() {
            let startup = dir.startup();
            match std::fs::read_to_string(&startup) {
                Ok(text) => match parse_instance(ctx, &text) {
                    Ok(t) => boot = Some(t),
                    Err(e) => {
                        let aside = startup.with_extension(format!(
                            "xml.invalid-{}",
                            chrono::Utc::now().format("%Y%m%dT%H%M%S")
                        ));
                        let _ = std::fs::rename(&startup, &aside);
                        events.publish(
                            EventKind::StartupConfigInvalid,
                            Severity::Critical,
                            "datastore",
                            format!("startup configuration is invalid ({e}); booted the factory default, kept the bad file as {}", aside.display()),
                            vec![("file".into(), aside.display().to_string()), ("error".into(), e.to_string())],
                        );
                    }
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("{}: {e}", startup.display())),
            }
        }
        let running = match boot {
            Some(t) => t,
            None => {
                let text = persist_text(&factory);
                persist::write_atomic(&dir.startup(), text.as_bytes())
                    .map_err(|e| e.to_string())?;
                factory
            }
        };
        check_owners(&services)?;
        let next_commit = dir.history().last().map(|r| r.id + 1).unwrap_or(1);
        let mut actor = Actor {
            ctx,
            modules: crate::schema::namespaces(ctx),
            candidate: tree::dup(&running),
            startup: tree::dup(&running),
            running,
            candidate_dirty: false,
            locks: [None; 3],
            pending: None,
            generation: 0,
            dir,
            next_commit,
            services,
            events,
            me: None,
            rt: None,
            monitoring: Monitoring::default(),
            privates: HashMap::new(),
            denied: Default::default(),
        };
        actor.start_services();
        Ok(actor)
    }

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

    pub fn modules(&self) -> &HashMap<String, String> {
        &self.modules
    }

    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// Gives every service the booted configuration, as a commit from nothing.
    fn start_services(&mut self) {
        let empty = tree::empty(self.ctx);
        let all = self.changes(&empty, &self.running);
        let mut prepared = Vec::new();
        for svc in &mut self.services {
            let mine = owned_changes(&all, &svc.prefixes());
            let view = CommitView {
                old: &empty,
                new: &self.running,
                changes: &mine,
            };
            match svc.prepare(&view) {
                Ok(p) => prepared.push(p),
                Err(r) => {
                    tracing::error!("service {} refused the boot configuration: {r}", svc.name())
                }
            }
        }
        prepared.into_iter().for_each(|p| p.apply());
    }

    fn tree(&self, ds: Datastore) -> &Tree {
        match ds {
            Datastore::Running => &self.running,
            Datastore::Candidate => &self.candidate,
            Datastore::Startup => &self.startup,
        }
    }

    /// Fails when another session holds the lock on `ds`.
    fn check_lock(&self, session: &Session, ds: Datastore) -> Result<()> {
        match self.locks[ds.index()] {
            Some((holder, _)) if holder != session.id => Err(Error::protocol(
                ErrorTag::InUse,
                format!(
                    "the {} datastore is locked by session {holder}",
                    ds.as_str()
                ),
            )
            .with_info("session-id", holder.to_string())),
            _ => Ok(()),
        }
    }

    // ----- reads -----

    fn count_denied(&self, which: usize) {
        self.denied[which].set(self.denied[which].get().wrapping_add(1));
    }

    /// A notification was withheld from a subscriber by NACM.
    pub fn count_denied_notification(&self) {
        self.count_denied(2);
    }

    /// The access policy of a session's user.
    pub fn policy(&self, session: &Session) -> Policy {
        // SNMP requests were checked by VACM, SNMP's own access control.
        if matches!(session.face, Face::System | Face::Snmp) {
            return Policy::unrestricted();
        }
        Policy::for_user(&self.running, &session.user)
    }

    /// May the session run this RPC or action?
    pub fn may_exec(&self, session: &Session, module: &str, name: &str) -> Result<()> {
        let schema = self.ctx.find_path(&format!("/{module}:{name}")).ok();
        if self.policy(session).may_exec(module, name, schema.as_ref()) {
            Ok(())
        } else {
            self.count_denied(0);
            Err(Error::protocol(
                ErrorTag::AccessDenied,
                format!("{} may not run {module}:{name}", session.user),
            ))
        }
    }

    /// Filters and prints a tree for a session, leaving out what it may not read.
    fn read_view(
        &self,
        session: &Session,
        t: &Tree,
        filter: &Filter,
        wd: WithDefaults,
    ) -> Result<String> {
        if matches!(filter, Filter::All) && self.policy(session).permits_all(Access::Read) {
            return Ok(print(t, wd));
        }
        Ok(print(&self.read_tree(session, t, filter)?, wd))
    }

    /// What a session may read of a tree, selected by a filter.
    fn read_tree(&self, session: &Session, t: &Tree, filter: &Filter) -> Result<Tree> {
        let policy = self.policy(session);
        let mut selected = filter::select(t, filter, &self.modules)?;
        if policy.permits_all(Access::Read) {
            return Ok(selected);
        }
        let pruned = {
            let checker = policy.data_checker(t);
            let mut denied = Vec::new();
            for n in selected.traverse() {
                if let Some(orig) = tree::find(t, &tree::path(&n))
                    && !checker.allowed(&orig, Access::Read)
                {
                    denied.push(tree::path(&n));
                }
            }
            denied
        };
        for p in pruned {
            tree::remove(&mut selected, &p);
        }
        Ok(selected)
    }

    /// A datastore as the session may read it (for faces that render trees).
    pub fn config_tree(&self, session: &Session, ds: Datastore, filter: &Filter) -> Result<Tree> {
        self.read_tree(session, self.tree(ds), filter)
    }

    /// The operational view as a tree (see [`Actor::get`]).
    pub fn operational_tree(&self, session: &Session, filter: &Filter) -> Result<Tree> {
        let op = self.operational(filter);
        self.read_tree(session, &op, filter)
    }

    /// The configuration a workspace holds now.
    pub fn workspace_tree(&self, session: &Session, ws: Workspace) -> Result<Tree> {
        match ws {
            Workspace::Shared => Ok(tree::dup(&self.candidate)),
            Workspace::Private => {
                let mut t = tree::dup(&self.running);
                for e in self.privates.get(&session.id).into_iter().flatten() {
                    self.apply_work_edit(&mut t, e)?;
                }
                Ok(t)
            }
        }
    }

    /// A workspace as the session may read it, selected by a filter.
    pub fn workspace_view(
        &self,
        session: &Session,
        ws: Workspace,
        filter: &Filter,
    ) -> Result<Tree> {
        let t = self.workspace_tree(session, ws)?;
        self.read_tree(session, &t, filter)
    }

    fn apply_work_edit(&self, t: &mut Tree, e: &WorkEdit) -> Result<()> {
        match e {
            WorkEdit::Set(path, value) => {
                t.new_path(path, value.as_deref(), false).map_err(|e| {
                    Error::from_yang(&e, ErrorTag::InvalidValue).with_path(path.as_str())
                })?;
            }
            WorkEdit::Delete(path) => {
                if !tree::exists(t, path) {
                    return Err(Error::application(
                        ErrorTag::DataMissing,
                        "nothing to delete there",
                    )
                    .with_path(path.as_str()));
                }
                tree::remove(t, path);
            }
            WorkEdit::Load(text) => *t = parse_instance(self.ctx, text)?,
        }
        Ok(())
    }

    fn workspace_edit(&mut self, session: &Session, ws: Workspace, edit: WorkEdit) -> Result<()> {
        if ws == Workspace::Shared {
            self.check_lock(session, Datastore::Candidate)?;
        }
        let before = self.workspace_tree(session, ws)?;
        let mut after = tree::dup(&before);
        self.apply_work_edit(&mut after, &edit)?;
        self.check_write(session, &before, &after)?;
        match ws {
            Workspace::Shared => {
                self.set_candidate(after);
            }
            Workspace::Private => {
                let edits = self.privates.entry(session.id).or_default();
                if matches!(edit, WorkEdit::Load(_)) {
                    edits.clear();
                }
                edits.push(edit);
            }
        }
        Ok(())
    }

    /// Sets one node by data path (the CLI's `set`).
    pub fn set_path(
        &mut self,
        session: &Session,
        ws: Workspace,
        path: &str,
        value: Option<&str>,
    ) -> Result<()> {
        self.workspace_edit(
            session,
            ws,
            WorkEdit::Set(path.into(), value.map(Into::into)),
        )
    }

    /// Deletes one node by data path (the CLI's `delete`).
    pub fn delete_path(&mut self, session: &Session, ws: Workspace, path: &str) -> Result<()> {
        self.workspace_edit(session, ws, WorkEdit::Delete(path.into()))
    }

    /// Loads the configuration of `back` commits ago (the CLI's `rollback N`; 0
    /// is the running configuration).
    pub fn load_rollback(&mut self, session: &Session, ws: Workspace, back: usize) -> Result<()> {
        let history = self.dir.history();
        let rec = history.iter().rev().nth(back).ok_or_else(|| {
            Error::application(
                ErrorTag::InvalidValue,
                format!("there are only {} commits to roll back to", history.len()),
            )
        })?;
        let text = self.dir.history_config(rec.id).ok_or_else(|| {
            Error::application(
                ErrorTag::OperationFailed,
                format!("commit {} is missing from the history", rec.id),
            )
        })?;
        self.workspace_edit(session, ws, WorkEdit::Load(text))
    }

    /// Commits a workspace; a private one starts over from the new running.
    pub fn workspace_commit(
        &mut self,
        session: &Session,
        ws: Workspace,
        opts: &CommitOptions,
    ) -> Result<u32> {
        match ws {
            Workspace::Shared => self.commit(session, opts),
            Workspace::Private => {
                let t = self.workspace_tree(session, ws)?;
                let id = self.commit_from(session, t, opts)?;
                self.privates.remove(&session.id);
                Ok(id)
            }
        }
    }

    pub fn workspace_discard(&mut self, session: &Session, ws: Workspace) {
        match ws {
            Workspace::Shared => self.discard_changes(),
            Workspace::Private => {
                self.privates.remove(&session.id);
            }
        }
    }

    pub fn workspace_validate(&self, session: &Session, ws: Workspace) -> Result<()> {
        validate(&mut self.workspace_tree(session, ws)?)
    }

    /// Leaves a private workspace, dropping its edits.
    pub fn private_end(&mut self, session: &Session) {
        self.privates.remove(&session.id);
    }

    /// Fails unless the session may make every change from `old` to `new`.
    fn check_write(&self, session: &Session, old: &Tree, new: &Tree) -> Result<()> {
        let policy = self.policy(session);
        if [Access::Create, Access::Update, Access::Delete]
            .iter()
            .all(|a| policy.permits_all(*a))
        {
            return Ok(());
        }
        let in_new = policy.data_checker(new);
        let in_old = policy.data_checker(old);
        for c in self.changes(old, new) {
            let (checker, t, access) = match c.op {
                ChangeOp::Create => (&in_new, new, Access::Create),
                ChangeOp::Replace => (&in_new, new, Access::Update),
                ChangeOp::Delete => (&in_old, old, Access::Delete),
            };
            let Some(node) = tree::find(t, &c.path) else {
                continue;
            };
            let denied = node.traverse().find(|n| !checker.allowed(n, access));
            if let Some(n) = denied {
                self.count_denied(1);
                return Err(Error::application(
                    ErrorTag::AccessDenied,
                    format!("{} may not change this data", session.user),
                )
                .with_path(tree::path(&n)));
            }
        }
        Ok(())
    }

    pub fn get_config(
        &self,
        session: &Session,
        ds: Datastore,
        filter: &Filter,
        wd: WithDefaults,
    ) -> Result<String> {
        self.read_view(session, self.tree(ds), filter, wd)
    }

    /// The operational view: running plus the live state of every service (only
    /// the services whose state the filter can select are asked).
    pub fn get(&self, session: &Session, filter: &Filter, wd: WithDefaults) -> Result<String> {
        let op = self.operational(filter);
        self.read_view(session, &op, filter, wd)
    }

    /// Running plus the state of the services whose state the filter can select.
    fn operational(&self, filter: &Filter) -> Tree {
        let mut op = tree::dup(&self.running);
        let tops = filter_tops(filter, &self.modules);
        let wanted = |root: &str| {
            tops.as_ref().is_none_or(|t| {
                t.iter()
                    .any(|t| root.starts_with(t.as_str()) || t.starts_with(root))
            })
        };
        for svc in &self.services {
            for root in svc.state_roots() {
                if wanted(&root) {
                    let entries = svc.state(&StateQuery {
                        path: root,
                        after: None,
                        limit: None,
                    });
                    add_entries(&mut op, &entries);
                }
            }
        }
        if wanted("/ietf-netconf-acm:nacm") && tree::exists(&op, "/ietf-netconf-acm:nacm") {
            for (leaf, c) in [
                "denied-operations",
                "denied-data-writes",
                "denied-notifications",
            ]
            .iter()
            .zip(&self.denied)
            {
                let _ = op.new_path(
                    &format!("/ietf-netconf-acm:nacm/{leaf}"),
                    Some(&c.get().to_string()),
                    false,
                );
            }
        }
        if wanted("/lifeline-system:commit-history") {
            self.add_history_state(&mut op);
        }
        if wanted("/ietf-netconf-monitoring:") {
            self.monitoring.add_state(&mut op, self.ctx, &self.locks);
        }
        if wanted("/ietf-yang-library:") {
            add_yang_library(&mut op, self.ctx);
        }
        op
    }

    /// The running configuration with the live state under the given top-level
    /// nodes, unfiltered by NACM (the SNMP agent's snapshot, which VACM guards).
    pub fn operational_tops(&self, tops: &[&str]) -> Tree {
        let mut op = tree::dup(&self.running);
        for svc in &self.services {
            for root in svc.state_roots() {
                if tops.iter().any(|t| root.starts_with(t)) {
                    let entries = svc.state(&StateQuery {
                        path: root,
                        after: None,
                        limit: None,
                    });
                    add_entries(&mut op, &entries);
                }
            }
        }
        op
    }

    /// Live state of one service node, resumable (the SNMP agent's GETNEXT).
    pub fn read_state(&self, query: &StateQuery) -> StateEntries {
        self.services
            .iter()
            .filter(|s| {
                s.state_roots()
                    .iter()
                    .any(|r| under(&query.path, r) || under(r, &query.path))
            })
            .flat_map(|s| s.state(query))
            .collect()
    }

    /// Parses and checks a YANG RPC or action request (`xml` is the RPC element,
    /// or for an action the data path down to it) and starts the service that
    /// handles it. Returns the running action and the namespace of its module.
    pub fn start_action(&mut self, session: &Session, xml: &str) -> Result<(ActionFuture, String)> {
        use yang5::data::{DataOperation, DataParserFlags, DataTree};
        use yang5::schema::{SchemaNodeKind, SchemaPathFormat};
        let req = DataTree::parse_op_string(
            self.ctx,
            xml,
            DataFormat::XML,
            DataParserFlags::STRICT,
            DataOperation::RpcYang,
        )
        .map_err(|e| Error::from_yang(&e, ErrorTag::InvalidValue))?;
        let op = req
            .traverse()
            .find(|n| {
                matches!(
                    n.schema().kind(),
                    SchemaNodeKind::Rpc | SchemaNodeKind::Action
                )
            })
            .ok_or_else(|| {
                Error::protocol(ErrorTag::MissingElement, "no RPC or action in the request")
            })?;
        let schema = op.schema();
        let module = schema.module();
        if !self
            .policy(session)
            .may_exec(module.name(), schema.name(), Some(&schema))
        {
            self.count_denied(0);
            return Err(Error::protocol(
                ErrorTag::AccessDenied,
                format!(
                    "{} may not run {}:{}",
                    session.user,
                    module.name(),
                    schema.name()
                ),
            ));
        }
        let path = tree::path(&op);
        if schema.kind() == SchemaNodeKind::Action {
            // The action's parent (say a console port) must exist.
            let parent = path.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
            if !tree::exists(&self.running, parent) {
                return Err(Error::application(
                    ErrorTag::DataMissing,
                    "the action's parent does not exist",
                )
                .with_path(parent));
            }
        }
        let input: Vec<(String, String)> = op
            .children()
            .filter_map(|c| Some((c.schema().name().to_string(), c.value_canonical()?)))
            .collect();
        let schema_path = schema.path(SchemaPathFormat::DATA);
        let ns = module.namespace().to_string();
        // The datastore's own operations.
        if schema_path == "/lifeline-system:rollback" {
            let id = input
                .iter()
                .find(|(n, _)| n == "id")
                .and_then(|(_, v)| v.parse().ok())
                .ok_or_else(|| Error::protocol(ErrorTag::MissingElement, "rollback needs an id"))?;
            let comment = input
                .iter()
                .find(|(n, _)| n == "comment")
                .map(|(_, v)| v.clone());
            let commit = self.rollback_to(session, id, comment)?;
            let out = vec![("commit-id".to_string(), commit.to_string())];
            return Ok((Box::pin(async move { Ok(out) }), ns));
        }
        for svc in &self.services {
            if !svc.actions().contains(&schema_path) {
                continue;
            }
            if let Some(fut) = svc.action(&path, &input) {
                return Ok((fut, module.namespace().to_string()));
            }
        }
        Err(Error::protocol(
            ErrorTag::OperationNotSupported,
            format!(
                "{}:{} is not available on this appliance yet",
                module.name(),
                schema.name()
            ),
        ))
    }

    fn add_history_state(&self, op: &mut Tree) {
        for r in self.dir.history() {
            let base = format!("/lifeline-system:commit-history/commit[id='{}']", r.id);
            let _ = op.new_path(
                &format!("{base}/time"),
                Some(&r.time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                false,
            );
            let _ = op.new_path(&format!("{base}/user"), Some(&r.user), false);
            let _ = op.new_path(&format!("{base}/face"), Some(&r.face), false);
            let _ = op.new_path(&format!("{base}/comment"), Some(&r.comment), false);
            let _ = op.new_path(
                &format!("{base}/confirmed"),
                Some(if r.confirmed { "true" } else { "false" }),
                false,
            );
        }
    }

    pub fn history(&self) -> Vec<CommitRecord> {
        self.dir.history()
    }

    // ----- writes -----

    #[allow(clippy::too_many_arguments)]
    pub fn edit_config(
        &mut self,
        session: &Session,
        target: Datastore,
        default_op: Operation,
        test: TestOption,
        on_error: ErrorOption,
        config_xml: &str,
    ) -> std::result::Result<(), Vec<Error>> {
        if target == Datastore::Startup {
            return Err(vec![Error::protocol(
                ErrorTag::OperationNotSupported,
                "edit-config cannot target startup; use copy-config",
            )]);
        }
        self.check_lock(session, target).map_err(|e| vec![e])?;
        let edit = tree::parse_config_xml(self.ctx, config_xml)
            .map_err(|e| vec![Error::from_yang(&e, ErrorTag::InvalidValue)])?;
        let mut working = tree::dup(self.tree(target));
        let cont = on_error == ErrorOption::ContinueOnError;
        let errors = edit::apply(&mut working, &edit, default_op, cont);
        if !errors.is_empty() && !cont {
            return Err(errors);
        }
        self.check_write(session, self.tree(target), &working)
            .map_err(|e| vec![e])?;
        if target == Datastore::Running || test == TestOption::TestOnly {
            let mut check = if test == TestOption::TestOnly {
                tree::dup(&working)
            } else {
                working
            };
            validate(&mut check).map_err(|e| vec![e])?;
            if test == TestOption::TestOnly {
                return if errors.is_empty() {
                    Ok(())
                } else {
                    Err(errors)
                };
            }
            working = check;
        }
        match target {
            Datastore::Running => {
                self.commit_tree(session, working, None, PendingChange::Keep)
                    .map_err(|e| vec![e])?;
            }
            _ => {
                self.set_candidate(working);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    pub fn copy_config(
        &mut self,
        session: &Session,
        target: Datastore,
        source: &Source,
    ) -> Result<()> {
        self.check_lock(session, target)?;
        let mut t = match source {
            Source::Datastore(ds) => tree::dup(self.tree(*ds)),
            Source::Config(xml) => tree::parse_config_xml(self.ctx, xml)
                .map_err(|e| Error::from_yang(&e, ErrorTag::InvalidValue))?,
        };
        if target != Datastore::Startup {
            self.check_write(session, self.tree(target), &t)?;
        }
        match target {
            Datastore::Running => {
                self.commit_tree(session, t, None, PendingChange::Keep)?;
            }
            Datastore::Candidate => {
                self.set_candidate(t);
            }
            Datastore::Startup => {
                validate(&mut t)?;
                persist::write_atomic(&self.dir.startup(), persist_text(&t).as_bytes()).map_err(
                    |e| {
                        Error::application(
                            ErrorTag::OperationFailed,
                            format!("cannot save startup: {e}"),
                        )
                    },
                )?;
                self.startup = t;
            }
        }
        Ok(())
    }

    pub fn delete_config(&mut self, session: &Session, target: Datastore) -> Result<()> {
        if target != Datastore::Startup {
            return Err(Error::protocol(
                ErrorTag::OperationFailed,
                format!("the {} datastore cannot be deleted", target.as_str()),
            ));
        }
        self.check_lock(session, target)?;
        persist::remove_durable(&self.dir.startup())
            .map_err(|e| Error::application(ErrorTag::OperationFailed, e.to_string()))?;
        self.startup = tree::empty(self.ctx);
        Ok(())
    }

    pub fn lock(&mut self, session: &Session, ds: Datastore) -> Result<()> {
        if let Some((holder, _)) = self.locks[ds.index()] {
            return Err(Error::protocol(
                ErrorTag::LockDenied,
                format!(
                    "the {} datastore is already locked by session {holder}",
                    ds.as_str()
                ),
            )
            .with_info("session-id", holder.to_string()));
        }
        if ds == Datastore::Candidate && self.candidate_dirty {
            return Err(Error::protocol(
                ErrorTag::LockDenied,
                "the candidate has uncommitted changes; commit or discard them first",
            )
            .with_info("session-id", "0"));
        }
        self.locks[ds.index()] = Some((session.id, chrono::Utc::now()));
        Ok(())
    }

    pub fn unlock(&mut self, session: &Session, ds: Datastore) -> Result<()> {
        match self.locks[ds.index()] {
            Some((holder, _)) if holder == session.id => {
                self.locks[ds.index()] = None;
                if ds == Datastore::Candidate && self.candidate_dirty {
                    self.discard_changes();
                }
                Ok(())
            }
            Some((holder, _)) => Err(Error::protocol(
                ErrorTag::LockDenied,
                format!(
                    "the {} datastore is locked by session {holder}",
                    ds.as_str()
                ),
            )
            .with_info("session-id", holder.to_string())),
            None => Err(Error::protocol(
                ErrorTag::OperationFailed,
                format!("the {} datastore is not locked", ds.as_str()),
            )),
        }
    }

    /// Replaces the (not yet validated) candidate with edited data: default
    /// values are filled in so with-defaults modes read it as they read running.
    fn set_candidate(&mut self, mut t: Tree) {
        if let Err(e) = t.add_implicit(yang5::data::DataImplicitFlags::NO_STATE) {
            tracing::warn!("candidate defaults: {e}");
        }
        self.candidate = t;
        self.candidate_dirty = true;
    }

    pub fn discard_changes(&mut self) {
        self.candidate = tree::dup(&self.running);
        self.candidate_dirty = false;
    }

    pub fn validate_source(&self, source: &Source) -> Result<()> {
        let mut t = match source {
            Source::Datastore(ds) => tree::dup(self.tree(*ds)),
            Source::Config(xml) => tree::parse_config_xml(self.ctx, xml)
                .map_err(|e| Error::from_yang(&e, ErrorTag::InvalidValue))?,
        };
        validate(&mut t)
    }

    /// Commits the candidate, handling RFC 6241's confirmed commit: a confirmed
    /// commit starts (or extends) a window; a plain commit, or one with the
    /// matching persist-id, confirms.
    pub fn commit(&mut self, session: &Session, opts: &CommitOptions) -> Result<u32> {
        self.check_lock(session, Datastore::Candidate)?;
        let candidate = tree::dup(&self.candidate);
        self.commit_from(session, candidate, opts)
    }

    /// Commits `candidate` (the shared candidate or a private workspace).
    fn commit_from(
        &mut self,
        session: &Session,
        candidate: Tree,
        opts: &CommitOptions,
    ) -> Result<u32> {
        self.check_lock(session, Datastore::Running)?;
        let comment = opts.comment.clone();
        let Some(pending) = &self.pending else {
            let Some(confirm) = &opts.confirm else {
                return self.commit_tree(session, candidate, comment, PendingChange::Keep);
            };
            let rollback = persist_text(&self.running);
            let id = self.commit_tree(
                session,
                candidate,
                comment,
                PendingChange::Begin(rollback.clone()),
            )?;
            self.pending = Some(Pending {
                rollback,
                persist: confirm.persist.clone(),
                owner: session.id,
                generation: 0,
            });
            self.arm_confirm_timer(confirm.timeout);
            self.confirm_event("start", session, confirm.timeout);
            return Ok(id);
        };
        match &pending.persist {
            _ if opts.force_confirm => {}
            Some(p) if opts.persist_id.as_deref() != Some(p.as_str()) => {
                return Err(Error::protocol(
                    ErrorTag::InvalidValue,
                    "a confirmed commit with persist is pending: give its persist-id",
                )
                .with_info("bad-element", "persist-id"));
            }
            None if pending.owner != session.id => {
                return Err(Error::protocol(
                    ErrorTag::InUse,
                    format!("a confirmed commit of session {} is pending", pending.owner),
                )
                .with_info("session-id", pending.owner.to_string()));
            }
            _ => {}
        }
        match &opts.confirm {
            Some(confirm) => {
                let id = self.commit_tree(session, candidate, comment, PendingChange::Keep)?;
                if let Some(p) = self.pending.as_mut() {
                    if confirm.persist.is_some() {
                        p.persist = confirm.persist.clone();
                    }
                    p.owner = session.id;
                }
                self.arm_confirm_timer(confirm.timeout);
                self.confirm_event("extend", session, confirm.timeout);
                Ok(id)
            }
            None => {
                let id = self.commit_tree(session, candidate, comment, PendingChange::End)?;
                self.pending = None;
                self.confirm_event("complete", session, Duration::ZERO);
                Ok(id)
            }
        }
    }

    pub fn cancel_commit(&mut self, session: &Session, persist_id: Option<&str>) -> Result<()> {
        let Some(pending) = &self.pending else {
            return Err(Error::protocol(
                ErrorTag::OperationFailed,
                "no confirmed commit is pending",
            ));
        };
        match &pending.persist {
            Some(p) if persist_id != Some(p.as_str()) => {
                return Err(Error::protocol(
                    ErrorTag::InvalidValue,
                    "persist-id does not match the pending confirmed commit",
                )
                .with_info("bad-element", "persist-id"));
            }
            None if pending.owner != session.id => {
                return Err(Error::protocol(
                    ErrorTag::OperationFailed,
                    "only the session that made the confirmed commit can cancel it",
                ));
            }
            _ => {}
        }
        self.restore_pending("cancel", session)
    }

    /// Returns to the configuration from before the pending confirmed commit.
    fn restore_pending(&mut self, why: &str, by: &Session) -> Result<()> {
        let Some(pending) = self.pending.take() else {
            return Ok(());
        };
        let t = parse_instance(self.ctx, &pending.rollback)?;
        let comment = format!("confirmed commit rolled back ({why})");
        if let Err(e) = self.commit_tree(&Session::system(), t, Some(comment), PendingChange::End) {
            self.pending = Some(pending);
            return Err(e);
        }
        self.discard_changes();
        self.confirm_event(why, by, Duration::ZERO);
        Ok(())
    }

    fn arm_confirm_timer(&mut self, timeout: Duration) {
        self.generation += 1;
        let generation = self.generation;
        if let Some(p) = self.pending.as_mut() {
            p.generation = generation;
        }
        let (Some(me), Some(rt)) = (self.me.clone(), self.rt.clone()) else {
            return;
        };
        rt.spawn(async move {
            tokio::time::sleep(timeout).await;
            if let Some(tx) = me.upgrade() {
                let job: Job = Box::new(move |a: &mut Actor| a.confirm_timeout(generation));
                let _ = tx.send(job).await;
            }
        });
    }

    fn confirm_timeout(&mut self, generation: u64) {
        if self
            .pending
            .as_ref()
            .is_some_and(|p| p.generation == generation)
            && let Err(e) = self.restore_pending("timeout", &Session::system())
        {
            tracing::error!("confirmed-commit rollback failed: {e}");
        }
    }

    fn confirm_event(&self, what: &str, session: &Session, timeout: Duration) {
        let mut details = vec![
            ("confirm-event".to_string(), what.to_string()),
            ("username".to_string(), session.user.clone()),
            ("session-id".to_string(), session.id.to_string()),
        ];
        if !timeout.is_zero() {
            details.push(("timeout".into(), timeout.as_secs().to_string()));
        }
        let (kind, sev) = match what {
            "start" | "extend" | "complete" => (EventKind::ConfirmedCommit, Severity::Notice),
            _ => (EventKind::CommitRollback, Severity::Warning),
        };
        self.events.publish(
            kind,
            sev,
            "datastore",
            format!("confirmed commit: {what}"),
            details,
        );
    }

    /// Makes the configuration after commit `id` of the history the running one.
    pub fn rollback_to(
        &mut self,
        session: &Session,
        id: u32,
        comment: Option<String>,
    ) -> Result<u32> {
        self.check_lock(session, Datastore::Running)?;
        let text = self.dir.history_config(id).ok_or_else(|| {
            Error::application(
                ErrorTag::InvalidValue,
                format!("commit {id} is not in the rollback history"),
            )
        })?;
        let t = parse_instance(self.ctx, &text)?;
        self.check_write(session, &self.running, &t)?;
        let comment = Some(match comment {
            Some(c) => format!("rollback to {id}: {c}"),
            None => format!("rollback to {id}"),
        });
        self.commit_tree(session, t, comment, PendingChange::Keep)
    }

    /// A management session ended: its locks go, an uncommitted candidate it held
    /// locked is discarded, and its unconfirmed commit (without persist) rolls back.
    pub fn session_end(&mut self, session: &Session) {
        for ds in [Datastore::Running, Datastore::Candidate, Datastore::Startup] {
            if self.locks[ds.index()].is_some_and(|(h, _)| h == session.id) {
                self.locks[ds.index()] = None;
                if ds == Datastore::Candidate && self.candidate_dirty {
                    self.discard_changes();
                }
            }
        }
        if self
            .pending
            .as_ref()
            .is_some_and(|p| p.persist.is_none() && p.owner == session.id)
            && let Err(e) = self.restore_pending("cancel", session)
        {
            tracing::error!("confirmed-commit rollback failed: {e}");
        }
        self.monitoring.remove(session.id);
        self.privates.remove(&session.id);
    }

    fn changes(&self, old: &Tree, new: &Tree) -> Vec<Change> {
        let Ok(diff) = old.diff(new, DataDiffFlags::empty()) else {
            return Vec::new();
        };
        diff.iter()
            .map(|(op, node)| Change {
                op: match op {
                    DataDiffOp::Create => ChangeOp::Create,
                    DataDiffOp::Delete => ChangeOp::Delete,
                    DataDiffOp::Replace => ChangeOp::Replace,
                },
                path: tree::path(&node),
            })
            .collect()
    }

    /// Makes `new` the running configuration: validate, let every concerned service
    /// prepare, persist, then apply. Any refusal or failure changes nothing.
    fn commit_tree(
        &mut self,
        session: &Session,
        mut new: Tree,
        comment: Option<String>,
        pending: PendingChange,
    ) -> Result<u32> {
        validate(&mut new)?;
        let changes = self.changes(&self.running, &new);
        let mut prepared: Vec<Box<dyn Prepared>> = Vec::new();
        for svc in &mut self.services {
            let mine = owned_changes(&changes, &svc.prefixes());
            if mine.is_empty() {
                continue;
            }
            let view = CommitView {
                old: &self.running,
                new: &new,
                changes: &mine,
            };
            match svc.prepare(&view) {
                Ok(p) => prepared.push(p),
                Err(r) => {
                    let mut e = Error::application(
                        ErrorTag::OperationFailed,
                        format!("{}: {}", svc.name(), r.message),
                    );
                    e.path = r.path;
                    return Err(e);
                }
            }
        }
        let io = |e: std::io::Error| {
            Error::application(
                ErrorTag::OperationFailed,
                format!("cannot persist the configuration: {e}"),
            )
        };
        let text = persist_text(&new);
        let begin = matches!(pending, PendingChange::Begin(_));
        match &pending {
            PendingChange::Begin(rollback) => {
                persist::write_atomic(&self.dir.confirmed(), rollback.as_bytes()).map_err(io)?
            }
            PendingChange::End => persist::remove_durable(&self.dir.confirmed()).map_err(io)?,
            PendingChange::Keep => {}
        }
        if let Err(e) = persist::write_atomic(&self.dir.startup(), text.as_bytes()) {
            if begin {
                let _ = persist::remove_durable(&self.dir.confirmed());
            }
            return Err(io(e));
        }
        self.running = new;
        for p in prepared {
            p.apply();
        }
        self.startup = tree::dup(&self.running);
        if !self.candidate_dirty {
            self.candidate = tree::dup(&self.running);
        }
        let id = self.next_commit;
        self.next_commit += 1;
        let record = CommitRecord {
            id,
            time: chrono::Utc::now(),
            user: session.user.clone(),
            face: session.face.as_str().into(),
            comment: comment.unwrap_or_default(),
            confirmed: begin || self.pending.is_some(),
        };
        if let Err(e) = self.dir.push_history(&record, &text) {
            tracing::warn!("rollback history not written: {e}");
        }
        let mut details = vec![
            ("commit-id".to_string(), id.to_string()),
            ("username".to_string(), session.user.clone()),
            ("session-id".to_string(), session.id.to_string()),
            ("face".to_string(), session.face.as_str().to_string()),
            ("datastore".to_string(), "running".to_string()),
        ];
        if let Some(src) = &session.source {
            details.push(("source-host".into(), src.clone()));
        }
        for c in changes.iter().take(256) {
            let op = match c.op {
                ChangeOp::Create => "create",
                ChangeOp::Delete => "delete",
                ChangeOp::Replace => "replace",
            };
            details.push(("edit".into(), format!("{op} {}", c.path)));
        }
        self.events.publish(
            EventKind::ConfigChanged,
            Severity::Notice,
            "datastore",
            format!(
                "commit {id} by {} over {}",
                session.user,
                session.face.as_str()
            ),
            details,
        );
        Ok(id)
    }
}

/// Every configuration subtree has at most one owning service.
fn check_owners(services: &[Box<dyn Service>]) -> std::result::Result<(), String> {
    let claims: Vec<(String, &str)> = services
        .iter()
        .flat_map(|s| s.prefixes().into_iter().map(move |p| (p, s.name())))
        .collect();
    for (i, (a, sa)) in claims.iter().enumerate() {
        for (b, sb) in &claims[i + 1..] {
            if under(a, b) || under(b, a) {
                return Err(format!("services {sa} and {sb} both claim {a} / {b}"));
            }
        }
    }
    Ok(())
}

/// The changes under any of `prefixes`, deletes first.
fn owned_changes(all: &[Change], prefixes: &[String]) -> Vec<Change> {
    let mut mine: Vec<Change> = all
        .iter()
        .filter(|c| {
            prefixes
                .iter()
                .any(|p| under(&c.path, p) || under(p, &c.path))
        })
        .cloned()
        .collect();
    mine.sort_by_key(|c| c.op != ChangeOp::Delete);
    mine
}

/// The top-level nodes (as `/module:name`) a filter can select; `None` for all.
fn filter_tops(filter: &Filter, modules: &HashMap<String, String>) -> Option<Vec<String>> {
    match filter {
        Filter::All | Filter::XPath { .. } => None,
        Filter::Path(p) => {
            let first = p
                .trim_start_matches('/')
                .split(['/', '['])
                .next()
                .unwrap_or("");
            Some(vec![format!("/{first}")])
        }
        Filter::Subtree(el) => Some(
            el.elements()
                .filter_map(|e| modules.get(&e.ns).map(|m| format!("/{m}:{}", e.name)))
                .collect(),
        ),
    }
}

fn add_entries(op: &mut Tree, entries: &StateEntries) {
    for (path, value) in entries {
        if let Err(e) = op.new_path(path, value.as_deref(), false) {
            tracing::warn!("state {path}: {e}");
        }
    }
}

fn add_yang_library(op: &mut Tree, ctx: &'static Context) {
    use yang5::utils::Binding;
    let fmt = std::ffi::CString::new("%u").unwrap();
    unsafe {
        let mut root = std::ptr::null_mut();
        let rc = yang5::ffi::ly_ctx_get_yanglib_data(
            tree::ctx_raw(ctx),
            &mut root,
            fmt.as_ptr(),
            ctx.get_module_set_id() as u32,
        );
        if rc == yang5::ffi::LY_ERR::LY_SUCCESS && !root.is_null() {
            let lib = yang5::data::DataTree::from_raw(ctx, root);
            if let Err(e) = op.merge(&lib) {
                tracing::warn!("yang-library state: {e}");
            }
        }
    }
}
