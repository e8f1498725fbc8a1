//! The management faces: thin translations of protocols into datastore requests.
pub mod cli;
pub mod limits;
pub mod listeners;
pub mod netconf;
pub mod ssh;
