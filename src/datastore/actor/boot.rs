//! Boot: the state dir to a running configuration, the commit history made to
//! hold it, and every service started with it.
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use super::commit::{check_owners, owned_changes};
use super::{Actor, config_doc, parse_instance};
use crate::datastore::Shared;
use crate::datastore::persist::{self, CommitRecord, StateDir};
use crate::datastore::tree::{self, Tree};
use crate::events::{EventBus, EventKind, Payload, Severity};
use crate::service::AnyService;

pub struct BootOptions {
    pub state_dir: PathBuf,
    /// The factory default configuration (XML or JSON instance data).
    pub factory: String,
}

#[derive(Serialize)]
struct StartupInvalid {
    file: String,
    error: String,
}

impl Payload for StartupInvalid {
    const KIND: EventKind = EventKind::StartupConfigInvalid;
    const NOTIFICATION: &'static str = "lifeline-system:startup-config-invalid";
}

#[derive(Serialize)]
struct RolledBack {
    reason: &'static str,
}

impl Payload for RolledBack {
    const KIND: EventKind = EventKind::CommitRollback;
    const NOTIFICATION: &'static str = "lifeline-system:commit-rollback";
}

/// What the boot comes up with, and how the history must record it.
enum Booted {
    /// The startup file, as the commit it names (if it names one).
    Startup(Tree, Option<CommitRecord>),
    /// The configuration from before a confirmed commit that was pending.
    Restored(Tree),
    /// The factory default.
    Factory(Tree),
}

fn boot_error(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl Actor {
    /// Boots the datastore from the state dir: the startup configuration, unless a
    /// confirmed commit was pending at the last stop (then the configuration from
    /// before it), or the factory default when there is none or it is unusable.
    /// The newest commit of the history is then the running configuration, and
    /// commit numbers go on from the highest ever recorded.
    pub fn boot(
        ctx: &'static yang5::context::Context,
        opts: BootOptions,
        events: EventBus,
        shared: Arc<Shared>,
        services: Vec<Box<dyn AnyService>>,
    ) -> Result<Actor, String> {
        let dir = StateDir::open(&opts.state_dir)
            .map_err(|e| format!("state dir {}: {e}", opts.state_dir.display()))?;
        let factory = parse_instance(ctx, &opts.factory)
            .map_err(|e| format!("factory configuration: {e}"))?;
        check_owners(&services)?;
        let booted = Self::choose(ctx, &dir, &events, factory)?;
        let mut history = dir.history();
        let mut next_commit = history.last().map(|r| r.id + 1).unwrap_or(1);
        let (running, record, why) = match booted {
            Booted::Startup(t, rec) => (t, rec, "booted a configuration that no commit recorded"),
            Booted::Restored(t) => (t, None, "confirmed commit rolled back (restart)"),
            Booted::Factory(t) => (t, None, "factory default"),
        };
        if let Some(rec) = &record {
            next_commit = next_commit.max(rec.id + 1);
        }
        let text = super::commit::persist_text(&running, None).map_err(boot_error)?;
        // The history must end with what runs: the commit that startup names
        // (written before the crash that lost its record), or a record of the
        // boot itself when the configuration is not the newest commit's.
        let newest = history
            .last()
            .and_then(|r| dir.history_config(r.id).map(|c| (r.id, c)));
        let recorded = match (&record, &newest) {
            (Some(rec), _) if history.iter().any(|h| h.id == rec.id) => true,
            (None, Some((_, cfg))) => persist::strip_record(cfg) == text,
            _ => false,
        };
        if !recorded {
            let rec = match record {
                Some(rec) => rec,
                None => {
                    let rec = CommitRecord {
                        id: next_commit,
                        time: chrono::Utc::now(),
                        user: "system".into(),
                        face: "system".into(),
                        comment: why.into(),
                        confirmed: false,
                    };
                    next_commit += 1;
                    rec
                }
            };
            let text = super::commit::persist_text(&running, Some(&rec)).map_err(boot_error)?;
            persist::write_atomic(&dir.startup(), text.as_bytes()).map_err(boot_error)?;
            dir.push_history(&rec, &text).map_err(boot_error)?;
            history = dir.history();
            next_commit = next_commit.max(rec.id + 1);
        }
        *shared.history.write() = history;
        let modules = Arc::new(crate::schema::namespaces(ctx));
        let mut actor = Actor {
            ctx,
            modules,
            candidate: tree::dup(&running).map_err(boot_error)?,
            startup: tree::dup(&running).map_err(boot_error)?,
            running,
            candidate_dirty: false,
            locks: [None; 3],
            pending: None,
            timer: 0,
            dir,
            next_commit,
            generation: 0,
            services,
            events,
            shared,
            me: None,
            rt: None,
            privates: HashMap::new(),
        };
        actor.start_services()?;
        Ok(actor)
    }

    fn choose(
        ctx: &'static yang5::context::Context,
        dir: &StateDir,
        events: &EventBus,
        factory: Tree,
    ) -> Result<Booted, String> {
        let confirmed = dir.confirmed();
        if let Ok(text) = std::fs::read_to_string(&confirmed) {
            let restored = parse_instance(ctx, &text);
            persist::remove_durable(&confirmed).map_err(boot_error)?;
            match restored {
                Ok(t) => {
                    events.emit(
                        Severity::Warning,
                        "datastore",
                        "restarted while a confirmed commit was pending: its changes are rolled back",
                        &RolledBack { reason: "restart" },
                    );
                    return Ok(Booted::Restored(t));
                }
                Err(e) => tracing::error!("unusable confirmed-commit rollback file: {e}"),
            }
        }
        let startup = dir.startup();
        match std::fs::read_to_string(&startup) {
            Ok(text) => match parse_instance(ctx, &text) {
                Ok(t) => return Ok(Booted::Startup(t, persist::read_record(&text))),
                Err(e) => {
                    let aside = startup.with_extension(format!(
                        "xml.invalid-{}",
                        chrono::Utc::now().format("%Y%m%dT%H%M%S")
                    ));
                    let _ = std::fs::rename(&startup, &aside);
                    events.emit(
                        Severity::Critical,
                        "datastore",
                        format!(
                            "startup configuration is invalid ({e}); booted the factory default, kept the bad file as {}",
                            aside.display()
                        ),
                        &StartupInvalid {
                            file: aside.display().to_string(),
                            error: e.to_string(),
                        },
                    );
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: {e}", startup.display())),
        }
        Ok(Booted::Factory(factory))
    }

    /// Gives every service the booted configuration, as a commit from nothing.
    fn start_services(&mut self) -> Result<(), String> {
        let doc = config_doc(&self.running).map_err(boot_error)?;
        let all = self
            .changes(&tree::empty(self.ctx), &self.running)
            .map_err(boot_error)?;
        let mut prepared = Vec::new();
        for svc in &mut self.services {
            let mine = owned_changes(&all, &svc.owns(), &svc.watches());
            match svc.prepare_doc(&doc, &mine) {
                Ok(p) => prepared.push(p),
                // The rest of the appliance must come up, to be mended remotely;
                // the operator is told which part of the configuration is not
                // in effect.
                Err(r) => {
                    let error = format!(
                        "service {} refused it: {r} (at {})",
                        svc.name(),
                        r.path.as_deref().unwrap_or("/")
                    );
                    tracing::error!("boot configuration: {error}");
                    self.events.emit(
                        Severity::Critical,
                        "datastore",
                        format!("the boot configuration is not all in effect: {error}"),
                        &StartupInvalid {
                            file: self.dir.startup().display().to_string(),
                            error,
                        },
                    );
                }
            }
        }
        prepared.into_iter().for_each(|p| p.apply());
        self.publish(doc);
        Ok(())
    }
}
