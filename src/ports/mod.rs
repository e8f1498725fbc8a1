//! The console port manager: serial consoles reached over SSH, Telnet, raw TCP
//! and RFC 2217, fanned out to several sessions, with transcripts, permissions
//! from the user's groups and the escape menu.
pub mod config;
pub mod console;
pub mod escape;
pub mod fuzz;
pub mod net;
pub mod port;
pub mod rfc2217;
pub mod serial;
mod service;
pub mod sim;
pub mod telnet;
pub mod transcript;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::RwLock;

use crate::aaa::{Aaa, Access};
use crate::datastore::Handle;
use config::PortConfig;
use port::Port;
use serial::Opener;

pub use service::PortsService;

/// The ports at run time, shared by the service and the faces.
pub struct Manager {
    ports: RwLock<BTreeMap<String, Arc<Port>>>,
    next_session: AtomicU32,
    pub ds: Handle,
    opener: Arc<dyn Opener>,
    transcripts: PathBuf,
    aaa: Aaa,
}

impl Manager {
    pub fn new(ds: Handle, opener: Arc<dyn Opener>, state_dir: &std::path::Path) -> Arc<Manager> {
        Arc::new(Manager {
            ports: RwLock::default(),
            next_session: AtomicU32::new(1),
            opener,
            transcripts: state_dir.join("transcripts"),
            aaa: ds.aaa().clone(),
            ds,
        })
    }

    pub fn transcript_dir(&self) -> &std::path::Path {
        &self.transcripts
    }

    pub fn next_session_id(&self) -> u32 {
        self.next_session.fetch_add(1, Ordering::Relaxed)
    }

    /// Every port, in name order.
    pub fn all(&self) -> Vec<Arc<Port>> {
        self.ports.read().values().cloned().collect()
    }

    pub fn get(&self, name: &str) -> Option<Arc<Port>> {
        self.ports.read().get(name).cloned()
    }

    /// A port by name, label or number (what `user:TARGET` and the chooser accept).
    pub fn find(&self, target: &str) -> Option<Arc<Port>> {
        let ports = self.ports.read();
        if let Some(p) = ports.get(target) {
            return Some(p.clone());
        }
        let by = |f: &dyn Fn(&PortConfig) -> bool| ports.values().find(|p| f(&p.config())).cloned();
        by(&|c| c.label.as_deref() == Some(target)).or_else(|| {
            let n: u16 = target.trim_start_matches("port").parse().ok()?;
            by(&|c| c.number == n)
        })
    }

    /// Closes every session with a notice, and makes the transcripts durable.
    pub fn shutdown(&self, why: &str) {
        for p in self.all() {
            p.shutdown(why);
        }
    }

    /// What `user` may do on `port`, as the users and groups are now.
    pub fn access(&self, user: &str, port: &Port) -> Access {
        self.aaa
            .current()
            .console_access(user, &port.config().groups)
    }

    /// The ports `user` may use, with the access of each.
    pub fn visible(&self, user: &str) -> Vec<(Arc<Port>, Access)> {
        let dir = self.aaa.current();
        self.all()
            .into_iter()
            .map(|p| {
                let a = dir.console_access(user, &p.config().groups);
                (p, a)
            })
            .filter(|(_, a)| *a != Access::None)
            .collect()
    }

    pub fn check_password(&self, user: &str, password: &str) -> bool {
        self.aaa.current().check_password(user, password)
    }
}
