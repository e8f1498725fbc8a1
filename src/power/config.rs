//! `lifeline-power` as typed values, built by serde with YANG's defaults.
use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Nut {
    pub host: String,
    pub port: u16,
    pub ups: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub starttls: bool,
    #[serde(rename = "ca-certificate")]
    pub ca_certificate: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Version {
    V1,
    V2c,
    V3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthProtocol {
    Md5,
    Sha,
    Sha256,
    Sha512,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrivProtocol {
    Des,
    Aes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    ApcRpdu,
    Generic,
}

/// An OID leaf (`1.3.6...`).
fn oid<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<u32>>, D::Error> {
    let s = String::deserialize(d)?;
    s.split('.')
        .map(|p| p.parse::<u32>())
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
        .map_err(|_| serde::de::Error::custom(format!("{s} is not an object identifier")))
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SnmpPdu {
    pub host: String,
    pub port: u16,
    pub version: Version,
    pub community: String,
    pub user: Option<String>,
    pub context: String,
    #[serde(rename = "auth-protocol")]
    pub auth_protocol: AuthProtocol,
    #[serde(rename = "auth-key")]
    pub auth_key: Option<String>,
    #[serde(rename = "priv-protocol")]
    pub priv_protocol: PrivProtocol,
    #[serde(rename = "priv-key")]
    pub priv_key: Option<String>,
    /// Milliseconds.
    pub timeout: u32,
    pub retries: u8,
    pub profile: Profile,
    #[serde(rename = "outlet-control-oid", default, deserialize_with = "oid")]
    pub control_oid: Option<Vec<u32>>,
    #[serde(rename = "outlet-state-oid", default, deserialize_with = "oid")]
    pub state_oid: Option<Vec<u32>>,
    #[serde(rename = "outlet-name-oid", default, deserialize_with = "oid")]
    pub name_oid: Option<Vec<u32>>,
    /// The generic profile's values (absent for other profiles: `when`).
    #[serde(rename = "on-value")]
    pub on_value: Option<i32>,
    #[serde(rename = "off-value")]
    pub off_value: Option<i32>,
    #[serde(rename = "cycle-value")]
    pub cycle_value: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Powerman {
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Outlet {
    pub id: String,
    pub name: Option<String>,
    /// Overrides the device's cycle delay.
    #[serde(rename = "cycle-delay")]
    pub cycle_delay: Option<u16>,
}

/// How a device is reached.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Driver {
    Nut(Nut),
    SnmpPdu(SnmpPdu),
    Powerman(Powerman),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Device {
    pub name: String,
    pub description: Option<String>,
    pub enabled: bool,
    #[serde(flatten)]
    pub driver: Driver,
    #[serde(rename = "poll-interval")]
    pub poll_interval: u16,
    pub timeout: u16,
    #[serde(rename = "cycle-delay")]
    pub cycle_delay: u16,
    #[serde(default)]
    pub outlet: Vec<Outlet>,
}

impl Device {
    /// How long the appliance keeps `outlet` off in a cycle it times itself.
    pub fn cycle_delay(&self, outlet: &str) -> u16 {
        self.outlet
            .iter()
            .find(|o| o.id == outlet)
            .and_then(|o| o.cycle_delay)
            .unwrap_or(self.cycle_delay)
    }

    pub fn outlets(&self) -> BTreeMap<String, Outlet> {
        self.outlet
            .iter()
            .map(|o| (o.id.clone(), o.clone()))
            .collect()
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Power {
    #[serde(default)]
    device: Vec<Device>,
}

/// The console ports' links to outlets, for the state beside each port.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Link {
    pub device: String,
    pub outlet: String,
}

/// What the power service reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    #[serde(rename = "lifeline-power:power", default)]
    power: Power,
}

impl Config {
    pub fn devices(self) -> Vec<Device> {
        self.power.device
    }
}
