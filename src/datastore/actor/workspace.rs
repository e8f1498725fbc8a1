//! Where the CLI's configuration edits go: the shared candidate, or a private
//! workspace whose edits are replayed on the running configuration of the
//! moment at commit, so other sessions' commits merge in.
use super::{Actor, parse_instance, validate};
use crate::datastore::access::{self, Purpose};
use crate::datastore::error::{Error, ErrorTag, Result};
use crate::datastore::tree::{self, Tree};
use crate::datastore::{CommitOptions, Datastore, Filter, Session};

/// Where the CLI's configuration edits go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workspace {
    /// The shared candidate datastore.
    Shared,
    /// The session's own copy.
    Private,
}

/// An edit of a private workspace.
pub(super) enum WorkEdit {
    Set(String, Option<String>),
    Delete(String),
    Load(String),
}

impl Actor {
    /// The configuration a workspace holds now.
    pub(crate) fn workspace_tree(&self, session: &Session, ws: Workspace) -> Result<Tree> {
        match ws {
            Workspace::Shared => tree::dup(&self.candidate),
            Workspace::Private => {
                let mut t = tree::dup(&self.running)?;
                for e in self.privates.get(&session.id).into_iter().flatten() {
                    self.apply_work_edit(&mut t, e)?;
                }
                Ok(t)
            }
        }
    }

    /// A workspace as the session may read it, selected by a filter.
    pub(crate) fn workspace_view(
        &self,
        session: &Session,
        ws: Workspace,
        filter: &Filter,
    ) -> Result<Tree> {
        let t = self.workspace_tree(session, ws)?;
        let policy = self.policy(session, Purpose::Data);
        access::readable(&policy, &t, filter, &self.modules)
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
        let mut after = tree::dup(&before)?;
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
    pub(crate) fn set_path(
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
    pub(crate) fn delete_path(
        &mut self,
        session: &Session,
        ws: Workspace,
        path: &str,
    ) -> Result<()> {
        self.workspace_edit(session, ws, WorkEdit::Delete(path.into()))
    }

    /// Loads the configuration of `back` commits ago (the CLI's `rollback N`; 0
    /// is the running configuration).
    pub(crate) fn load_rollback(
        &mut self,
        session: &Session,
        ws: Workspace,
        back: usize,
    ) -> Result<()> {
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
    pub(crate) fn workspace_commit(
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

    pub(crate) fn workspace_discard(&mut self, session: &Session, ws: Workspace) {
        match ws {
            Workspace::Shared => self.discard_changes(),
            Workspace::Private => {
                self.privates.remove(&session.id);
            }
        }
    }

    pub(crate) fn workspace_validate(&self, session: &Session, ws: Workspace) -> Result<()> {
        validate(&mut self.workspace_tree(session, ws)?)
    }

    /// Leaves a private workspace, dropping its edits.
    pub(crate) fn private_end(&mut self, session: &Session) {
        self.privates.remove(&session.id);
    }
}
