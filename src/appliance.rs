//! The composition root: builds the schema, the datastore, the services and the
//! faces, and runs until told to stop.
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;

use crate::datastore::{self, Actor, BootOptions, Handle};
use crate::events::EventBus;
use crate::host::interfaces::Interfaces;
use crate::northbound::listeners::Listeners;
use crate::northbound::netconf::Netconf;
use crate::northbound::snmp::SnmpService;
use crate::northbound::ssh::{self, SshServer};
use crate::ports::serial::Opener;
use crate::ports::{Manager, PortsService};
use crate::service::Service;

/// The built-in factory default configuration.
pub const FACTORY_CONFIG: &str = include_str!("../yang/factory-config.xml");

pub struct Options {
    pub state_dir: PathBuf,
    pub factory: String,
    /// Extra YANG modules (name, text) to load beside the built-in ones.
    pub extra_yang: Vec<(String, String)>,
    /// Test-only services to add (the service API's own tests).
    pub extra_services: Vec<Box<dyn Service>>,
    /// Opens serial devices (tests fake BREAK and modem lines).
    pub opener: Arc<dyn Opener>,
}

pub struct Appliance {
    pub ds: Handle,
    pub ports: Arc<Manager>,
}

impl Appliance {
    pub async fn start(opts: Options) -> anyhow::Result<Appliance> {
        let ctx = crate::schema::build(&opts.extra_yang).context("loading the YANG modules")?;
        crate::schema::set_global(ctx);
        std::fs::create_dir_all(&opts.state_dir)
            .with_context(|| format!("creating {}", opts.state_dir.display()))?;
        let events = EventBus::new(4096);
        let (ds, mailbox) = datastore::channel(ctx, events.clone());
        let key = ssh::host_key(&opts.state_dir).context("SSH host key")?;
        let netconf = Netconf::new(ds.clone());
        let ports = Manager::new(ds.clone(), opts.opener.clone(), &opts.state_dir);
        let ssh = SshServer::new(ds.clone(), netconf, key, ports.clone());
        ports.set_ssh(ssh.clone());
        let rt = tokio::runtime::Handle::current();
        let snmp = SnmpService::new(ds.clone(), &opts.state_dir, rt.clone())
            .context("SNMP engine state")?;
        crate::northbound::snmp::notify::watch_links(snmp.notifier(), ds.clone());
        let mut services: Vec<Box<dyn Service>> = vec![
            Box::new(Listeners::new(ssh, rt.clone())),
            Box::new(PortsService::new(ports.clone(), rt.clone())),
            Box::new(Interfaces::new()),
            Box::new(crate::host::resources::HostResources::new(&rt)),
            Box::new(snmp),
        ];
        services.extend(opts.extra_services);
        let boot = BootOptions {
            state_dir: opts.state_dir.clone(),
            factory: opts.factory,
        };
        let actor = Actor::boot(ctx, boot, events, services).map_err(anyhow::Error::msg)?;
        datastore::run(actor, mailbox, &ds);
        Ok(Appliance { ds, ports })
    }
}
