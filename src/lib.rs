//! lifeline: a smart out-of-band appliance. One YANG datastore, managed over
//! NETCONF, an SSH CLI and SNMP; services for consoles, power, uplinks and rules.
pub mod aaa;
pub mod appliance;
pub mod datastore;
pub mod events;
pub mod host;
pub mod listen;
pub mod northbound;
pub mod ports;
pub mod power;
pub mod rules;
pub mod schema;
pub mod service;
pub mod shutdown;
pub mod snmp;
pub mod uplinks;
pub mod xml;

/// The seed corpus of fuzz target `name` (`fuzz/corpus/NAME`), for the unit
/// tests that run every target over it.
#[cfg(test)]
pub(crate) fn seed_corpus(name: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(name);
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect()
}
