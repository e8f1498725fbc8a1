//! SNMP's wire format and security (RFC 3412-3416, 3826, 7860): BER, messages,
//! USM keys and ciphers, sealing v3 messages. Shared by the agent (a face) and
//! the power service's SNMP PDU driver (a manager).
pub mod ber;
pub mod message;
pub mod seal;
pub mod security;
pub mod usm;
