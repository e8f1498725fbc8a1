//! Datastore locks (RFC 6241 section 7.5), and what ends with a session: its
//! locks, an uncommitted candidate it held locked, its unconfirmed commit.
use super::Actor;
use crate::datastore::error::{Error, ErrorTag, Result};
use crate::datastore::{Datastore, Session};

impl Actor {
    /// Fails when another session holds the lock on `ds`.
    pub(super) fn check_lock(&self, session: &Session, ds: Datastore) -> Result<()> {
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

    /// Shows the locks in netconf-monitoring.
    fn publish_locks(&self) {
        self.shared.monitoring.lock().locks = self.locks;
    }

    pub(crate) fn lock(&mut self, session: &Session, ds: Datastore) -> Result<()> {
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
        self.publish_locks();
        Ok(())
    }

    pub(crate) fn unlock(&mut self, session: &Session, ds: Datastore) -> Result<()> {
        match self.locks[ds.index()] {
            Some((holder, _)) if holder == session.id => {
                self.locks[ds.index()] = None;
                self.publish_locks();
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

    /// A management session ended: its locks go, an uncommitted candidate it held
    /// locked is discarded, and its unconfirmed commit (without persist) rolls back.
    pub(crate) fn session_end(&mut self, session: &Session) {
        for ds in [Datastore::Running, Datastore::Candidate, Datastore::Startup] {
            if self.locks[ds.index()].is_some_and(|(h, _)| h == session.id) {
                self.locks[ds.index()] = None;
                if ds == Datastore::Candidate && self.candidate_dirty {
                    self.discard_changes();
                }
            }
        }
        self.publish_locks();
        if self
            .pending
            .as_ref()
            .is_some_and(|p| p.persist.is_none() && p.owner == session.id)
            && let Err(e) = self.restore_pending("cancel", session)
        {
            tracing::error!("confirmed-commit rollback failed: {e}");
        }
        self.shared.monitoring.lock().remove(session.id);
        self.privates.remove(&session.id);
    }
}
