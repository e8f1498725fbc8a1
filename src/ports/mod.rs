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
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use crate::aaa::{self, Access};
use crate::datastore::Handle;
use crate::northbound::ssh::SshServer;
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
    ssh: OnceLock<Arc<SshServer>>,
}

impl Manager {
    pub fn new(ds: Handle, opener: Arc<dyn Opener>, state_dir: &std::path::Path) -> Arc<Manager> {
        Arc::new(Manager {
            ports: RwLock::default(),
            next_session: AtomicU32::new(1),
            ds,
            opener,
            transcripts: state_dir.join("transcripts"),
            ssh: OnceLock::new(),
        })
    }

    /// The SSH server the per-port SSH listeners hand their connections to.
    pub fn set_ssh(&self, ssh: Arc<SshServer>) {
        let _ = self.ssh.set(ssh);
    }

    pub fn transcript_dir(&self) -> &std::path::Path {
        &self.transcripts
    }

    pub fn next_session_id(&self) -> u32 {
        self.next_session.fetch_add(1, Ordering::Relaxed)
    }

    /// Every port, in name order.
    pub fn all(&self) -> Vec<Arc<Port>> {
        self.ports.read().unwrap().values().cloned().collect()
    }

    pub fn get(&self, name: &str) -> Option<Arc<Port>> {
        self.ports.read().unwrap().get(name).cloned()
    }

    /// A port by name, label or number (what `user:TARGET` and the chooser accept).
    pub fn find(&self, target: &str) -> Option<Arc<Port>> {
        let ports = self.ports.read().unwrap();
        if let Some(p) = ports.get(target) {
            return Some(p.clone());
        }
        let by = |f: &dyn Fn(&PortConfig) -> bool| ports.values().find(|p| f(&p.config())).cloned();
        by(&|c| c.label.as_deref() == Some(target)).or_else(|| {
            let n: u16 = target.trim_start_matches("port").parse().ok()?;
            by(&|c| c.number == n)
        })
    }

    /// What `user` may do on `port`, from the running configuration.
    pub async fn access(&self, user: &str, port: &Port) -> Access {
        let grants = port.config().groups;
        let user = user.to_string();
        self.ds
            .call(move |a| aaa::console_access(a.running(), &user, &grants))
            .await
            .unwrap_or(Access::None)
    }

    /// The ports `user` may use, with the access of each.
    pub async fn visible(&self, user: &str) -> Vec<(Arc<Port>, Access)> {
        let ports = self.all();
        let grants: Vec<_> = ports.iter().map(|p| p.config().groups).collect();
        let user = user.to_string();
        let access = self
            .ds
            .call(move |a| {
                grants
                    .iter()
                    .map(|g| aaa::console_access(a.running(), &user, g))
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
        ports
            .into_iter()
            .zip(access)
            .filter(|(_, a)| *a != Access::None)
            .collect()
    }

    pub async fn check_password(&self, user: &str, password: &str) -> bool {
        let (u, p) = (user.to_string(), password.to_string());
        self.ds
            .call(move |a| aaa::check_password(a.running(), &u, &p))
            .await
            .unwrap_or(false)
    }
}
