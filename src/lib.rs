//! lifeline: a smart out-of-band appliance. One YANG datastore, managed over
//! NETCONF, an SSH CLI and SNMP; services for consoles, power, uplinks and rules.
pub mod aaa;
pub mod appliance;
pub mod datastore;
pub mod events;
pub mod host;
pub mod northbound;
pub mod ports;
pub mod schema;
pub mod service;
pub mod xml;
