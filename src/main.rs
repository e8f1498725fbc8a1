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
    let mut sims = Vec::new();
    let mut power = None;
    let (state_dir, factory) = if args.demo {
        let dir = std::env::temp_dir().join(format!("lifeline-demo-{}", std::process::id()));
        // Four simulated routers on pty pairs, on the ports' device paths.
        let ttys = dir.join("tty");
        std::fs::create_dir_all(&ttys)?;
        for n in 1..=4 {
            let link = ttys.join(format!("port0{n}"));
            sims.push(lifeline::ports::sim::Sim::spawn(
                &format!("router{n}"),
                &link,
            )?);
        }
        power = Some(demo_power(&sims).await?);
        let config = DEMO_CONFIG.replace("/run/lifeline-demo", &ttys.display().to_string());
        (dir, config)
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
        plugins: Vec::new(),
        opener: std::sync::Arc::new(lifeline::ports::serial::TtyOpener),
    })
    .await?;
    if args.demo {
        println!("lifeline demo (state in {})", state_dir.display());
        println!("  NETCONF  ssh -p 10830 admin@127.0.0.1 -s netconf   (password admin)");
        println!("  SSH CLI  ssh -p 10022 admin@127.0.0.1");
        println!(
            "  HTTPS    https://127.0.0.1:10443/  web console; RESTCONF at /restconf (admin/admin, self-signed)"
        );
        println!(
            "  SNMP     udp 127.0.0.1:10161                      community public; v3 user admin, SHA/AES, adminadmin"
        );
        println!("  console  ports 1-4 (simulated routers, login cisco/cisco):");
        println!(
            "           ssh -p 10022 admin:port01@127.0.0.1   or  ssh -p 13001 admin@127.0.0.1"
        );
        println!(
            "           telnet 127.0.0.1 12001   raw: nc 127.0.0.1 14001   RFC 2217: rfc2217://127.0.0.1:15001"
        );
        println!("           user operator/operator lands in the port chooser (read-only)");
        println!(
            "  power    PDU pdu1 (powermand on 127.0.0.1:20101): outlet N feeds router N (~p, or"
        );
        println!(
            "           request power device pdu1 outlet t1 cycle); UPS ups1 (upsd on 127.0.0.1:20493)"
        );
        println!("           goes on battery for a minute every 10 minutes");
    }
    // Stop on SIGINT or SIGTERM: sessions are told, and the process is gone
    // within 3 s (every write that matters is already on disk).
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
    appliance
        .shutdown(std::time::Duration::from_millis(2000))
        .await;
    drop(power);
    drop(sims);
    // Tasks still running (sessions that did not end in time) go with the process.
    std::process::exit(0)
}

/// The demo's PDU (outlet tN feeds router N: cycling it reboots the router on
/// its console) and UPS, on fixed loopback ports the demo config names.
async fn demo_power(
    routers: &[lifeline::ports::sim::Sim],
) -> anyhow::Result<(
    lifeline::power::sim::PowermanSim,
    lifeline::power::sim::NutSim,
)> {
    use lifeline::power::sim::{NutSim, PowermanSim};
    let switches: Vec<_> = routers.iter().map(|r| r.power()).collect();
    let plugs: Vec<String> = (1..=routers.len()).map(|n| format!("t{n}")).collect();
    let watch = std::sync::Arc::new(move |plug: &str, on: bool| {
        let n: Option<usize> = plug.strip_prefix('t').and_then(|n| n.parse().ok());
        if let Some(switch) = n.and_then(|n| switches.get(n.wrapping_sub(1))) {
            switch(on);
        }
    });
    let pdu = PowermanSim::start("127.0.0.1:20101".parse()?, &plugs, watch)
        .await
        .context("the demo PDU on 127.0.0.1:20101")?;
    let ups = NutSim::start(
        "127.0.0.1:20493".parse()?,
        "ups1",
        "monitor",
        "monitor",
        std::time::Duration::from_secs(600),
    )
    .await
    .context("the demo UPS on 127.0.0.1:20493")?;
    Ok((pdu, ups))
}
