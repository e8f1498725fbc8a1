//! The NETCONF writes: edit-config, copy-config, delete-config, validate, and
//! the candidate they edit.
use super::commit::PendingChange;
use super::{Actor, validate};
use crate::datastore::edit::{self, Operation};
use crate::datastore::error::{Error, ErrorTag, Result};
use crate::datastore::persist;
use crate::datastore::tree;
use crate::datastore::{
    Datastore, ErrorOption, PRECONDITION_FAILED, ResourceEdit, Session, Source, TestOption,
};

impl Actor {
    // ----- writes -----

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn edit_config(
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
        self.edit_tree(session, target, &edit, default_op, test, on_error)
    }

    /// Applies a parsed edit (operations as `ietf-netconf:operation` metadata)
    /// to `target`: NACM, validation and, for running, the commit.
    fn edit_tree(
        &mut self,
        session: &Session,
        target: Datastore,
        edit: &tree::Tree,
        default_op: Operation,
        test: TestOption,
        on_error: ErrorOption,
    ) -> std::result::Result<(), Vec<Error>> {
        let mut working = tree::dup(self.tree(target)).map_err(|e| vec![e])?;
        let cont = on_error == ErrorOption::ContinueOnError;
        let errors = edit::apply(&mut working, edit, default_op, cont);
        if !errors.is_empty() && !cont {
            return Err(errors);
        }
        self.check_write(session, self.tree(target), &working)
            .map_err(|e| vec![e])?;
        if target == Datastore::Running || test == TestOption::TestOnly {
            let mut check = if test == TestOption::TestOnly {
                tree::dup(&working).map_err(|e| vec![e])?
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

    /// RESTCONF's edits of resources on running (RFC 8040 section 4, RFC
    /// 8072's YANG Patch): each operation on the node at its `xpath`, in
    /// order, after the entity-tag check, then one commit; all or nothing.
    /// Answers whether each resource existed before. `Err` names the edit at
    /// fault when one is.
    pub(crate) fn edit_resources(
        &mut self,
        session: &Session,
        edits: Vec<ResourceEdit>,
    ) -> std::result::Result<Vec<bool>, (Option<usize>, Vec<Error>)> {
        self.check_lock(session, Datastore::Running)
            .map_err(|e| (None, vec![e]))?;
        let mut working = tree::dup(&self.running).map_err(|e| (None, vec![e]))?;
        let mut existed = Vec::with_capacity(edits.len());
        for (i, edit) in edits.into_iter().enumerate() {
            let at = |e: Error| (Some(i), vec![e]);
            if let Some((top, version)) = &edit.if_version {
                // The datastore's own tag is its generation; a resource's, the
                // version of its top-level node.
                let now = if top.is_empty() {
                    self.generation
                } else {
                    self.shared.versions.read().get(top).copied().unwrap_or(0)
                };
                if now != *version {
                    return Err(at(Error::protocol(
                        ErrorTag::OperationFailed,
                        "the resource changed since its entity-tag was read (If-Match)",
                    )
                    .with_app_tag(PRECONDITION_FAILED)));
                }
            }
            existed.push(edit.xpath.is_empty() || tree::exists(&working, &edit.xpath));
            if edit.op == Operation::Replace && edit.xpath.is_empty() {
                // The whole datastore: RFC 8040's PUT on {+restconf}/data.
                working = match edit.body {
                    Some(b) => b,
                    None => tree::empty(self.ctx),
                };
                continue;
            }
            let body = match (edit.op, edit.body) {
                (_, Some(t)) => t,
                (Operation::Delete | Operation::Remove, None) => {
                    // The node named by its path (a leaf with its value, which
                    // the delete ignores but the parser wants).
                    let value = match tree::find(&working, &edit.xpath) {
                        None if edit.op == Operation::Remove => continue,
                        None => {
                            return Err(at(Error::application(
                                ErrorTag::DataMissing,
                                "the resource does not exist",
                            )
                            .with_path(&edit.xpath)));
                        }
                        Some(n) if n.schema().kind() == yang5::schema::SchemaNodeKind::Leaf => {
                            n.value_canonical()
                        }
                        Some(_) => None,
                    };
                    let mut t = tree::empty(self.ctx);
                    t.new_path(&edit.xpath, value.as_deref(), false)
                        .map_err(|e| at(Error::from_yang(&e, ErrorTag::OperationFailed)))?;
                    t
                }
                _ => tree::empty(self.ctx),
            };
            if !edit.xpath.is_empty() {
                tree::set_operation(&body, &edit.xpath, edit.op).map_err(at)?;
            }
            let errors = edit::apply(&mut working, &body, Operation::Merge, false);
            if !errors.is_empty() {
                return Err((Some(i), errors));
            }
        }
        self.check_write(session, &self.running, &working)
            .map_err(|e| (None, vec![e]))?;
        validate(&mut working).map_err(|e| (None, vec![e]))?;
        self.commit_tree(session, working, None, PendingChange::Keep)
            .map_err(|e| (None, vec![e]))?;
        Ok(existed)
    }

    pub(crate) fn copy_config(
        &mut self,
        session: &Session,
        target: Datastore,
        source: &Source,
    ) -> Result<()> {
        self.check_lock(session, target)?;
        let mut t = match source {
            Source::Datastore(ds) => tree::dup(self.tree(*ds))?,
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
                persist::write_atomic(
                    &self.dir.startup(),
                    super::commit::persist_text(&t, None)?.as_bytes(),
                )
                .map_err(|e| {
                    Error::application(
                        ErrorTag::OperationFailed,
                        format!("cannot save startup: {e}"),
                    )
                })?;
                self.startup = t;
            }
        }
        Ok(())
    }

    pub(crate) fn delete_config(&mut self, session: &Session, target: Datastore) -> Result<()> {
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

    /// Replaces the (not yet validated) candidate with edited data: default
    /// values are filled in so with-defaults modes read it as they read running.
    pub(super) fn set_candidate(&mut self, mut t: tree::Tree) {
        if let Err(e) = t.add_implicit(yang5::data::DataImplicitFlags::NO_STATE) {
            tracing::warn!("candidate defaults: {e}");
        }
        self.candidate = t;
        self.candidate_dirty = true;
    }

    pub(crate) fn discard_changes(&mut self) {
        match tree::dup(&self.running) {
            Ok(t) => self.candidate = t,
            // The candidate keeps its edits; the next discard tries again.
            Err(e) => {
                tracing::error!("discarding the candidate: {e}");
                return;
            }
        }
        self.candidate_dirty = false;
    }

    pub(crate) fn validate_source(&self, source: &Source) -> Result<()> {
        let mut t = match source {
            Source::Datastore(ds) => tree::dup(self.tree(*ds))?,
            Source::Config(xml) => tree::parse_config_xml(self.ctx, xml)
                .map_err(|e| Error::from_yang(&e, ErrorTag::InvalidValue))?,
        };
        validate(&mut t)
    }
}
