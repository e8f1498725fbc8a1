//! YANG actions and RPCs: the request is parsed and validated against the
//! schema (its input's defaults filled in), NACM decides for the caller, and the
//! handler the owning service registered is returned to run off this thread.
//! The datastore's own RPC (`lifeline-system:rollback`) runs here.
use std::sync::Arc;

use serde_json::Value;
use yang5::data::{DataFormat, DataImplicitFlags, DataOperation, DataParserFlags, DataTree};
use yang5::schema::{SchemaNodeKind, SchemaPathFormat};

use super::Actor;
use super::commit::PendingChange;
use crate::datastore::access::Purpose;
use crate::datastore::error::{Error, ErrorTag, Result};
use crate::datastore::tree;
use crate::datastore::{Datastore, Denied, Face, Session};
use crate::service::{ActionHandler, ActionRequest, DataPath};

/// An action or RPC as a caller gives it.
pub enum ActionCall {
    /// The RPC element, or for an action the data path down to it, as XML
    /// (NETCONF's form).
    Xml(String),
    /// The action's data path and its input.
    Json(DataPath, Value),
}

/// A checked request, ready to run.
pub struct Started {
    pub run: Run,
    pub request: ActionRequest,
}

pub enum Run {
    Handler(Arc<dyn ActionHandler>),
    /// Already done here (the datastore's own RPCs): the output.
    Done(Value),
}

impl Actor {
    pub(crate) fn start_action(&mut self, session: &Session, call: ActionCall) -> Result<Started> {
        let (text, format) = match call {
            ActionCall::Xml(xml) => (xml, DataFormat::XML),
            ActionCall::Json(path, input) => (path.to_json(input).to_string(), DataFormat::JSON),
        };
        let mut req = DataTree::parse_op_string(
            self.ctx,
            text,
            format,
            DataParserFlags::STRICT,
            DataOperation::RpcYang,
        )
        .map_err(|e| Error::from_yang(&e, ErrorTag::InvalidValue))?;
        if let Err(e) = req.add_implicit(DataImplicitFlags::empty()) {
            return Err(Error::from_yang(&e, ErrorTag::OperationFailed));
        }
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
        let denied = || {
            Denied::count(&self.shared.denied.operations);
            Error::protocol(
                ErrorTag::AccessDenied,
                format!(
                    "{} may not run {}:{}",
                    session.user,
                    module.name(),
                    schema.name()
                ),
            )
        };
        // Actions are always someone's: the appliance itself runs none.
        if session.face == Face::System
            || !self.policy(session, Purpose::Exec).may_exec(
                module.name(),
                schema.name(),
                Some(&schema),
            )
        {
            return Err(denied());
        }
        let path_text = tree::path(&op);
        let path = DataPath::parse(&path_text).ok_or_else(|| {
            Error::application(
                ErrorTag::OperationFailed,
                "the action's path does not parse",
            )
            .with_path(path_text.as_str())
        })?;
        let input = input_json(&req, &path)?;
        let schema_path = schema.path(SchemaPathFormat::DATA);
        let request = ActionRequest {
            path,
            input,
            user: session.user.clone(),
        };
        if schema_path == "/lifeline-system:rollback" {
            let id = request
                .input
                .get("id")
                .and_then(|v| v.as_u64())
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| Error::protocol(ErrorTag::MissingElement, "rollback needs an id"))?;
            let comment = request
                .input
                .get("comment")
                .and_then(|v| v.as_str())
                .map(str::to_string);
            let commit = self.rollback_to(session, id, comment)?;
            return Ok(Started {
                run: Run::Done(serde_json::json!({ "commit-id": commit })),
                request,
            });
        }
        match self.shared.registry.action(&schema_path) {
            Some(h) => Ok(Started {
                run: Run::Handler(h),
                request,
            }),
            None => Err(Error::protocol(
                ErrorTag::OperationNotSupported,
                format!(
                    "{}:{} is not available on this appliance yet",
                    module.name(),
                    schema.name()
                ),
            )),
        }
    }

    /// Makes the configuration after commit `id` of the history the running one.
    pub(crate) fn rollback_to(
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
        let t = super::parse_instance(self.ctx, &text)?;
        self.check_write(session, &self.running, &t)?;
        let comment = Some(match comment {
            Some(c) => format!("rollback to {id}: {c}"),
            None => format!("rollback to {id}"),
        });
        self.commit_tree(session, t, comment, PendingChange::Keep)
    }
}

/// The input of the operation in `req`, as JSON (an object; empty without input).
fn input_json(req: &tree::Tree, path: &DataPath) -> Result<Value> {
    let text = tree::print(
        req,
        DataFormat::JSON,
        yang5::data::DataPrinterFlags::WITH_SIBLINGS
            | yang5::data::DataPrinterFlags::WD_ALL
            | yang5::data::DataPrinterFlags::SHRINK,
    )?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| {
        Error::application(
            ErrorTag::OperationFailed,
            format!("the request did not print as JSON: {e}"),
        )
    })?;
    Ok(follow(&doc, path)
        .cloned()
        .unwrap_or_else(|| Value::Object(Default::default())))
}

/// The object at the end of `path` in a document shaped like `path.to_json`.
pub(crate) fn follow<'v>(doc: &'v Value, path: &DataPath) -> Option<&'v Value> {
    crate::service::config::lookup(doc, &path.to_string())
}
