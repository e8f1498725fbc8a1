//! SNMP's security levels and models (RFC 3411), shared by the agent's
//! configuration, USM and VACM.
use serde::Deserialize;

/// Security levels, ordered (RFC 3411).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    NoAuthNoPriv = 1,
    AuthNoPriv = 2,
    AuthPriv = 3,
}

/// Security models (RFC 3411): 1 v1, 2 v2c, 3 USM.
pub type Model = u8;
pub const MODEL_V1: Model = 1;
pub const MODEL_V2C: Model = 2;
pub const MODEL_USM: Model = 3;

/// A security model as ietf-snmp names it (an enumeration or a number).
pub fn model(s: &str) -> Option<Model> {
    match s {
        "v1" => Some(MODEL_V1),
        "v2c" => Some(MODEL_V2C),
        "usm" => Some(MODEL_USM),
        "tsm" => Some(4),
        n => n.parse::<i32>().ok().and_then(|n| u8::try_from(n).ok()),
    }
}
