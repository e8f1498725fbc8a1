//! Reads of the configuration datastores (get-config; the configuration part
//! of a get, whose state the caller adds off this thread).
use super::{Actor, print};
use crate::datastore::access::{self, Purpose};
use crate::datastore::error::Result;
use crate::datastore::tree::Tree;
use crate::datastore::{Datastore, Filter, Session, WithDefaults};

impl Actor {
    pub(crate) fn get_config(
        &self,
        session: &Session,
        ds: Datastore,
        filter: &Filter,
        wd: WithDefaults,
    ) -> Result<String> {
        let policy = self.policy(session, Purpose::Data);
        if matches!(filter, Filter::All) && policy.permits_all(crate::aaa::nacm::Access::Read) {
            return print(self.tree(ds), wd);
        }
        print(
            &access::readable(&policy, self.tree(ds), filter, &self.modules)?,
            wd,
        )
    }

    /// A datastore as the session may read it (for faces that render trees).
    pub(crate) fn config_tree(
        &self,
        session: &Session,
        ds: Datastore,
        filter: &Filter,
    ) -> Result<Tree> {
        let policy = self.policy(session, Purpose::Data);
        access::readable(&policy, self.tree(ds), filter, &self.modules)
    }
}
