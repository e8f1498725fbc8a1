//! The NETCONF writes: edit-config, copy-config, delete-config, validate, and
//! the candidate they edit.
use super::commit::PendingChange;
use super::{Actor, validate};
use crate::datastore::edit::{self, Operation};
use crate::datastore::error::{Error, ErrorTag, Result};
use crate::datastore::persist;
use crate::datastore::tree;
use crate::datastore::{Datastore, ErrorOption, Session, Source, TestOption};

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
        let mut working = tree::dup(self.tree(target)).map_err(|e| vec![e])?;
        let cont = on_error == ErrorOption::ContinueOnError;
        let errors = edit::apply(&mut working, &edit, default_op, cont);
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
