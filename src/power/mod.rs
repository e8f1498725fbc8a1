//! Power: PDU outlets switched on, off or cycled and UPSes watched, through
//! Network UPS Tools (`nut`), Powerman (`powerman`) and SNMP-managed PDUs
//! (`snmp_pdu`). Each configured device has a task of its own (`device`) that
//! owns its connection: operations on one device are serialised, on different
//! devices concurrent; a device that stops answering is reconnected with
//! back-off. The service (`service`) applies the configuration, answers the
//! state and runs the outlet actions; `sim` has the demo's simulated devices.
pub mod config;
pub mod device;
pub mod fuzz;
pub mod lines;
pub mod nut;
pub mod powerman;
mod service;
pub mod sim;
pub mod snmp_pdu;
pub mod tls;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};

pub use service::PowerService;

/// A byte stream to a device: TCP, or TLS over it.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Why an exchange with a device failed; each is what the operator is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// The device could not be reached, or the connection broke.
    #[error("device unreachable: {0}")]
    Unreachable(String),
    /// The device did not answer in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The device answered that it will not (a permission, an unknown outlet).
    #[error("refused by the device: {0}")]
    Refused(String),
    /// The device answered something that is not the protocol.
    #[error("the device answered garbage: {0}")]
    Protocol(String),
    /// The request cannot be made as asked (a name no device takes).
    #[error("{0}")]
    Invalid(String),
}

impl From<std::io::Error> for DriverError {
    fn from(e: std::io::Error) -> DriverError {
        DriverError::Unreachable(e.to_string())
    }
}

impl DriverError {
    /// Whether the connection is no use after this (so it is dropped, and the
    /// device counted unreachable).
    pub fn breaks_connection(&self) -> bool {
        matches!(
            self,
            DriverError::Unreachable(_) | DriverError::Timeout(_) | DriverError::Protocol(_)
        )
    }

    /// The rpc-error's error-app-tag.
    pub fn tag(&self) -> &'static str {
        match self {
            DriverError::Unreachable(_) | DriverError::Protocol(_) => "unreachable",
            DriverError::Timeout(_) => "timed-out",
            DriverError::Refused(_) | DriverError::Invalid(_) => "refused",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OutletState {
    On,
    Off,
    #[default]
    Unknown,
}

impl OutletState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutletState::On => "on",
            OutletState::Off => "off",
            OutletState::Unknown => "unknown",
        }
    }
}

/// What to do to an outlet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    On,
    Off,
    Cycle,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::On => "on",
            Op::Off => "off",
            Op::Cycle => "cycle",
        }
    }
}

/// One outlet as the device reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutletReading {
    pub state: OutletState,
    pub switchable: bool,
    pub description: Option<String>,
}

/// A UPS's data as NUT names it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UpsReading {
    /// The status flags (`OL`, `OB LB`, ...).
    pub status: String,
    pub charge: Option<u8>,
    pub runtime: Option<u32>,
    pub load: Option<u16>,
    pub input_voltage: Option<f64>,
    pub output_voltage: Option<f64>,
}

impl UpsReading {
    pub fn has(&self, flag: &str) -> bool {
        self.status.split_whitespace().any(|f| f == flag)
    }
}

/// What one poll of a device found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reading {
    /// By outlet id.
    pub outlets: BTreeMap<String, OutletReading>,
    pub ups: Option<UpsReading>,
}
