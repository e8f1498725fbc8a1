//! The commit pipeline: validate the whole new configuration, compute the
//! changes, let every concerned service prepare from its typed configuration,
//! persist (startup file headed by the commit's record, then the history), and
//! only then apply. Any refusal or libyang failure fails the commit with an
//! rpc-error and changes nothing.
use serde::Serialize;
use yang5::data::{DataDiffFlags, DataDiffOp};

use super::{Actor, config_doc, print, under, validate};
use crate::datastore::error::{Error, ErrorTag, Result};
use crate::datastore::persist::{self, CommitRecord};
use crate::datastore::tree::{self, Tree};
use crate::datastore::{Session, WithDefaults};
use crate::events::{EventKind, Payload, Severity};
use crate::service::{AnyService, Change, ChangeOp, ConfigDoc, Prepared};

/// What a commit does to the persisted confirmed-commit state, before the new
/// configuration is persisted.
pub(super) enum PendingChange {
    Keep,
    Begin(String),
    End,
}

/// The text a configuration is persisted as: one XML document, headed by its
/// commit's record when it is a commit's.
pub(super) fn persist_text(t: &Tree, record: Option<&CommitRecord>) -> Result<String> {
    let text = format!(
        "<config xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\">{}</config>\n",
        print(t, WithDefaults::Explicit)?
    );
    Ok(match record {
        Some(r) => persist::with_record(r, &text),
        None => text,
    })
}

/// RFC 6470's netconf-config-change.
#[derive(Serialize)]
pub(super) struct ConfigChange {
    #[serde(rename = "changed-by")]
    pub changed_by: ChangedBy,
    pub datastore: &'static str,
    pub edit: Vec<Edit>,
}

#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum ChangedBy {
    Server {
        server: crate::service::config::Empty,
    },
    User {
        username: String,
        #[serde(rename = "session-id")]
        session_id: u32,
        #[serde(rename = "source-host", skip_serializing_if = "Option::is_none")]
        source_host: Option<String>,
    },
}

impl ChangedBy {
    pub fn of(s: &Session) -> ChangedBy {
        if s.id == 0 {
            ChangedBy::Server {
                server: crate::service::config::Empty,
            }
        } else {
            ChangedBy::User {
                username: s.user.clone(),
                session_id: s.id,
                source_host: s.source.clone(),
            }
        }
    }
}

#[derive(Serialize)]
pub(super) struct Edit {
    pub target: String,
    pub operation: &'static str,
}

impl Payload for ConfigChange {
    const KIND: EventKind = EventKind::ConfigChanged;
    const NOTIFICATION: &'static str = "ietf-netconf-notifications:netconf-config-change";
}

/// Every configuration subtree has at most one owning service.
pub(super) fn check_owners(services: &[Box<dyn AnyService>]) -> std::result::Result<(), String> {
    let claims: Vec<(&str, &str)> = services
        .iter()
        .flat_map(|s| s.owns().into_iter().map(move |p| (p, s.name())))
        .collect();
    for (i, (a, sa)) in claims.iter().enumerate() {
        for (b, sb) in &claims[i + 1..] {
            if under(a, b) || under(b, a) {
                return Err(format!("services {sa} and {sb} both own {a} / {b}"));
            }
        }
    }
    Ok(())
}

/// The changes under any of the prefixes, deletes first.
pub(super) fn owned_changes(all: &[Change], owns: &[&str], watches: &[&str]) -> Vec<Change> {
    let mut mine: Vec<Change> = all
        .iter()
        .filter(|c| {
            owns.iter()
                .chain(watches)
                .any(|p| under(&c.path, p) || under(p, &c.path))
        })
        .cloned()
        .collect();
    mine.sort_by_key(|c| c.op != ChangeOp::Delete);
    mine
}

impl Actor {
    /// The changes from `old` to `new`; a diff libyang cannot make is an error.
    pub(super) fn changes(&self, old: &Tree, new: &Tree) -> Result<Vec<Change>> {
        let diff = old
            .diff(new, DataDiffFlags::empty())
            .map_err(|e| Error::from_yang(&e, ErrorTag::OperationFailed))?;
        Ok(diff
            .iter()
            .map(|(op, node)| Change {
                op: match op {
                    DataDiffOp::Create => ChangeOp::Create,
                    DataDiffOp::Delete => ChangeOp::Delete,
                    DataDiffOp::Replace => ChangeOp::Replace,
                },
                path: tree::path(&node),
            })
            .collect())
    }

    /// Publishes the running configuration to readers that do not wait for
    /// the actor (faces, the SNMP agent).
    pub(super) fn publish(&mut self, doc: ConfigDoc) {
        self.generation += 1;
        {
            let old = self.shared.running.read().0.json.clone();
            let mut versions = self.shared.versions.write();
            let empty = serde_json::Map::new();
            let (a, b) = (
                old.as_object().unwrap_or(&empty),
                doc.json.as_object().unwrap_or(&empty),
            );
            let tops: std::collections::HashSet<&String> = a.keys().chain(b.keys()).collect();
            for top in tops {
                if a.get(top) != b.get(top) {
                    *versions.entry(top.clone()).or_default() += 1;
                }
            }
        }
        *self.shared.running.write() = (doc, self.generation);
        self.shared
            .generation
            .store(self.generation, std::sync::atomic::Ordering::Release);
    }

    /// Makes `new` the running configuration: validate, let every concerned service
    /// prepare, persist, then apply. Any refusal or failure changes nothing.
    pub(super) fn commit_tree(
        &mut self,
        session: &Session,
        mut new: Tree,
        comment: Option<String>,
        pending: PendingChange,
    ) -> Result<u32> {
        validate(&mut new)?;
        let changes = self.changes(&self.running, &new)?;
        let doc = config_doc(&new)?;
        let mut prepared: Vec<Box<dyn Prepared>> = Vec::new();
        for svc in &mut self.services {
            let mine = owned_changes(&changes, &svc.owns(), &svc.watches());
            if mine.is_empty() {
                continue;
            }
            match svc.prepare_doc(&doc, &mine) {
                Ok(p) => prepared.push(p),
                Err(r) => {
                    let mut e = Error::from(r);
                    e.message = format!("{}: {}", svc.name(), e.message);
                    return Err(e);
                }
            }
        }
        let begin = matches!(pending, PendingChange::Begin(_));
        let record = CommitRecord {
            id: self.next_commit,
            time: chrono::Utc::now(),
            user: session.user.clone(),
            face: session.face.as_str().into(),
            comment: comment.unwrap_or_default(),
            confirmed: begin || self.pending.is_some(),
        };
        let text = persist_text(&new, Some(&record))?;
        let candidate = if self.candidate_dirty {
            None
        } else {
            Some(tree::dup(&new)?)
        };
        let startup = tree::dup(&new)?;
        let io = |e: std::io::Error| {
            Error::application(
                ErrorTag::OperationFailed,
                format!("cannot persist the configuration: {e}"),
            )
        };
        match &pending {
            PendingChange::Begin(rollback) => {
                persist::write_atomic(&self.dir.confirmed(), rollback.as_bytes()).map_err(io)?
            }
            PendingChange::End => persist::remove_durable(&self.dir.confirmed()).map_err(io)?,
            PendingChange::Keep => {}
        }
        // The commit's one durable step: the startup file, headed by its record.
        if let Err(e) = persist::write_atomic(&self.dir.startup(), text.as_bytes()) {
            if begin {
                let _ = persist::remove_durable(&self.dir.confirmed());
            }
            return Err(io(e));
        }
        self.running = new;
        self.publish(doc);
        for p in prepared {
            p.apply();
        }
        self.startup = startup;
        if let Some(c) = candidate {
            self.candidate = c;
        }
        let id = record.id;
        self.next_commit += 1;
        // A crash before this is mended at boot from the startup file's record.
        match self.dir.push_history(&record, &text) {
            Ok(()) => *self.shared.history.write() = self.dir.history(),
            Err(e) => tracing::warn!("rollback history not written (the next boot will): {e}"),
        }
        let payload = ConfigChange {
            changed_by: ChangedBy::of(session),
            datastore: "running",
            edit: changes
                .iter()
                .take(256)
                .map(|c| Edit {
                    target: c.path.clone(),
                    operation: c.op.as_str(),
                })
                .collect(),
        };
        self.events.emit(
            Severity::Notice,
            "datastore",
            format!(
                "commit {id} by {} over {}",
                session.user,
                session.face.as_str()
            ),
            &payload,
        );
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datastore::{BootOptions, Session};

    fn actor(dir: &std::path::Path) -> Actor {
        let ctx = crate::schema::build(&[]).unwrap();
        let events = crate::events::EventBus::new(16);
        let (ds, _mailbox) = crate::datastore::channel(
            ctx,
            events.clone(),
            crate::aaa::Aaa::new(),
            crate::service::Registry::new(),
        );
        let factory = r#"<system xmlns="urn:ietf:params:xml:ns:yang:ietf-system"><hostname>before</hostname></system>"#;
        Actor::boot(
            ctx,
            BootOptions {
                state_dir: dir.to_path_buf(),
                factory: factory.into(),
            },
            events,
            ds.shared.clone(),
            Vec::new(),
        )
        .unwrap()
    }

    #[test]
    fn a_print_failure_fails_the_commit_and_changes_nothing() {
        let dir = std::env::temp_dir().join(format!("ll-commit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut a = actor(&dir);
        let startup = std::fs::read_to_string(dir.join("startup.xml")).unwrap();
        let history = a.dir.history();
        let mut new = tree::dup(&a.running).unwrap();
        new.new_path("/ietf-system:system/hostname", Some("after"), false)
            .unwrap();
        tree::FAIL_PRINTS.with(|f| f.set(true));
        let r = a.commit_tree(&Session::system(), new, None, PendingChange::Keep);
        tree::FAIL_PRINTS.with(|f| f.set(false));
        let e = r.unwrap_err();
        assert!(e.message.contains("printing the data failed"), "{e:?}");
        assert_eq!(
            std::fs::read_to_string(dir.join("startup.xml")).unwrap(),
            startup
        );
        assert_eq!(a.dir.history(), history);
        assert!(
            print(&a.running, crate::datastore::WithDefaults::Explicit)
                .unwrap()
                .contains("before")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_lost_history_record_is_recovered_from_startup_at_boot() {
        let dir = std::env::temp_dir().join(format!("ll-recover-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut a = actor(&dir);
        let mut new = tree::dup(&a.running).unwrap();
        new.new_path("/ietf-system:system/hostname", Some("after"), false)
            .unwrap();
        let id = a
            .commit_tree(
                &Session::system(),
                new,
                Some("c".into()),
                PendingChange::Keep,
            )
            .unwrap();
        drop(a);
        // As if killed between the startup file and the history record.
        std::fs::remove_file(dir.join("history").join(format!("{id:08}.meta"))).unwrap();
        let a = actor(&dir);
        let h = a.dir.history();
        let newest = h.last().unwrap();
        assert_eq!((newest.id, newest.comment.as_str()), (id, "c"));
        assert_eq!(a.next_commit, id + 1);
        let cfg = a.dir.history_config(id).unwrap();
        assert!(cfg.contains("after"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
