//! RFC 6241's confirmed commit: a commit that rolls back unless confirmed in
//! time, across a restart too (the configuration to return to is kept in the
//! state dir while the window is open).
use std::time::Duration;

use serde::Serialize;

use super::commit::PendingChange;
use super::{Actor, Pending, parse_instance};
use crate::datastore::error::{Error, ErrorTag, Result};
use crate::datastore::tree;
use crate::datastore::{CommitOptions, Datastore, Session};
use crate::events::{EventKind, Payload, Severity};

/// RFC 6470's netconf-confirmed-commit.
#[derive(Serialize)]
struct ConfirmedCommit {
    username: String,
    #[serde(rename = "session-id")]
    session_id: u32,
    #[serde(rename = "source-host", skip_serializing_if = "Option::is_none")]
    source_host: Option<String>,
    #[serde(rename = "confirm-event")]
    confirm_event: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<u64>,
}

/// Start, extend and complete are confirmed-commit events; cancel and timeout
/// roll back.
struct Confirmed(ConfirmedCommit);
struct RolledBack(ConfirmedCommit);

impl Serialize for Confirmed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl Serialize for RolledBack {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl Payload for Confirmed {
    const KIND: EventKind = EventKind::ConfirmedCommit;
    const NOTIFICATION: &'static str = "ietf-netconf-notifications:netconf-confirmed-commit";
}

impl Payload for RolledBack {
    const KIND: EventKind = EventKind::CommitRollback;
    const NOTIFICATION: &'static str = "ietf-netconf-notifications:netconf-confirmed-commit";
}

impl Actor {
    /// Commits the candidate, handling RFC 6241's confirmed commit: a confirmed
    /// commit starts (or extends) a window; a plain commit, or one with the
    /// matching persist-id, confirms.
    pub(crate) fn commit(&mut self, session: &Session, opts: &CommitOptions) -> Result<u32> {
        self.check_lock(session, Datastore::Candidate)?;
        let candidate = tree::dup(&self.candidate)?;
        self.commit_from(session, candidate, opts)
    }

    /// Commits `candidate` (the shared candidate or a private workspace).
    pub(super) fn commit_from(
        &mut self,
        session: &Session,
        candidate: tree::Tree,
        opts: &CommitOptions,
    ) -> Result<u32> {
        self.check_lock(session, Datastore::Running)?;
        let comment = opts.comment.clone();
        let Some(pending) = &self.pending else {
            let Some(confirm) = &opts.confirm else {
                return self.commit_tree(session, candidate, comment, PendingChange::Keep);
            };
            let rollback = super::commit::persist_text(&self.running, None)?;
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
                timer: 0,
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

    pub(crate) fn cancel_commit(
        &mut self,
        session: &Session,
        persist_id: Option<&str>,
    ) -> Result<()> {
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
    pub(super) fn restore_pending(&mut self, why: &'static str, by: &Session) -> Result<()> {
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
        self.timer += 1;
        let timer = self.timer;
        if let Some(p) = self.pending.as_mut() {
            p.timer = timer;
        }
        self.after(timeout, move |a| a.confirm_timeout(timer));
    }

    fn confirm_timeout(&mut self, timer: u64) {
        if self.pending.as_ref().is_some_and(|p| p.timer == timer)
            && let Err(e) = self.restore_pending("timeout", &Session::system())
        {
            tracing::error!("confirmed-commit rollback failed: {e}");
        }
    }

    fn confirm_event(&self, what: &'static str, session: &Session, timeout: Duration) {
        let c = ConfirmedCommit {
            username: session.user.clone(),
            session_id: session.id,
            source_host: session.source.clone(),
            confirm_event: what,
            timeout: (!timeout.is_zero()).then_some(timeout.as_secs()),
        };
        let message = format!("confirmed commit: {what}");
        match what {
            "start" | "extend" | "complete" => {
                self.events
                    .emit(Severity::Notice, "datastore", message, &Confirmed(c))
            }
            _ => self
                .events
                .emit(Severity::Warning, "datastore", message, &RolledBack(c)),
        };
    }
}
