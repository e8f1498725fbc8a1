//! The composition root: builds the schema, the datastore, the services and the
//! faces, and shuts them down.
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::aaa::{Aaa, AaaService};
use crate::datastore::{self, Actor, BootOptions, Handle};
use crate::events::EventBus;
use crate::listen::Listeners;
use crate::northbound::listeners::ManagementService;
use crate::northbound::netconf::Netconf;
use crate::northbound::snmp::SnmpService;
use crate::northbound::ssh::{self, SshServer};
use crate::ports::serial::Opener;
use crate::ports::{Manager, PortsService};
use crate::service::{AnyService, Platform, Registry};
use crate::shutdown::Shutdown;

/// The built-in factory default configuration.
pub const FACTORY_CONFIG: &str = include_str!("../yang/factory-config.xml");

/// Builds services of modules loaded at run time (tests of the platform).
pub type Plugin = Box<dyn FnOnce(&Platform) -> Vec<Box<dyn AnyService>> + Send>;

pub struct Options {
    pub state_dir: PathBuf,
    pub factory: String,
    /// Extra YANG modules (name, text) to load beside the built-in ones.
    pub extra_yang: Vec<(String, String)>,
    /// Test-only services, built with the platform.
    pub plugins: Vec<Plugin>,
    /// Opens serial devices (tests fake BREAK and modem lines).
    pub opener: Arc<dyn Opener>,
}

pub struct Appliance {
    pub ds: Handle,
    pub ports: Arc<Manager>,
    pub listeners: Arc<Listeners>,
    pub platform: Platform,
}

impl Appliance {
    pub async fn start(opts: Options) -> anyhow::Result<Appliance> {
        let ctx = crate::schema::build(&opts.extra_yang).context("loading the YANG modules")?;
        crate::schema::set_global(ctx);
        std::fs::create_dir_all(&opts.state_dir)
            .with_context(|| format!("creating {}", opts.state_dir.display()))?;
        let events = EventBus::new(4096);
        let aaa = Aaa::new();
        let registry = Registry::new();
        let (ds, mailbox) = datastore::channel(ctx, events.clone(), aaa.clone(), registry.clone());
        let rt = tokio::runtime::Handle::current();
        let shutdown = Shutdown::new();
        let listeners = Listeners::new();
        let platform = Platform {
            ds: ds.clone(),
            events: events.clone(),
            registry: registry.clone(),
            rt: rt.clone(),
            shutdown: shutdown.clone(),
        };
        registry.provide(Arc::new(datastore::state::DatastoreState::new(
            ctx,
            ds.shared.clone(),
        )));
        registry.provide(Arc::new(crate::host::interfaces::Interfaces::new()));
        registry.provide(Arc::new(crate::host::resources::HostResources::new(&rt)));
        let key = ssh::host_key(&opts.state_dir).context("SSH host key")?;
        let netconf = Netconf::new(ds.clone(), shutdown.clone());
        let ports = Manager::new(ds.clone(), opts.opener.clone(), &opts.state_dir);
        let ssh = SshServer::new(
            ds.clone(),
            netconf,
            key,
            ports.clone(),
            &listeners,
            shutdown.clone(),
        );
        let https = crate::northbound::https::Https::new(
            ds.clone(),
            ports.clone(),
            &opts.state_dir,
            &listeners,
            shutdown.clone(),
        )
        .context("HTTPS certificate")?;
        registry.provide(Arc::new(
            crate::northbound::https::restconf::sse::Monitoring(Arc::downgrade(&https)),
        ));
        let snmp = SnmpService::new(
            ds.clone(),
            &opts.state_dir,
            rt.clone(),
            listeners.clone(),
            &registry,
        )
        .context("SNMP engine state")?;
        crate::northbound::snmp::notify::watch_links(snmp.notifier(), ds.clone());
        // AAA first: the services after it see the users and groups of the
        // commit they apply.
        let mut services: Vec<Box<dyn AnyService>> = vec![
            Box::new(AaaService::new(aaa)),
            Box::new(ManagementService::new(ssh, https, listeners.clone())),
            Box::new(PortsService::new(
                ports.clone(),
                rt.clone(),
                listeners.clone(),
                &registry,
            )),
            Box::new(crate::power::PowerService::new(
                ds.clone(),
                rt.clone(),
                &registry,
            )),
            Box::new(crate::uplinks::UplinksService::new(
                events.clone(),
                rt.clone(),
                &registry,
            )),
            Box::new(crate::rules::RulesService::new(&platform, &opts.state_dir)),
            Box::new(snmp),
        ];
        for plugin in opts.plugins {
            services.extend(plugin(&platform));
        }
        let boot = BootOptions {
            state_dir: opts.state_dir.clone(),
            factory: opts.factory,
        };
        let actor = Actor::boot(ctx, boot, events, ds.shared.clone(), services)
            .map_err(anyhow::Error::msg)?;
        datastore::run(actor, mailbox, &ds);
        Ok(Appliance {
            ds,
            ports,
            listeners,
            platform,
        })
    }

    /// Stops taking connections, tells every session, lets them end (at most
    /// `grace`), and waits for the datastore to finish what it is doing, so the
    /// startup configuration on disk is whole.
    pub async fn shutdown(&self, grace: Duration) {
        self.listeners.close_all();
        self.ports.shutdown("lifeline is shutting down");
        self.platform.shutdown.begin(grace).await;
        self.ds.flush().await;
    }
}
