//! Reads of the configuration datastores (get-config; the configuration part
//! of a get, whose state the caller adds off this thread).
use yang5::data::DataFormat;

use super::{Actor, print_as};
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
        self.get_config_as(session, ds, filter, wd, DataFormat::XML)
    }

    /// A configuration datastore printed in `format`, as the session may read
    /// it; printed in place when the session may read all of it.
    pub(crate) fn get_config_as(
        &self,
        session: &Session,
        ds: Datastore,
        filter: &Filter,
        wd: WithDefaults,
        format: DataFormat,
    ) -> Result<String> {
        let policy = self.policy(session, Purpose::Data);
        if matches!(filter, Filter::All) && policy.permits_all(crate::aaa::nacm::Access::Read) {
            return print_as(self.tree(ds), wd, format);
        }
        print_as(
            &access::readable(&policy, self.tree(ds), filter, &self.modules)?,
            wd,
            format,
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
