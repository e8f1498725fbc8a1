//! The YANG schema: every module is embedded in the binary and compiled once into one
//! libyang context, which is immutable afterwards and shared as `&'static`.
use std::collections::HashMap;

use yang5::context::{Context, ContextFlags, EmbeddedModuleKey, EmbeddedModules};

include!(concat!(env!("OUT_DIR"), "/embedded_yang.rs"));

/// The modules the appliance implements, with the features it supports.
const IMPLEMENTED: &[(&str, &[&str])] = &[
    (
        "ietf-netconf",
        &[
            "writable-running",
            "candidate",
            "confirmed-commit",
            "rollback-on-error",
            "validate",
            "startup",
            "xpath",
        ],
    ),
    ("ietf-netconf-with-defaults", &[]),
    ("ietf-netconf-monitoring", &[]),
    ("ietf-netconf-notifications", &[]),
    ("ietf-netconf-acm", &[]),
    ("ietf-restconf", &[]),
    ("ietf-restconf-monitoring", &[]),
    ("ietf-system", &["authentication", "local-users"]),
    (
        "iana-crypt-hash",
        &["crypt-hash-md5", "crypt-hash-sha-256", "crypt-hash-sha-512"],
    ),
    ("ietf-interfaces", &["if-mib"]),
    ("iana-if-type", &[]),
    ("ietf-snmp", &[]),
    ("lifeline-types", &[]),
    ("lifeline-system", &[]),
    ("lifeline-aaa", &[]),
    ("lifeline-ports", &[]),
    ("lifeline-power", &[]),
    ("lifeline-uplinks", &[]),
    (
        "ietf-alarms",
        &[
            "operator-actions",
            "alarm-shelving",
            "alarm-history",
            "alarm-summary",
        ],
    ),
    ("lifeline-auto-response", &[]),
    ("lifeline-snmp", &[]),
    ("lifeline-host", &[]),
];

#[derive(Debug, thiserror::Error)]
#[error("YANG schema: {0}")]
pub struct SchemaError(String);

/// An embedded module or submodule, as served by `<get-schema>`.
pub struct ModuleText {
    pub name: &'static str,
    pub revision: Option<&'static str>,
    pub text: &'static str,
}

/// Every embedded module and submodule text.
pub fn embedded() -> impl Iterator<Item = ModuleText> {
    EMBEDDED.iter().map(|(name, revision, _, text)| ModuleText {
        name,
        revision: *revision,
        text,
    })
}

/// Builds the context with every implemented module (plus `extra` test-only modules,
/// given as (name, text)) and leaks it: it lives as long as the process.
pub fn build(extra: &[(String, String)]) -> Result<&'static Context, SchemaError> {
    let mut modules = EmbeddedModules::new();
    for (name, rev, belongs_to, text) in EMBEDDED {
        let key = match belongs_to {
            Some(parent) => EmbeddedModuleKey::new(parent, *rev, Some(name), *rev),
            None => EmbeddedModuleKey::new(name, *rev, None, None),
        };
        modules.insert(key, text);
    }
    let mut extra_names = Vec::new();
    for (name, text) in extra {
        let name: &'static str = Box::leak(name.clone().into_boxed_str());
        let text: &'static str = Box::leak(text.clone().into_boxed_str());
        modules.insert(EmbeddedModuleKey::new(name, None, None, None), text);
        extra_names.push(name);
    }
    let modules: &'static EmbeddedModules = Box::leak(Box::new(modules));

    let mut ctx =
        Context::new(ContextFlags::DISABLE_SEARCHDIRS).map_err(|e| SchemaError(e.to_string()))?;
    ctx.set_embedded_modules(modules);
    let mut load: Vec<(&str, Option<&str>, &[&str])> = IMPLEMENTED
        .iter()
        .map(|(name, features)| (*name, None, *features))
        .collect();
    for name in &extra_names {
        load.push((name, None, &[]));
    }
    ctx.load_modules(&load)
        .map_err(|e| SchemaError(format!("{e} ({:?})", e.path)))?;
    Ok(Box::leak(Box::new(ctx)))
}

/// Namespace -> module name of every module in the context, for the XML faces.
pub fn namespaces(ctx: &Context) -> HashMap<String, String> {
    ctx.modules(false)
        .map(|m| (m.namespace().to_string(), m.name().to_string()))
        .collect()
}

static CONTEXT: std::sync::OnceLock<&'static Context> = std::sync::OnceLock::new();

/// Records the process's context so faces can map module names to namespaces.
pub fn set_global(ctx: &'static Context) {
    let _ = CONTEXT.set(ctx);
}

/// The namespace of a module of the context.
pub fn module_namespace(module: &str) -> Option<String> {
    CONTEXT
        .get()?
        .get_module_latest(module)
        .map(|m| m.namespace().to_string())
}

/// Whether a namespace belongs to a module of the context.
pub fn module_namespace_known(ns: &str) -> bool {
    CONTEXT
        .get()
        .is_some_and(|ctx| ctx.get_module_latest_ns(ns).is_some())
}

/// The module of a namespace.
pub fn module_of_namespace(ns: &str) -> Option<String> {
    CONTEXT
        .get()?
        .get_module_latest_ns(ns)
        .map(|m| m.name().to_string())
}
