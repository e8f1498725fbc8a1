//! Every request the datastore takes, in one place: what faces and services may
//! ask. Configuration reads and all writes run on the actor; the live state of
//! a `get` is added in the caller's task, on a blocking thread.
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use yang5::data::{Data, DataFormat, DataOperation, DataParserFlags, DataPrinterFlags, DataTree};

use super::access::{self, Purpose};
use super::actor::{ActionCall, Run, Workspace, print};
use super::edit::Operation;
use super::error::{Error, ErrorTag, Result};
use super::persist::CommitRecord;
use super::tree::Tree;
use super::{
    CommitOptions, Datastore, Denied, ErrorOption, Filter, Handle, Session, Source, TestOption,
    WithDefaults,
};
use crate::aaa::nacm::{Access, Policy};
use crate::service::DataPath;

/// What an action or RPC answered.
pub struct ActionOutput {
    /// The output as JSON (an object; empty for none).
    pub value: Value,
    /// The output validated against the schema: the operation's node holding
    /// its output children (for faces that print it).
    pub reply: Option<Tree>,
}

impl ActionOutput {
    /// The output nodes as XML, without the path down to the operation (the
    /// body of NETCONF's `<rpc-reply>`).
    pub fn xml(&self) -> Result<String> {
        let Some(t) = &self.reply else {
            return Ok(String::new());
        };
        let op = t.traverse().find(|n| {
            matches!(
                n.schema().kind(),
                yang5::schema::SchemaNodeKind::Rpc | yang5::schema::SchemaNodeKind::Action
            )
        });
        match op.and_then(|op| op.children().next()) {
            Some(first) => first
                .print_string(
                    DataFormat::XML,
                    DataPrinterFlags::WITH_SIBLINGS | DataPrinterFlags::SHRINK,
                )
                .map_err(|e| Error::from_yang(&e, ErrorTag::OperationFailed)),
            None => Ok(String::new()),
        }
    }
}

impl Handle {
    // ----- reads -----

    /// NACM's rules for a session.
    pub fn policy(&self, session: &Session, purpose: Purpose) -> Policy {
        access::policy(&self.shared.aaa, session, purpose)
    }

    pub async fn get_config(
        &self,
        session: &Session,
        ds: Datastore,
        filter: Filter,
        wd: WithDefaults,
    ) -> Result<String> {
        let s = session.clone();
        self.run(move |a| a.get_config(&s, ds, &filter, wd)).await
    }

    /// A configuration datastore printed as JSON or XML (RESTCONF's whole
    /// datastore).
    pub async fn get_config_as(
        &self,
        session: &Session,
        ds: Datastore,
        filter: Filter,
        wd: WithDefaults,
        format: DataFormat,
    ) -> Result<String> {
        let s = session.clone();
        self.run(move |a| a.get_config_as(&s, ds, &filter, wd, format))
            .await
    }

    /// A configuration datastore as the session may read it.
    pub async fn config_tree(
        &self,
        session: &Session,
        ds: Datastore,
        filter: Filter,
    ) -> Result<Tree> {
        let s = session.clone();
        self.run(move |a| a.config_tree(&s, ds, &filter)).await
    }

    /// The operational view (configuration and state) as the session may read it.
    pub async fn operational_tree(&self, session: &Session, filter: Filter) -> Result<Tree> {
        let f = filter.clone();
        let config = self.run(move |a| a.select(Datastore::Running, &f)).await?;
        let (ctx, shared) = (self.ctx, self.shared.clone());
        let policy = self.policy(session, Purpose::Data);
        tokio::task::spawn_blocking(move || {
            let mut t = config;
            super::operational::add_state(ctx, &shared.registry, &mut t, &filter, &shared.modules)?;
            if matches!(filter, Filter::All) && policy.permits_all(Access::Read) {
                return Ok(t);
            }
            access::readable(&policy, &t, &filter, &shared.modules)
        })
        .await
        .map_err(|_| Error::application(ErrorTag::OperationFailed, "the read failed"))?
    }

    /// NETCONF's `get`: the operational view, printed.
    pub async fn get(&self, session: &Session, filter: Filter, wd: WithDefaults) -> Result<String> {
        let t = self.operational_tree(session, filter).await?;
        tokio::task::spawn_blocking(move || print(&t, wd))
            .await
            .map_err(|_| Error::application(ErrorTag::OperationFailed, "the read failed"))?
    }

    /// A workspace (the shared or a private candidate) as the session may read it.
    pub async fn workspace_tree(
        &self,
        session: &Session,
        ws: Workspace,
        filter: Filter,
    ) -> Result<Tree> {
        let s = session.clone();
        self.run(move |a| a.workspace_view(&s, ws, &filter)).await
    }

    /// The rollback history, oldest first.
    pub fn history(&self) -> Vec<CommitRecord> {
        self.shared.history.read().clone()
    }

    // ----- writes -----

    #[allow(clippy::too_many_arguments)]
    pub async fn edit_config(
        &self,
        session: &Session,
        target: Datastore,
        default_op: Operation,
        test: TestOption,
        on_error: ErrorOption,
        config: String,
    ) -> std::result::Result<(), Vec<Error>> {
        let s = session.clone();
        match self
            .call(move |a| a.edit_config(&s, target, default_op, test, on_error, &config))
            .await
        {
            Ok(r) => r,
            Err(e) => Err(vec![e]),
        }
    }

    /// RESTCONF's edits of resources on running, as one commit; whether each
    /// existed before. `Err` names the edit at fault when one is.
    pub async fn edit_resources(
        &self,
        session: &Session,
        edits: Vec<super::ResourceEdit>,
    ) -> std::result::Result<Vec<bool>, (Option<usize>, Vec<Error>)> {
        let s = session.clone();
        match self.call(move |a| a.edit_resources(&s, edits)).await {
            Ok(r) => r,
            Err(e) => Err((None, vec![e])),
        }
    }

    pub async fn copy_config(
        &self,
        session: &Session,
        target: Datastore,
        source: Source,
    ) -> Result<()> {
        let s = session.clone();
        self.run(move |a| a.copy_config(&s, target, &source)).await
    }

    pub async fn delete_config(&self, session: &Session, target: Datastore) -> Result<()> {
        let s = session.clone();
        self.run(move |a| a.delete_config(&s, target)).await
    }

    pub async fn validate(&self, source: Source) -> Result<()> {
        self.run(move |a| a.validate_source(&source)).await
    }

    pub async fn lock(&self, session: &Session, ds: Datastore) -> Result<()> {
        let s = session.clone();
        self.run(move |a| a.lock(&s, ds)).await
    }

    pub async fn unlock(&self, session: &Session, ds: Datastore) -> Result<()> {
        let s = session.clone();
        self.run(move |a| a.unlock(&s, ds)).await
    }

    /// Commits the candidate (RFC 6241's commit, confirmed or not).
    pub async fn commit(&self, session: &Session, opts: CommitOptions) -> Result<u32> {
        let s = session.clone();
        self.run(move |a| a.commit(&s, &opts)).await
    }

    pub async fn cancel_commit(&self, session: &Session, persist_id: Option<String>) -> Result<()> {
        let s = session.clone();
        self.run(move |a| a.cancel_commit(&s, persist_id.as_deref()))
            .await
    }

    pub async fn discard_changes(&self) -> Result<()> {
        self.call(|a| a.discard_changes()).await
    }

    // ----- workspaces (the CLI) -----

    /// Sets one node by data path (the CLI's `set`).
    pub async fn set_path(
        &self,
        session: &Session,
        ws: Workspace,
        path: String,
        value: Option<String>,
    ) -> Result<()> {
        let s = session.clone();
        self.run(move |a| a.set_path(&s, ws, &path, value.as_deref()))
            .await
    }

    /// Deletes one node by data path (the CLI's `delete`).
    pub async fn delete_path(&self, session: &Session, ws: Workspace, path: String) -> Result<()> {
        let s = session.clone();
        self.run(move |a| a.delete_path(&s, ws, &path)).await
    }

    /// Loads the configuration of `back` commits ago into the workspace.
    pub async fn load_rollback(&self, session: &Session, ws: Workspace, back: usize) -> Result<()> {
        let s = session.clone();
        self.run(move |a| a.load_rollback(&s, ws, back)).await
    }

    pub async fn workspace_commit(
        &self,
        session: &Session,
        ws: Workspace,
        opts: CommitOptions,
    ) -> Result<u32> {
        let s = session.clone();
        self.run(move |a| a.workspace_commit(&s, ws, &opts)).await
    }

    pub async fn workspace_discard(&self, session: &Session, ws: Workspace) -> Result<()> {
        let s = session.clone();
        self.call(move |a| a.workspace_discard(&s, ws)).await
    }

    pub async fn workspace_validate(&self, session: &Session, ws: Workspace) -> Result<()> {
        let s = session.clone();
        self.run(move |a| a.workspace_validate(&s, ws)).await
    }

    /// Leaves a private workspace, dropping its edits.
    pub async fn private_end(&self, session: &Session) -> Result<()> {
        let s = session.clone();
        self.call(move |a| a.private_end(&s)).await
    }

    /// Applies data edits as one commit, all or nothing (SNMP's SET): each edit
    /// sets a leaf (a data path and its value). `Err((Some(i), e))` names the
    /// edit at fault.
    pub async fn commit_edits(
        &self,
        session: &Session,
        edits: Vec<(String, String)>,
        comment: &str,
    ) -> std::result::Result<u32, (Option<usize>, Error)> {
        let s = session.clone();
        let comment = comment.to_string();
        self.call(move |a| {
            for (i, (path, value)) in edits.iter().enumerate() {
                if let Err(e) = a.set_path(&s, Workspace::Private, path, Some(value)) {
                    a.private_end(&s);
                    return Err((Some(i), e));
                }
            }
            let opts = CommitOptions {
                comment: Some(comment),
                ..Default::default()
            };
            let r = a.workspace_commit(&s, Workspace::Private, &opts);
            a.private_end(&s);
            r.map_err(|e| (None, e))
        })
        .await
        .map_err(|e| (None, e))?
    }

    // ----- operations -----

    /// May the session run this RPC?
    pub async fn may_exec(&self, session: &Session, module: &str, name: &str) -> Result<()> {
        let (s, m, n) = (session.clone(), module.to_string(), name.to_string());
        self.run(move |a| a.may_exec(&s, &m, &n)).await
    }

    /// Runs an action or RPC as `session`: validated by the schema, allowed by
    /// NACM, run by the service that owns it; its output validated.
    pub async fn action(&self, session: &Session, call: ActionCall) -> Result<ActionOutput> {
        let s = session.clone();
        let started = self.run(move |a| a.start_action(&s, call)).await?;
        let path = started.request.path.clone();
        let value = match started.run {
            Run::Done(v) => v,
            Run::Handler(h) => h.run(started.request).await.map_err(Error::from)?,
        };
        let value = match value {
            Value::Null => Value::Object(Default::default()),
            v => v,
        };
        let reply = reply_tree(self.ctx, &path, &value)?;
        Ok(ActionOutput { value, reply })
    }

    /// A typed action call: `input` and the output as Rust values.
    pub async fn invoke<I: Serialize, O: DeserializeOwned>(
        &self,
        session: &Session,
        path: DataPath,
        input: &I,
    ) -> Result<O> {
        let input = serde_json::to_value(input).map_err(|e| {
            Error::application(ErrorTag::InvalidValue, format!("action input: {e}"))
        })?;
        let input = match input {
            Value::Null => Value::Object(Default::default()),
            v => v,
        };
        let out = self.action(session, ActionCall::Json(path, input)).await?;
        serde_json::from_value(out.value).map_err(|e| {
            Error::application(ErrorTag::OperationFailed, format!("action output: {e}"))
        })
    }

    // ----- sessions -----

    /// A management session ended: its locks, candidate edits, unconfirmed
    /// commit and private workspace go.
    pub async fn session_end(&self, session: &Session) {
        let s = session.clone();
        let _ = self.call(move |a| a.session_end(&s)).await;
    }

    /// Waits until every request sent before is done (a commit in progress
    /// has written its files).
    pub async fn flush(&self) {
        let _ = self.call(|_| ()).await;
    }

    /// A notification was withheld from a subscriber by NACM.
    pub fn count_denied_notification(&self) {
        Denied::count(&self.shared.denied.notifications);
    }
}

/// The output validated against the schema; `None` when there is none.
fn reply_tree(
    ctx: &'static yang5::context::Context,
    path: &DataPath,
    value: &Value,
) -> Result<Option<Tree>> {
    if value.as_object().is_none_or(|o| o.is_empty()) {
        return Ok(None);
    }
    let doc = path.to_json(value.clone()).to_string();
    let t = DataTree::parse_op_string(
        ctx,
        doc,
        DataFormat::JSON,
        DataParserFlags::STRICT,
        DataOperation::ReplyYang,
    )
    .map_err(|e| {
        let mut err = Error::from_yang(&e, ErrorTag::OperationFailed);
        err.message = format!(
            "the service's output does not fit the schema: {}",
            err.message
        );
        err
    })?;
    Ok(Some(t))
}
