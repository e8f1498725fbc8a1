//! NACM on writes and operations, with the denied-* counters.
use super::Actor;
use crate::aaa::nacm::{Access, Policy};
use crate::datastore::access::{self, Purpose};
use crate::datastore::error::{Error, ErrorTag, Result};
use crate::datastore::tree::{self, Tree};
use crate::datastore::{Denied, Session};
use crate::service::ChangeOp;

impl Actor {
    pub(super) fn policy(&self, session: &Session, purpose: Purpose) -> Policy {
        access::policy(&self.shared.aaa, session, purpose)
    }

    /// May the session run this RPC or action?
    pub(crate) fn may_exec(&self, session: &Session, module: &str, name: &str) -> Result<()> {
        let schema = self.ctx.find_path(&format!("/{module}:{name}")).ok();
        if self
            .policy(session, Purpose::Exec)
            .may_exec(module, name, schema.as_ref())
        {
            Ok(())
        } else {
            Denied::count(&self.shared.denied.operations);
            Err(Error::protocol(
                ErrorTag::AccessDenied,
                format!("{} may not run {module}:{name}", session.user),
            ))
        }
    }

    /// Fails unless the session may make every change from `old` to `new`.
    pub(super) fn check_write(&self, session: &Session, old: &Tree, new: &Tree) -> Result<()> {
        let policy = self.policy(session, Purpose::Data);
        if [Access::Create, Access::Update, Access::Delete]
            .iter()
            .all(|a| policy.permits_all(*a))
        {
            return Ok(());
        }
        let in_new = policy.data_checker(new);
        let in_old = policy.data_checker(old);
        for c in self.changes(old, new)? {
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
                Denied::count(&self.shared.denied.data_writes);
                return Err(Error::application(
                    ErrorTag::AccessDenied,
                    format!("{} may not change this data", session.user),
                )
                .with_path(tree::path(&n)));
            }
        }
        Ok(())
    }
}
