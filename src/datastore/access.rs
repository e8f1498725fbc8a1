//! NACM (RFC 8341) as the datastore applies it, whichever face a request came
//! through. Reads are pruned where they are made (any thread); writes and
//! operations are checked by the actor.
use std::collections::HashMap;

use super::error::Result;
use super::filter::{self, Filter};
use super::tree::{self, Tree};
use super::{Face, Session};
use crate::aaa::Aaa;
use crate::aaa::nacm::{Access, Policy};

/// What a request does, for whom NACM applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Reading or writing data.
    Data,
    /// Running an RPC or action, or receiving a notification.
    Exec,
}

/// The rules that apply to a session. Only the appliance itself is
/// unrestricted. SNMP reads and writes of data are authorized by VACM, SNMP's
/// own access control (RFC 7407); the actions an SNMP SET runs are NACM's, for
/// the user named like the SNMP security name.
pub fn policy(aaa: &Aaa, session: &Session, purpose: Purpose) -> Policy {
    match (session.face, purpose) {
        (Face::System, _) | (Face::Snmp, Purpose::Data) => Policy::unrestricted(),
        _ => aaa.current().policy(&session.user),
    }
}

/// What a session may read of a tree, selected by a filter.
pub fn readable(
    policy: &Policy,
    t: &Tree,
    filter: &Filter,
    modules: &HashMap<String, String>,
) -> Result<Tree> {
    let mut selected = filter::select(t, filter, modules)?;
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
