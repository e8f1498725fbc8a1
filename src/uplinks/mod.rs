//! The connection manager: every uplink probed out of its own interface
//! (`probe`, over the `icmp` codec), its health decided by a sans-IO machine
//! (`health`), the uplink that carries the traffic chosen by another
//! (`select`), the kernel's routes and rules made to follow over rtnetlink
//! (`routing`), and a tunnel brought up on failover (`tunnel`). The
//! `manager` task owns all of it; `service` plugs it into the platform.
pub mod config;
pub mod health;
pub mod icmp;
mod manager;
pub mod probe;
pub mod routing;
pub mod select;
mod service;
pub mod tunnel;

pub use service::UplinksService;
