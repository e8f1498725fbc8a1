//! Auto-response: rules where what one service notices makes another act, and
//! the alarm list of RFC 8632 that rules and the appliance's own faults raise.
//! - [`engine`]: the rules' conditions, hold-off, escalation, repeats, rate
//!   limits and resolve actions, sans-IO;
//! - [`alarms`]: the alarm list, sans-IO;
//! - [`builtin`]: the faults that are alarms without a rule;
//! - [`checks`]: the checks the service runs itself;
//! - [`actions`]: what an action does, through the datastore where another
//!   service acts;
//! - [`service`]: the task that drives them and persists their state.
pub mod actions;
pub mod alarms;
pub mod builtin;
pub mod checks;
pub mod config;
pub mod email;
pub mod engine;
pub mod service;
pub mod sms;

pub use service::RulesService;

/// A fingerprint of a rule's configuration (its printed form), so a restart
/// or a commit that leaves a rule alone keeps its state.
pub fn fingerprint(text: &str) -> u64 {
    // FNV-1a: stable across runs, unlike the std hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
