//! The datastore's own live state, served like any service's: the commit
//! history, NACM's counters, netconf-monitoring and the YANG library.
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use yang5::context::Context;
use yang5::data::{DataFormat, DataPrinterFlags};

use super::Shared;
use crate::service::{StatePage, StateProvider, StateQuery};

const HISTORY: &str = "/lifeline-system:commit-history/commit";
const NACM: &str = "/ietf-netconf-acm:nacm";
const MONITORING: &str = "/ietf-netconf-monitoring:netconf-state";
const LIBRARY: &str = "/ietf-yang-library:yang-library";
const MODULES_STATE: &str = "/ietf-yang-library:modules-state";

pub struct DatastoreState {
    shared: Arc<Shared>,
    ctx: &'static Context,
    /// The YANG library never changes while the process runs.
    library: Value,
}

impl DatastoreState {
    pub fn new(ctx: &'static Context, shared: Arc<Shared>) -> DatastoreState {
        DatastoreState {
            shared,
            ctx,
            library: yang_library(ctx),
        }
    }
}

fn one(v: Value) -> StatePage {
    StatePage {
        entries: vec![v],
        next: None,
    }
}

impl StateProvider for DatastoreState {
    fn roots(&self) -> Vec<&'static str> {
        vec![HISTORY, NACM, MONITORING, LIBRARY, MODULES_STATE]
    }

    fn read(&self, q: &StateQuery) -> StatePage {
        match q.root.as_str() {
            HISTORY => {
                let history = self.shared.history.read();
                StatePage::from_sorted(
                    q,
                    history.iter().map(|r| {
                        (
                            vec![r.id.to_string()],
                            json!({
                                "id": r.id,
                                "time": r.time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                                "user": r.user,
                                "face": r.face,
                                "comment": r.comment,
                                "confirmed": r.confirmed,
                            }),
                        )
                    }),
                )
            }
            NACM => {
                let d = &self.shared.denied;
                one(json!({
                    "denied-operations": d.operations.load(Ordering::Relaxed),
                    "denied-data-writes": d.data_writes.load(Ordering::Relaxed),
                    "denied-notifications": d.notifications.load(Ordering::Relaxed),
                }))
            }
            MONITORING => one(self.shared.monitoring.lock().state(self.ctx)),
            LIBRARY | MODULES_STATE => {
                let key = q.root.trim_start_matches('/');
                match self.library.get(key) {
                    Some(v) => one(v.clone()),
                    None => StatePage::default(),
                }
            }
            _ => StatePage::default(),
        }
    }
}

/// The YANG library (RFC 8525) of the context, as JSON.
fn yang_library(ctx: &'static Context) -> Value {
    use yang5::utils::Binding;
    let fmt = std::ffi::CString::new("%u").unwrap();
    let tree = unsafe {
        let mut root = std::ptr::null_mut();
        let rc = yang5::ffi::ly_ctx_get_yanglib_data(
            super::tree::ctx_raw(ctx),
            &mut root,
            fmt.as_ptr(),
            ctx.get_module_set_id() as u32,
        );
        if rc != yang5::ffi::LY_ERR::LY_SUCCESS || root.is_null() {
            tracing::error!("the YANG library could not be built");
            return Value::Null;
        }
        yang5::data::DataTree::from_raw(ctx, root)
    };
    let text = super::tree::print(
        &tree,
        DataFormat::JSON,
        DataPrinterFlags::WITH_SIBLINGS | DataPrinterFlags::SHRINK,
    );
    match text.map(|t| serde_json::from_str(&t)) {
        Ok(Ok(v)) => v,
        _ => {
            tracing::error!("the YANG library did not print");
            Value::Null
        }
    }
}
