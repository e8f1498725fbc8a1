//! `lifelined`: the lifeline appliance daemon.
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use lifeline::appliance::{Appliance, FACTORY_CONFIG, Options};

/// The demo configuration: loopback only, the standard ports plus 10000.
const DEMO_CONFIG: &str = include_str!("../yang/demo-config.xml");

#[derive(Parser)]
#[command(
    name = "lifelined",
    version,
    about = "lifeline out-of-band appliance daemon"
)]
struct Args {
    /// Directory for the configuration, rollback history and keys.
    #[arg(long, required_unless_present = "demo")]
    state_dir: Option<PathBuf>,
    /// Configuration (XML or JSON instance data) a fresh state dir boots from,
    /// instead of the built-in factory default.
    #[arg(long)]
    factory_config: Option<PathBuf>,
    /// Run the demo: loopback only, state in a temp dir, user admin/admin.
    #[arg(long)]
    demo: bool,
    /// Also load the YANG modules of this directory (development and tests:
    /// the faces pick new modules up with no code).
    #[arg(long)]
    extra_yang: Option<PathBuf>,
}

/// (module name, text) of every `.yang` file of a directory.
fn read_modules(dir: &std::path::Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let Some(stem) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".yang"))
        else {
            continue;
        };
        let name = stem.split('@').next().unwrap_or(stem).to_string();
        out.push((name, std::fs::read_to_string(&path)?));
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let (state_dir, factory) = if args.demo {
        let dir = std::env::temp_dir().join(format!("lifeline-demo-{}", std::process::id()));
        (dir, DEMO_CONFIG.to_string())
    } else {
        let factory = match &args.factory_config {
            Some(p) => {
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
            }
            None => FACTORY_CONFIG.to_string(),
        };
        (args.state_dir.clone().expect("clap requires it"), factory)
    };
    let extra_yang = match &args.extra_yang {
        Some(dir) => read_modules(dir)?,
        None => Vec::new(),
    };
    let appliance = Appliance::start(Options {
        state_dir: state_dir.clone(),
        factory,
        extra_yang,
        extra_services: Vec::new(),
    })
    .await?;
    if args.demo {
        println!("lifeline demo (state in {})", state_dir.display());
        println!("  NETCONF  ssh -p 10830 admin@127.0.0.1 -s netconf   (password admin)");
        println!("  SSH CLI  ssh -p 10022 admin@127.0.0.1");
        println!("  SNMP     udp 127.0.0.1:10161                      (not yet implemented)");
    }
    let _keep = appliance;
    // Stop on SIGINT or SIGTERM; every write that matters is already on disk.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}
