//! NETCONF access control (RFC 8341), enforced by the datastore on every read,
//! write and operation, whichever face the request came through.
use std::collections::HashSet;
use std::ffi::CStr;

use serde::Deserialize;
use yang5::data::{Data, DataNodeRef};
use yang5::schema::SchemaNode;

use crate::datastore::tree::Tree;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Create,
    Read,
    Update,
    Delete,
    Exec,
}

impl Access {
    fn bit(self) -> u8 {
        match self {
            Access::Create => 1,
            Access::Read => 2,
            Access::Update => 4,
            Access::Delete => 8,
            Access::Exec => 16,
        }
    }
}

#[derive(Debug, Clone)]
enum Target {
    Any,
    Rpc(String),
    Notification(String),
    Data(String),
}

#[derive(Debug, Clone)]
struct Rule {
    module: String,
    target: Target,
    ops: u8,
    permit: bool,
}

/// The access rules that apply to one user, compiled from the running `nacm`.
#[derive(Debug, Clone)]
pub struct Policy {
    /// NACM off, or the appliance itself: everything is allowed.
    unrestricted: bool,
    read_default: bool,
    write_default: bool,
    exec_default: bool,
    rules: Vec<Rule>,
}

/// `ietf-netconf-acm:nacm` as configured.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    #[serde(rename = "enable-nacm")]
    enable: bool,
    #[serde(rename = "read-default")]
    read_default: Action,
    #[serde(rename = "write-default")]
    write_default: Action,
    #[serde(rename = "exec-default")]
    exec_default: Action,
    #[serde(default)]
    pub(super) groups: super::Groups,
    #[serde(rename = "rule-list", default)]
    rule_lists: Vec<RuleList>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Action {
    Permit,
    Deny,
}

#[derive(Debug, Clone, Deserialize)]
struct RuleList {
    #[serde(default)]
    group: Vec<String>,
    #[serde(default)]
    rule: Vec<RuleConfig>,
}

#[derive(Debug, Clone, Deserialize)]
struct RuleConfig {
    #[serde(rename = "module-name")]
    module: String,
    path: Option<String>,
    #[serde(rename = "rpc-name")]
    rpc: Option<String>,
    #[serde(rename = "notification-name")]
    notification: Option<String>,
    #[serde(rename = "access-operations", deserialize_with = "operations")]
    ops: u8,
    action: Action,
}

/// `*` or a space-separated set of the bits create, read, update, delete, exec.
fn operations<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let text = String::deserialize(d)?;
    if text.trim() == "*" {
        return Ok(0x1f);
    }
    text.split_whitespace().try_fold(0u8, |acc, o| {
        Ok(acc
            | match o {
                "create" => 1,
                "read" => 2,
                "update" => 4,
                "delete" => 8,
                "exec" => 16,
                other => {
                    return Err(serde::de::Error::custom(format!(
                        "unknown access operation {other}"
                    )));
                }
            })
    })
}

impl Policy {
    /// Everything allowed (NACM disabled or the system acting).
    pub fn unrestricted() -> Policy {
        Policy {
            unrestricted: true,
            read_default: true,
            write_default: true,
            exec_default: true,
            rules: Vec::new(),
        }
    }

    /// The rules of the rule-lists that name one of `groups` (or `*`).
    pub fn new(c: &Config, groups: &[&str]) -> Policy {
        if !c.enable {
            return Policy::unrestricted();
        }
        let mut rules = Vec::new();
        for list in &c.rule_lists {
            if !list
                .group
                .iter()
                .any(|g| g == "*" || groups.contains(&g.as_str()))
            {
                continue;
            }
            for r in &list.rule {
                let target = if let Some(p) = &r.path {
                    Target::Data(p.clone())
                } else if let Some(n) = &r.rpc {
                    Target::Rpc(n.clone())
                } else if let Some(n) = &r.notification {
                    Target::Notification(n.clone())
                } else {
                    Target::Any
                };
                rules.push(Rule {
                    module: r.module.clone(),
                    target,
                    ops: r.ops,
                    permit: r.action == Action::Permit,
                });
            }
        }
        Policy {
            unrestricted: false,
            read_default: c.read_default == Action::Permit,
            write_default: c.write_default == Action::Permit,
            exec_default: c.exec_default == Action::Permit,
            rules,
        }
    }

    pub fn is_unrestricted(&self) -> bool {
        self.unrestricted
    }

    /// Whether `access` is granted on all data without looking at nodes: the
    /// first rule that covers it permits every module (an admin's usual rule).
    pub fn permits_all(&self, access: Access) -> bool {
        if self.unrestricted {
            return true;
        }
        match self.rules.iter().find(|r| r.ops & access.bit() != 0) {
            Some(r) => r.permit && r.module == "*" && matches!(r.target, Target::Any),
            None => false,
        }
    }

    /// May the user run this RPC or action (`module`, `name`)?
    pub fn may_exec(&self, module: &str, name: &str, schema: Option<&SchemaNode<'_>>) -> bool {
        if self.unrestricted || (module == "ietf-netconf" && name == "close-session") {
            return true;
        }
        for r in &self.rules {
            if r.ops & Access::Exec.bit() == 0 || (r.module != "*" && r.module != module) {
                continue;
            }
            match &r.target {
                Target::Any => return r.permit,
                Target::Rpc(n) if n == "*" || n == name => return r.permit,
                _ => {}
            }
        }
        if schema.is_some_and(|s| has_ext(s, "default-deny-all")) {
            return false;
        }
        self.exec_default
    }

    /// May the user receive this notification?
    pub fn may_receive(&self, module: &str, name: &str) -> bool {
        if self.unrestricted {
            return true;
        }
        for r in &self.rules {
            if r.ops & Access::Read.bit() == 0 || (r.module != "*" && r.module != module) {
                continue;
            }
            match &r.target {
                Target::Any => return r.permit,
                Target::Notification(n) if n == "*" || n == name => return r.permit,
                _ => {}
            }
        }
        self.read_default
    }

    /// Decides access to data nodes of one tree; data-path rules are evaluated
    /// once per tree.
    pub fn data_checker<'t>(&'t self, tree: &'t Tree) -> DataChecker<'t> {
        let mut targets = Vec::new();
        if !self.unrestricted {
            for r in &self.rules {
                if let Target::Data(p) = &r.target {
                    let nodes = tree
                        .find_xpath(p)
                        .map(|set| set.map(|n| n.as_raw() as usize).collect())
                        .unwrap_or_default();
                    targets.push(nodes);
                } else {
                    targets.push(HashSet::new());
                }
            }
        }
        DataChecker {
            policy: self,
            targets,
        }
    }
}

pub struct DataChecker<'t> {
    policy: &'t Policy,
    /// Per rule, the nodes its path selects (empty for non-data rules).
    targets: Vec<HashSet<usize>>,
}

impl DataChecker<'_> {
    pub fn allowed(&self, node: &DataNodeRef<'_>, access: Access) -> bool {
        let p = self.policy;
        if p.unrestricted {
            return true;
        }
        let module = node.schema().module().name().to_string();
        for (i, r) in p.rules.iter().enumerate() {
            if r.ops & access.bit() == 0 || (r.module != "*" && r.module != module) {
                continue;
            }
            match &r.target {
                Target::Any => return r.permit,
                Target::Data(_)
                    if node
                        .inclusive_ancestors()
                        .any(|a| self.targets[i].contains(&(a.as_raw() as usize))) =>
                {
                    return r.permit;
                }
                _ => {}
            }
        }
        let schema = node.schema();
        let mut anc = Some(schema);
        while let Some(s) = anc {
            if has_ext(&s, "default-deny-all") {
                return false;
            }
            if access != Access::Read && has_ext(&s, "default-deny-write") {
                return false;
            }
            anc = s.ancestors().next();
        }
        match access {
            Access::Read => p.read_default,
            Access::Exec => p.exec_default,
            _ => p.write_default,
        }
    }

    /// Removes from `tree` every node the user may not read.
    pub fn prune_unreadable(&self, tree: &mut Tree) {
        if self.policy.unrestricted {
            return;
        }
        let mut denied = Vec::new();
        let mut stack: Vec<DataNodeRef<'_>> = crate::datastore::tree::top_nodes(tree).collect();
        while let Some(n) = stack.pop() {
            if self.allowed(&n, Access::Read) {
                stack.extend(n.children());
            } else {
                denied.push(crate::datastore::tree::path(&n));
            }
        }
        for path in denied {
            crate::datastore::tree::remove(tree, &path);
        }
    }
}

/// Whether the schema node carries the `ietf-netconf-acm` extension `name`.
fn has_ext(node: &SchemaNode<'_>, name: &str) -> bool {
    unsafe {
        let raw = node.as_raw();
        let exts = (*raw).exts;
        if exts.is_null() {
            return false;
        }
        let count = *(exts as *const u64).sub(1);
        for i in 0..count as usize {
            let ext = exts.add(i);
            let def = (*ext).def;
            if def.is_null() || (*def).name.is_null() || (*def).module.is_null() {
                continue;
            }
            let ext_name = CStr::from_ptr((*def).name).to_string_lossy();
            let module = CStr::from_ptr((*(*def).module).name).to_string_lossy();
            if ext_name == name && module == "ietf-netconf-acm" {
                return true;
            }
        }
    }
    false
}
